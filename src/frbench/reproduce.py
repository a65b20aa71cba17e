"""Repeat a recorded run and say, item by item, what differs from the record.

A run's manifest.json holds its resolved config and what else decides its numbers: package
versions, the deepface engine, sha256 of every weight file the pipeline loads, and hashes of the
dataset's image/pair lists and group labels (``build_manifest`` in run.py records them with the
helpers here). ``reproduce_run`` runs the recorded config again and lists every difference between
the old and new manifests and between the old and new result tables; nothing is skipped silently.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from deepface.commons import backend_utils

from frbench.config import Config, apply_override, validate_config
from frbench.embed.weights import DETECTOR, RECOGNITION, default_weights_dir, requirements
from frbench.errors import ConfigError, OutputError
from frbench.report.files import write_json

if TYPE_CHECKING:
    from frbench.run import RunResult

ABSENT = "absent"
NOT_RECORDED = "(not recorded)"
# Manifest entries that decide a run's numbers; dicts are compared key by key.
COMPARED_ENTRIES = (
    "frbench_version",
    "versions",
    "platform",
    "pipeline.engine",
    "pipeline.fingerprint",
    "weights",
    "dataset.root",
    "dataset.sha256",
    "dataset.labels_sha256",
    "config",
)
# Result tables compared byte for byte with the recorded run's, where the recorded directory has them.
COMPARED_OUTPUTS = (
    "per_group.csv", "fairness.csv", "failure_to_enrol.csv", "thresholds.csv", "fold_accuracy.csv", "scores.csv",
    "accuracy.csv",
)


@dataclass(frozen=True)
class Mismatch:
    """One difference between a recorded run and its repetition: ``item`` is a dotted manifest path."""

    item: str
    recorded: Any
    current: Any

    def __str__(self) -> str:
        if self.recorded == NOT_RECORDED:
            return f"{self.item}: not in the recorded manifest, so not checked (now {self.current})"
        if self.current == NOT_RECORDED:
            return f"{self.item}: recorded {self.recorded}, not recorded now"
        return f"{self.item}: recorded {self.recorded}, now {self.current}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weight_hashes(model: str, detector: str, weights_dir: Path | None = None) -> dict[str, str]:
    """sha256 of each weight file ``model`` and ``detector`` load, by name under the weights directory.

    The files are those of ``frbench.embed.weights.requirements``; a file not present is ``absent``.
    Files a Python package ships and loads from its own folder (OpenCV's Haar cascades, mtcnn's
    weights) are not listed there: their package version in the manifest pins them.
    """
    directory = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    names = dict.fromkeys(
        f.name for kind, name in ((RECOGNITION, model), (DETECTOR, detector)) for f in requirements(kind, name).files
    )
    return {n: file_sha256(directory / n) if (directory / n).is_file() else ABSENT for n in names}


def labels_hash(images: pd.DataFrame, attributes: Sequence[str]) -> str:
    """sha256 of every image's group labels (``image_id`` and the reported attributes, by image_id).

    The dataset hash covers which images and pairs a run used; this one covers how they were
    grouped, which changes with a new label file or skin-tone estimate.
    """
    missing = [c for c in ("image_id", *attributes) if c not in images.columns]
    if missing:
        raise ValueError(f"image table lacks column(s) {missing}")
    table = images[["image_id", *attributes]].astype(str).sort_values("image_id", kind="stable")
    return hashlib.sha256(table.to_csv(index=False, lineterminator="\n").encode()).hexdigest()


def deepface_engine() -> str:
    """The backend engine deepface runs its models on (tensorflow, pytorch or onnx)."""
    return backend_utils.get_backend_engine()


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def _lookup(manifest: Mapping[str, Any], dotted: str) -> Any:
    node: Any = manifest
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return NOT_RECORDED
        node = node[part]
    return node


def manifest_mismatches(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[Mismatch]:
    """Every difference, in ``COMPARED_ENTRIES``, between a recorded manifest and a new one.

    Nested entries are compared leaf by leaf (``versions.numpy``, ``config.model.detector``); a leaf
    present on one side only is a mismatch with ``(not recorded)`` on the other. A recorded config
    that does not hash to the recorded ``config_sha256`` (an edited manifest) is reported too.
    """
    out: list[Mismatch] = []
    config = recorded.get("config")
    if isinstance(config, Mapping) and "config_sha256" in recorded:
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
        if digest != recorded["config_sha256"]:
            out.append(Mismatch("config_sha256", recorded["config_sha256"], f"{digest} (the recorded config was edited)"))
    for entry in COMPARED_ENTRIES:
        old = _flatten(_lookup(recorded, entry), entry)
        new = _flatten(_lookup(current, entry), entry)
        if old == {entry: NOT_RECORDED} and new != old:
            out.append(Mismatch(entry, NOT_RECORDED, "present"))
            continue
        for item in dict.fromkeys([*old, *new]):
            a, b = old.get(item, NOT_RECORDED), new.get(item, NOT_RECORDED)
            if a != b:
                out.append(Mismatch(item, a, b))
    return out


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


def load_recorded_run(manifest_path: str | Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], Config]:
    """The manifest of a finished run and its config (``--set`` overrides applied), validated."""
    path = Path(manifest_path)
    if path.is_dir():
        path = path / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such manifest (a finished run directory holds manifest.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the manifest ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: cannot read the manifest (JSON nested too deeply)") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise ConfigError(f"{path}: not a frbench run manifest (no 'config' mapping)")
    raw = copy.deepcopy(manifest["config"])
    for item in overrides:
        apply_override(raw, item, source=f"{path} config")
    return manifest, validate_config(raw, source=f"{path} config")


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
    # run.py imports this module for the manifest's hashes
    from frbench.run import run_benchmark

    path = Path(manifest_path)
    recorded, config = load_recorded_run(path, overrides)
    recorded_dir = (path if path.is_dir() else path.parent).resolve()
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / f"{config.name}-reproduced"
    if out_dir.resolve() == recorded_dir:
        raise OutputError(f"output directory {out_dir} is the recorded run's own: give another one (-o DIR)")
    result = run_benchmark(config, out_dir=out_dir, data_root=data_root, progress=progress, workers=workers, log=log)
    mismatches = manifest_mismatches(recorded, result.manifest) + output_mismatches(recorded_dir, out_dir)
    result.manifest["reproduction"] = {
        "of": str(recorded_dir / "manifest.json"),
        "identical": not mismatches,
        "mismatches": [asdict(m) for m in mismatches],
    }
    write_json(out_dir / "manifest.json", result.manifest)
    return result, mismatches
