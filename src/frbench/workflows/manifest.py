"""A run's manifest: what decides its numbers, recorded so that two runs can be compared and one repeated.

``build_manifest`` records the resolved config, package versions, the deepface engine, sha256 of every
weight file the pipeline loads, and hashes of the dataset's image/pair lists and group labels.
``load_recorded_run`` reads one back, and ``manifest_mismatches`` lists every difference between two.
"""

from __future__ import annotations

import copy
import hashlib
import json
import platform
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import frbench
from frbench.config import IMPORTED_SCORES, Config, apply_override, validate_config
from frbench.datasets import Dataset
from frbench.embed import EmbedStats
from frbench.embed.backend import Pipeline
from frbench.embed.weight_sources import file_sha256
from frbench.embed.weights import DETECTOR, RECOGNITION, default_weights_dir, requirements
from frbench.errors import ConfigError

SCORE_CONVENTION = {
    "cosine": "similarity = 1 - cosine distance (cosine similarity)",
    "angular": "similarity = 1 - angular distance",
    "euclidean": "similarity = -euclidean distance",
    "euclidean_l2": "similarity = -euclidean distance of L2-normalised embeddings",
}
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

# Every file a run may write, 1:1 and 1:N alike (and ``plots/``, which holds its figures). Before a run
# writes anything, the manifest and all of these go (:func:`clear_outputs`), so that a folder never
# mixes two runs; a run folder holding one its manifest does not list is such a mix.
RUN_OUTPUTS = (
    "per_group.csv", "thresholds.csv", "per_group_thresholds.csv", "fold_accuracy.csv", "failure_to_enrol.csv",
    "failures.csv", "fairness.csv", "scores.csv", "skin_tone_ita.csv", "cell_counts.csv", "det_points.csv",
    "cross_group_fmr.csv", "score_distributions.csv", "group_tests.csv", "accuracy.csv", "skin_tone_sensitivity.csv",
    "label_noise.csv",  # the sensitivity table's name before it became one; an old run's goes too
    "score_shift.csv", "subject_fnmr.csv", "fnmr_decomposition.csv", "rates_vs_threshold.csv", "iso19795_10.csv",
    "eer.csv", "report.md",
    "identification.csv", "searches.csv", "candidates.csv", "cmc.csv", "candidate_groups.csv", "gallery_size.csv",
    "composition.csv", "fpir_prediction_check.csv", "fpir_prediction.csv", "gallery.csv", "probes.csv", "identification.json",
)
PLOTS = "plots"
PLOT_SUFFIX = ".png"


def clear_outputs(out_dir: Path) -> None:
    """Remove what an earlier run left in ``out_dir``: its manifest first (it marks a complete run, so a
    run stopped from here on leaves none beside a mix of tables), then every file of ``RUN_OUTPUTS`` and
    every plot in ``plots/`` (the folder too, once empty). Files a run never writes are left alone."""
    out_dir = Path(out_dir)
    for name in ("manifest.json", *RUN_OUTPUTS):
        (out_dir / name).unlink(missing_ok=True)
    plots = out_dir / PLOTS
    if plots.is_dir() and not plots.is_symlink():
        for path in plots.iterdir():
            if path.suffix == PLOT_SUFFIX and (path.is_file() or path.is_symlink()):
                path.unlink()
        if not any(plots.iterdir()):
            plots.rmdir()


def new_run_id() -> str:
    """A run's id: random, so that two runs (two machines, one folder) never share one."""
    return uuid.uuid4().hex


def record_outputs(manifest: dict[str, Any], out_dir: Path, files: Sequence[str | Path]) -> None:
    """Add ``outputs`` to ``manifest``: sha256 of each file this run wrote (``files``, relative to ``out_dir``
    or absolute inside it), so that a folder holding another run's file is detected (``run_dir_problems``)."""
    out_dir = Path(out_dir)
    outputs = {}
    for f in files:
        path = Path(f) if Path(f).is_absolute() else out_dir / f
        if path.is_file():
            outputs[path.relative_to(out_dir).as_posix()] = file_sha256(path)
    manifest["outputs"] = dict(sorted(outputs.items()))


