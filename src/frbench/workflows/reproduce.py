"""Repeat a recorded run and say, item by item, what differs from the record.

A run's manifest.json holds its resolved config and what else decides its numbers: package
versions, the deepface engine, sha256 of every weight file the pipeline loads, and hashes of the
dataset's image/pair lists and group labels (``frbench.workflows.manifest`` records them). ``reproduce_run`` runs the recorded
config again and lists every difference between the old and new manifests and between the old and new result tables; nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from frbench.embed.weight_sources import file_sha256
from frbench.errors import DatasetError, OutputError
from frbench.io.atomic import write_json
from frbench.report.output_dir import check_output_dir, output_lock, writer_of
from frbench.workflows.manifest import Mismatch, load_recorded_run, manifest_mismatches, run_dir_problems
from frbench.workflows import run as run_module
from frbench.workflows.run import RunResult

# Result tables compared byte for byte with the recorded run's, where the recorded directory has them.
COMPARED_OUTPUTS = (
    "per_group.csv", "fairness.csv", "failure_to_enrol.csv", "thresholds.csv", "fold_accuracy.csv", "scores.csv",
    "accuracy.csv", "group_tests.csv",
)


def output_mismatches(recorded_dir: Path, new_dir: Path) -> list[Mismatch]:
    """Result tables of the recorded run that the new run did not reproduce byte for byte."""
    present = [n for n in COMPARED_OUTPUTS if (recorded_dir / n).is_file()]
    if not present:
        return [Mismatch("outputs", f"no result tables in {recorded_dir}", "nothing to compare them with")]
    out = []
    for name in present:
        new = new_dir / name
        if not new.is_file():
            out.append(Mismatch(f"outputs.{name}", "written", "not written"))
        else:
            old_hash, new_hash = file_sha256(recorded_dir / name), file_sha256(new)
            if old_hash != new_hash:
                out.append(Mismatch(f"outputs.{name}", f"sha256 {old_hash}", f"sha256 {new_hash}"))
    return out


def reproduce_run(
    manifest_path: str | Path,
    out_dir: Path | None = None,
    overrides: Sequence[str] = (),
    data_root: Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> tuple[RunResult, list[Mismatch]]:
    """Run a recorded run's config again; return the new RunResult and every mismatch.

    ``out_dir`` defaults to ``runs/<name>-reproduced`` and may not be the recorded run's own
    directory (the record would be overwritten). The new manifest gains a ``reproduction`` section:
    the recorded manifest's path, the mismatches (manifest entries and result tables) and
    ``identical``, true when there are none.
    """
    path = Path(manifest_path)
    recorded, config = load_recorded_run(path, overrides)
    recorded_dir = (path if path.is_dir() else path.parent).resolve()
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / f"{config.name}-reproduced"
    if out_dir.resolve() == recorded_dir:
        raise OutputError(f"output directory {out_dir} is the recorded run's own: give another one (-o DIR)")
    check_recorded_run(recorded_dir, recorded)
    check_output_dir(out_dir)
    # one lock from the run to the manifest's rewrite: no other run writes between them
    with output_lock(out_dir):
        # looked up at call time (a test may stand in for it)
        result = run_module.run_benchmark(config, out_dir=out_dir, data_root=data_root, progress=progress, workers=workers,
                               log=log)
        mismatches = manifest_mismatches(recorded, result.manifest) + output_mismatches(recorded_dir, out_dir)
        result.manifest["reproduction"] = {
            "of": str(recorded_dir / "manifest.json"),
            "identical": not mismatches,
            "mismatches": [asdict(m) for m in mismatches],
        }
        write_json(out_dir / "manifest.json", result.manifest)
    return result, mismatches


def check_recorded_run(recorded_dir: Path, recorded: dict) -> None:
    """Refuse a recorded run that is being written now, or whose folder mixes files of several runs."""
    writer = writer_of(recorded_dir)
    if writer is not None:
        raise OutputError(f"{recorded_dir} is being written by a run now ({writer}): wait for it to finish")
    problems = run_dir_problems(recorded_dir, recorded)
    if problems:
        raise DatasetError("\n".join(f"{recorded_dir}: {p}" for p in problems))
