"""One benchmark run end to end: dataset -> pairs -> embeddings -> scores -> thresholds -> tables.

``run_benchmark`` is what ``frbench run`` calls; every stage is a function of its own module, so
this file only wires them together and records what was done in the manifest.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import frbench
from frbench.config import Config, config_errors_named
from frbench.datasets import Dataset, load_dataset
from frbench.datasets.registry import default_data_root
from frbench.embed import Embeddings, EmbedStats, embed_images
from frbench.embed.backend import ALL_BEST, Pipeline
from frbench.embed.weights import ensure_weights
from frbench.annotate.apply import apply_annotations
from frbench.duplicates import copies_caveat, identical_embeddings
from frbench.errors import ConfigError, DatasetError
from frbench.imported_scores import import_scores
from frbench.measure import measure
from frbench.measure_exhaustive import measure_exhaustive
from frbench.output_dir import check_output_dir
from frbench.metrics.accuracy import accuracy_table
from frbench.metrics.grouped import attribute_names, failure_to_enrol
from frbench.pairs import generated_pairs
from frbench.report.figures import pair_figure_tables, write_figures
from frbench.report.files import write_csv, write_json, write_text
from frbench.report.plots import plot_ita_histogram
from frbench.report.markdown import render_report
from frbench.reproduce import deepface_engine, labels_hash, weight_hashes
from frbench.multiple_faces import best_face_similarities
from frbench.scoring import pair_similarities
from frbench.tables import OK, validate_image_table, validate_pair_table

SCORE_CONVENTION = {
    "cosine": "similarity = 1 - cosine distance (cosine similarity)",
    "angular": "similarity = 1 - angular distance",
    "euclidean": "similarity = -euclidean distance",
    "euclidean_l2": "similarity = -euclidean distance of L2-normalised embeddings",
}
# Columns annotate: {skin_tone: ...} adds (frbench.annotate.skin_tone.annotate_skin_tone).
ANNOTATION_COLUMNS = ("skin_tone", "skin_tone_category")
# Every table a run may write; a rerun into the same directory removes them all first, so that
# none of an earlier run's is left beside this run's manifest.
RUN_TABLES = (
    "per_group.csv", "thresholds.csv", "per_group_thresholds.csv", "fold_accuracy.csv", "failure_to_enrol.csv",
    "failures.csv", "fairness.csv", "scores.csv", "skin_tone_ita.csv", "cell_counts.csv", "det_points.csv",
    "cross_group_fmr.csv", "score_distributions.csv", "accuracy.csv", "report.md",
)


@dataclass
class RunResult:
    """What a run produced; the same tables are on disk in ``out_dir``."""

    out_dir: Path
    per_group: pd.DataFrame
    scores: pd.DataFrame
    thresholds: dict[str, float]
    failure_to_enrol: pd.DataFrame
    fairness: pd.DataFrame
    embed_stats: EmbedStats
    manifest: dict[str, Any] = field(default_factory=dict)
    accuracy: pd.DataFrame | None = None
    fold_accuracy: pd.DataFrame | None = None


def default_cache_dir() -> Path:
    """``$FRBENCH_CACHE``, else the platform's user cache directory for frbench."""
    env = os.environ.get("FRBENCH_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("frbench"))


def reported_attributes(config: Config) -> list[str]:
    """Attributes named by ``groups`` and ``intersections``, in first-mention order."""
    names = list(config.groups)
    for combo in config.intersections:
        names.extend(a for a in combo if a not in names)
    return list(dict.fromkeys(names))


def check_attributes(
    config: Config, images: pd.DataFrame, dataset_name: str, still_to_come: Sequence[str] = ()
) -> None:
    """Every grouping attribute must exist in the (annotated) images, before any embedding starts.

    ``still_to_come``: columns an annotation will add, not checked yet (so that the rest is checked
    before the annotation's work).
    """
    available = [c for c in images.columns if c not in ("image_id", "path", "subject_id")]
    for name in reported_attributes(config):
        if name not in images.columns and name not in still_to_come:
            hint = " (add annotate: {skin_tone: ita} to estimate it)" if name == "skin_tone" else ""
            raise ConfigError(
                f"groups: '{name}' is not an attribute of dataset '{dataset_name}'{hint} "
                f"(it has: {', '.join(a for a in available if not a.endswith('_source')) or 'none'})"
            )


def scored_pairs(
    pairs: pd.DataFrame, images: pd.DataFrame, embeddings: Embeddings, metric: str, attributes: list[str]
) -> pd.DataFrame:
    """One row per pair: sides, mated, fold, ``ok`` (both embedded), similarity and side attributes."""
    row = pd.Series(np.arange(len(embeddings.image_ids)), index=embeddings.image_ids)
    ia = row.loc[pairs["image_a"]].to_numpy()
    ib = row.loc[pairs["image_b"]].to_numpy()
    status = embeddings.status.loc[embeddings.image_ids].to_numpy()
    ok = (status[ia] == OK) & (status[ib] == OK)
    score = np.full(len(pairs), np.nan)
    if ok.any() and embeddings.faces is not None:
        faces = embeddings.faces
        score[ok] = best_face_similarities([faces[i] for i in ia[ok]], [faces[i] for i in ib[ok]], metric)
    elif ok.any():
        score[ok] = pair_similarities(embeddings.matrix[ia[ok]], embeddings.matrix[ib[ok]], metric)
    out = pairs[["image_a", "image_b", "mated"] + (["fold"] if "fold" in pairs else [])].copy()
    out["ok"] = ok
    out["score"] = score
    return join_sides(out, images, attributes)


def join_sides(pairs: pd.DataFrame, images: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """Add ``subject_a/b`` and ``<attr>_a/b`` from the ImageTable to a scored pair table."""
    out = pairs.copy()
    info = images.set_index("image_id")
    for side, col in (("a", "image_a"), ("b", "image_b")):
        out[f"subject_{side}"] = info.loc[out[col], "subject_id"].to_numpy()
        for attr in attributes:
            out[f"{attr}_{side}"] = info.loc[out[col], attr].to_numpy()
    return out.reset_index(drop=True)


def run_benchmark(
    config: Config,
    out_dir: Path | None = None,
    data_root: Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> RunResult:
    """Run one config end to end and write its tables to ``out_dir`` (default ``runs/<name>``).

    Every ConfigError it raises names the config's file (``config.source``) first.
    """
    with config_errors_named(config.source):
        return _run_benchmark(config, out_dir, data_root, progress, workers, log)


def _run_benchmark(
    config: Config,
    out_dir: Path | None,
    data_root: Path | None,
    progress: bool,
    workers: int | None,
    log: Callable[[str], None],
) -> RunResult:
    started = time.time()
    timings: dict[str, float] = {}
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / config.name
    _check_writable(out_dir)
    cache_dir = Path(config.cache.dir) if config.cache.dir is not None else default_cache_dir()
    n_workers = workers if workers is not None else config.execution.workers
    pipeline = pipeline_from_config(config) if config.model.name != "scores" else None
    if pipeline is not None:
        # before the dataset is read: absent weights (offline) or packages stop the run at once
        ensure_weights(pipeline.model, pipeline.detector, config.offline)

    t = time.perf_counter()
    dataset = load_dataset(config.dataset, data_root if data_root is not None else default_data_root())
    images, pairs = select(config, dataset)
    timings["load_dataset_s"] = time.perf_counter() - t
    if config.annotate.skin_tone is not None:
        check_attributes(config, images, dataset.name, still_to_come=ANNOTATION_COLUMNS)
        t = time.perf_counter()
        # A subject's tone is the median over all its images in the dataset, not only those in pairs.
        subjects = dataset.images[dataset.images["subject_id"].isin(set(images["subject_id"]))]
        annotated, ita_table = apply_annotations(
            config.annotate, subjects, cache_dir, workers=n_workers or 1, progress=progress,
            max_pixels=config.dataset.max_pixels,
        )
        images = images.drop(columns=[c for c in annotated.columns if c in images.columns and c not in ("image_id",)]
                             ).merge(annotated, on="image_id", how="left", validate="one_to_one")
        timings["annotate_s"] = time.perf_counter() - t
    else:
        ita_table = None
    check_attributes(config, images, dataset.name)
    attributes = reported_attributes(config)
    images = validate_image_table(images, attributes)
    if pairs is not None:
        pairs = validate_pair_table(pairs, images["image_id"])
    log(
        f"{dataset.name}: {len(images)} images of {images['subject_id'].nunique()} subjects, "
        + (f"{len(pairs)} pairs" if pairs is not None else "all pairs (exhaustive)")
    )

    t = time.perf_counter()
    names = attribute_names(config.groups, config.intersections)
    extra: dict[str, Any] = {}
    if config.model.name == "scores":
        imported = import_scores(Path(str(config.model.path)), images, pairs, config.model.direction)
        scores = join_sides(imported.pairs, images, attributes)
        measures = measure(config, scores)
        status = pd.Series(OK, index=images["image_id"])
        detail = pd.Series("", index=images["image_id"])
        stats = EmbedStats(n_images=len(images), n_cached=0, n_computed=0, n_failed=0, seconds=0.0,
                           executor="none (imported scores)", workers=0)
        extra["imported_scores"] = imported.summary()
        pair_counts = {"n_pairs": len(scores), "n_mated": int(scores["mated"].sum()),
                       "n_nonmated": int((~scores["mated"]).sum())}
    else:
        embeddings, stats = embed_images(
            images,
            pipeline,
            cache_dir=cache_dir,
            executor=config.execution.executor,
            workers=n_workers,
            progress=progress,
            offline=config.offline,
            scheduler=config.execution.scheduler,
            max_pixels=config.dataset.max_pixels,
        )
        timings["embed_s"] = time.perf_counter() - t
        t = time.perf_counter()
        status, detail = embeddings.status, embeddings.detail
        copies = copies_caveat(identical_embeddings(embeddings.image_ids, embeddings.matrix, status), pairs)
        if copies is not None:
            dataset = dataclasses.replace(dataset, caveats=[*dataset.caveats, copies])
        if pairs is None:
            measures = measure_exhaustive(config, images, _rows_for(embeddings, images["image_id"]), status)
            scores = measures.mated
            n_all = len(images) * (len(images) - 1) // 2
            pair_counts = {"n_pairs": n_all, "n_mated": len(scores), "n_nonmated": n_all - len(scores)}
        else:
            scores = scored_pairs(pairs, images, embeddings, config.model.distance_metric, attributes)
            measures = measure(config, scores)
            pair_counts = {"n_pairs": len(pairs), "n_mated": int(pairs["mated"].sum()),
                           "n_nonmated": int((~pairs["mated"]).sum())}
    # Listed pairs keep every score, so the optimistic best-threshold accuracy can be found; the
    # exhaustive protocol keeps non-mated counts only.
    measures.accuracy = accuracy_table(measures.per_group, scores if pairs is not None else None)
    fte = failure_to_enrol(images, status, config.groups, config.intersections, level=config.stats.confidence_level)
    timings["measure_s"] = time.perf_counter() - t

    failures = pd.DataFrame(
        {"image_id": images["image_id"], "status": status.loc[images["image_id"]].to_numpy(),
         "detail": detail.loc[images["image_id"]].to_numpy()}
    )
    failures = failures[failures["status"] != OK].reset_index(drop=True)
    manifest = build_manifest(
        config, dataset, images, pairs, pair_counts, pipeline, measures.thresholds, stats, timings, cache_dir
    )
    manifest.update(extra)

    out_dir.mkdir(parents=True, exist_ok=True)
    # The manifest marks a complete run: an earlier run's goes first, with its tables, so that a
    # run stopped while writing leaves no manifest beside a mix of old and new tables.
    for name in ("manifest.json", *RUN_TABLES):
        (out_dir / name).unlink(missing_ok=True)
    write_csv(out_dir / "per_group.csv", measures.per_group)
    write_csv(out_dir / "thresholds.csv", measures.threshold_table)
    if measures.per_group_thresholds is not None:
        write_csv(out_dir / "per_group_thresholds.csv", measures.per_group_thresholds)
    if measures.fold_accuracy is not None:
        write_csv(out_dir / "fold_accuracy.csv", measures.fold_accuracy)
    write_csv(out_dir / "accuracy.csv", measures.accuracy)
    write_csv(out_dir / "failure_to_enrol.csv", fte)
    write_csv(out_dir / "failures.csv", failures)
    write_csv(out_dir / "fairness.csv", measures.fairness)
    write_csv(out_dir / "scores.csv", scores_table(scores, attributes))
    if ita_table is not None:
        write_csv(out_dir / "skin_tone_ita.csv", ita_table)
    t = time.perf_counter()
    if pairs is None:
        write_csv(out_dir / "cell_counts.csv", measures.cells)
        figures = write_figures(out_dir, names, measures.thresholds, measures.det, measures.cross_group)
    else:
        det, hist, cross = pair_figure_tables(scores, names, measures.thresholds, config.stats.confidence_level)
        figures = write_figures(out_dir, names, measures.thresholds, det, cross, hist)
    if ita_table is not None:
        figures["skin_tone"] = [plot_ita_histogram(images, out_dir / "plots" / "ita_histogram.png")]
    timings["figures_s"] = time.perf_counter() - t
    write_text(
        out_dir / "report.md",
        render_report(config, dataset, images, pair_counts, measures, fte, failures, manifest, figures),
    )
    timings["total_s"] = time.time() - started
    # The manifest goes last: its presence marks a complete run directory.
    write_json(out_dir / "manifest.json", manifest)
    return RunResult(
        out_dir, measures.per_group, scores, measures.thresholds, fte, measures.fairness, stats, manifest,
        accuracy=measures.accuracy, fold_accuracy=measures.fold_accuracy,
    )


def pipeline_from_config(config: Config) -> Pipeline:
    m = config.model
    return Pipeline(
        model=m.name,
        detector=m.detector,
        align=m.align,
        normalization=m.normalization,
        expand_percentage=m.expand_percentage,
        enforce_detection=m.enforce_detection,
        l2_normalize=m.l2_normalize,
        multiple_faces=m.multiple_faces,
    )


def select(config: Config, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The images to embed and the pairs to score under the config's pair protocol.

    ``file`` and ``generated`` return a PairTable and only the images it names; ``exhaustive``
    returns every image and no PairTable (all pairs are scored by blocks).
    """
    protocol = config.pairs
    if config.model.name == "scores":
        if protocol.protocol != "file":
            raise ConfigError("imported scores (model.name: scores) score listed pairs: set pairs.protocol: file")
        # Without a pair list in the dataset, the scores file itself lists the pairs.
        return dataset.images.reset_index(drop=True), dataset.pairs
    if protocol.protocol == "exhaustive":
        if config.model.multiple_faces == ALL_BEST:
            raise ConfigError(
                "model.multiple_faces: all-best scores a pair as its closest two faces, which the exhaustive "
                "protocol's blockwise scoring of one embedding per image does not do: use largest or fail"
            )
        return dataset.images.reset_index(drop=True), None
    if protocol.protocol == "generated":
        missing = [a for a in protocol.match_on if a not in dataset.images.columns]
        if missing:
            raise ConfigError(f"pairs.match_on: {missing} not attributes of dataset '{dataset.name}'")
        pairs = generated_pairs(
            dataset.images, protocol.n_nonmated, protocol.mated_per_subject, protocol.match_on, protocol.seed
        )
    elif dataset.pairs is None:
        raise DatasetError(
            f"dataset '{dataset.name}' has no pair list: use pairs.protocol generated or exhaustive"
        )
    else:
        pairs = dataset.pairs
    used = set(pd.unique(pd.concat([pairs["image_a"], pairs["image_b"]])))
    return dataset.images[dataset.images["image_id"].isin(used)].reset_index(drop=True), pairs


def _rows_for(embeddings: Embeddings, image_ids: pd.Series) -> np.ndarray:
    row = pd.Series(np.arange(len(embeddings.image_ids)), index=embeddings.image_ids)
    return embeddings.matrix[row.loc[image_ids].to_numpy()]


def scores_table(scores: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """The public ``scores.csv`` columns: sides, mated, fold, score, then side attributes."""
    cols = ["image_a", "image_b", "mated"] + (["fold"] if "fold" in scores else []) + ["score"]
    for attr in attributes:
        cols += [f"{attr}_a", f"{attr}_b"]
    return scores[cols]


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
) -> dict[str, Any]:
    """Everything needed to tell whether two runs are comparable and to repeat this one.

    ``pipeline`` is None for imported scores: no model ran, so no weights or engine are recorded.
    """
    if pipeline is None:
        direction = config.model.direction
        running = {"pipeline": {"model": "scores", "path": str(config.model.path), "direction": direction}, "weights": {}}
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
            "labels_sha256": labels_hash(images, reported_attributes(config)),
            "label_sources": dataset.label_sources,
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


def _check_writable(out_dir: Path) -> None:
    """Fail before any work when the output directory cannot be created or written."""
    check_output_dir(out_dir)