def run_dir_problems(run_dir: Path, manifest: Mapping[str, Any]) -> list[str] | None:
    """Why the files of ``run_dir`` are not all the ones its manifest's run wrote (empty: they are).

    None when the manifest records no outputs (a run from before run ids were recorded): nothing
    can be checked. A listed file missing or with another sha256, or a run table present that the
    manifest does not list, is a problem: the folder mixes two runs' files, or one was edited.
    """
    outputs = manifest.get("outputs")
    if not isinstance(outputs, Mapping):
        return None
    run = f"run {manifest.get('run_id', '?')}"
    problems = []
    for name, digest in outputs.items():
        path = Path(run_dir) / str(name)
        if not path.is_file():
            problems.append(f"{name}: written by {run} (manifest.json) but missing")
        elif file_sha256(path) != digest:
            problems.append(f"{name}: not the file {run} wrote (sha256 differs from manifest.json: another run's, or edited)")
    for name in RUN_OUTPUTS:
        if name not in outputs and (Path(run_dir) / name).is_file():
            problems.append(f"{name}: not written by {run} (not in manifest.json: another run's)")
    return problems


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


def skin_tone_provenance(images: pd.DataFrame, label_files: Sequence[Path]) -> dict[str, Any]:
    """Where the run's skin tones came from: subjects per source (``annotators``, ``estimator``,
    ``ita``, ``dataset``, ``unknown``) and each annotator file's name, sha256 and who the annotator
    was (:func:`frbench.annotate.sources.annotator_kinds`)."""
    from frbench.annotate.sources import annotator_kinds

    per_subject = images.drop_duplicates("subject_id")["skin_tone_source"].value_counts().sort_index()
    annotators = annotator_kinds(label_files) if label_files else pd.DataFrame(columns=["annotator", "file", "kind"])
    return {
        "subjects_by_source": {str(k): int(v) for k, v in per_subject.items()},
        "annotators": [{"annotator": r.annotator, "kind": r.kind, "file": r.file, "sha256": file_sha256(Path(r.file))}
                       for r in annotators.itertuples()],
    }


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
    from deepface.commons import backend_utils  # here: reading or comparing manifests needs no deepface

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


def build_manifest(
    config: Config,
    dataset: Dataset,
    images: pd.DataFrame,
    pairs: pd.DataFrame | None,
    pair_counts: dict[str, int],
    pipeline: Pipeline | None,
    thresholds: dict[str, float],
    stats: EmbedStats,
    timings: dict[str, float],
    cache_dir: Path,
    attributes: Sequence[str],
) -> dict[str, Any]:
    """Everything needed to tell whether two runs are comparable and to repeat this one.

    ``attributes``: the reported grouping attributes, whose labels are hashed.

    ``pipeline`` is None for imported scores: no model ran, so no weights or engine are recorded.
    """
    if pipeline is None:
        direction = config.model.direction
        running = {"pipeline": {"model": IMPORTED_SCORES, "path": str(config.model.path if config.model.path is not None else config.dataset.scores),
                                "direction": direction}, "weights": {}}
        score = {"metric": None, "convention": f"imported {direction}" + (" negated" if direction == "distance" else ""),
                 "match_rule": "similarity >= threshold"}
    else:
        running = {
            "pipeline": {**pipeline.__dict__, "engine": deepface_engine(), "fingerprint": pipeline.fingerprint()},
            "weights": weight_hashes(pipeline.model, pipeline.detector),
        }
        score = {
            "metric": config.model.distance_metric,
            "convention": SCORE_CONVENTION[config.model.distance_metric],
            "match_rule": "similarity >= threshold",
        }
    return {
        "frbench_version": frbench.__version__,
        "config": config.model_dump(mode="json"),
        "config_sha256": config.fingerprint(),
        "dataset": {
            "name": dataset.name,
            "root": str(dataset.root),
            "n_images": int(len(images)),
            "n_subjects": int(images["subject_id"].nunique()),
            "protocol": config.pairs.protocol,
            **pair_counts,
            "sha256": _dataset_hash(images, pairs),
            "labels_sha256": labels_hash(images, attributes),
            "label_sources": dataset.label_sources,
            **({"skin_tone": skin_tone_provenance(images, config.annotate.skin_tone_labels)}
               if "skin_tone_source" in images.columns else {}),
            "labels_not_on_disk": dataset.labels_not_on_disk,
            "caveats": dataset.caveats,
        },
        **running,
        "score": score,
        "thresholds": thresholds,
        "embedding": {**stats.__dict__, "cache_dir": str(cache_dir)},
        "timings_s": timings,
        "versions": _versions(),
        "platform": {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()},
    }


def _dataset_hash(images: pd.DataFrame, pairs: pd.DataFrame | None) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(images[["image_id", "subject_id"]].to_csv(index=False).encode())
    if pairs is not None:
        h.update(pairs[["image_a", "image_b", "mated"]].to_csv(index=False).encode())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("deepface", "numpy", "pandas", "scipy", "opencv-contrib-python-headless", "dlib-bin", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


