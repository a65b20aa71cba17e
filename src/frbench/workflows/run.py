"""One benchmark run end to end: dataset -> pairs -> embeddings -> scores -> thresholds -> tables.

``run_benchmark`` is what ``frbench run`` calls; every stage is a function of its own module, so
this file only wires them together and records what was done in the manifest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from frbench.annotate.apply import apply_annotations
from frbench.config import Config, config_errors_named
from frbench.datasets import load_dataset
from frbench.datasets.registry import resolve_data_root
from frbench.embed import EmbedStats, embed_images
from frbench.embed.backend import Pipeline
from frbench.embed.cache import resolve_cache_dir
from frbench.embed.duplicates import copies_caveat, identical_embeddings
from frbench.embed.weights import ensure_weights
from frbench.errors import ConfigError
from frbench.groups import Groups
from frbench.measure.operating_points import eer_table
from frbench.measure.result import Measures
from frbench.measure.protocols import ExhaustivePairs, IdentificationSearch, protocol_for, scores_table
from frbench.metrics.fairness import fte_differentials
from frbench.metrics.grouped import failure_to_enrol
from frbench.report.figures import write_figures
from frbench.scoring.similarity import distance_from_similarity
from frbench.report.files import write_csv, write_json, write_text
from frbench.report.markdown import render_report
from frbench.report.output_dir import check_output_dir
from frbench.report.plots import plot_ita_histogram
from frbench.tables import OK, validate_image_table, validate_pair_table
from frbench.workflows.identify import write_identification_run
from frbench.workflows.manifest import build_manifest

# Columns annotate: {skin_tone: ...} adds (frbench.annotate.skin_tone.annotate_skin_tone).
ANNOTATION_COLUMNS = ("skin_tone", "skin_tone_category")
# Every table a run may write; a rerun into the same directory removes them all first, so that
# none of an earlier run's is left beside this run's manifest.
RUN_TABLES = (
    "per_group.csv", "thresholds.csv", "per_group_thresholds.csv", "fold_accuracy.csv", "failure_to_enrol.csv",
    "failures.csv", "fairness.csv", "scores.csv", "skin_tone_ita.csv", "cell_counts.csv", "det_points.csv",
    "cross_group_fmr.csv", "score_distributions.csv", "group_tests.csv", "accuracy.csv", "label_noise.csv", "report.md",
    "eer.csv",
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
    eer: pd.DataFrame | None = None
    # the measured tables behind every plot (None for identification runs)
    measures: Measures | None = None
    groups: Groups | None = None


def groups_of(config: Config) -> Groups:
    """The groups a config reports: its ``groups`` and ``intersections``."""
    return Groups.of(config.groups, config.intersections)


def check_attributes(
    config: Config, images: pd.DataFrame, dataset_name: str, still_to_come: Sequence[str] = ()
) -> None:
    """Every grouping attribute must exist in the (annotated) images, before any embedding starts.

    ``still_to_come``: columns an annotation will add, not checked yet (so that the rest is checked
    before the annotation's work).
    """
    available = [c for c in images.columns if c not in ("image_id", "path", "subject_id")]
    for name in groups_of(config).columns:
        if name not in images.columns and name not in still_to_come:
            hint = " (add annotate: {skin_tone: ita} to estimate it)" if name == "skin_tone" else ""
            raise ConfigError(
                f"groups: '{name}' is not an attribute of dataset '{dataset_name}'{hint} "
                f"(it has: {', '.join(a for a in available if not a.endswith('_source')) or 'none'})"
            )


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
    check_output_dir(out_dir)
    cache_dir = resolve_cache_dir(config.cache.dir)
    n_workers = workers if workers is not None else config.execution.workers
    protocol = protocol_for(config)
    pipeline = pipeline_from_config(config) if protocol.embeds else None
    if pipeline is not None:
        # before the dataset is read: absent weights (offline) or packages stop the run at once
        ensure_weights(pipeline.model, pipeline.detector, config.offline, log=log)

    t = time.perf_counter()
    dataset = load_dataset(config.dataset, resolve_data_root(data_root))
    images, pairs = protocol.select(config, dataset)
    timings["load_dataset_s"] = time.perf_counter() - t
    if config.annotate.skin_tone is not None or config.annotate.skin_tone_labels:
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
    groups = groups_of(config)
    images = validate_image_table(images, groups.columns)
    if pairs is not None:
        pairs = validate_pair_table(pairs, images["image_id"])
    log(
        f"{dataset.name}: {len(images)} images of {images['subject_id'].nunique()} subjects, "
        + (f"{len(pairs)} pairs" if pairs is not None else "all pairs (exhaustive)")
    )

    t = time.perf_counter()
    if protocol.embeds:
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
        copies = copies_caveat(identical_embeddings(embeddings.image_ids, embeddings.matrix, embeddings.status), pairs)
        if copies is not None:
            dataset = dataclasses.replace(dataset, caveats=[*dataset.caveats, copies])
    else:
        embeddings = None
        stats = EmbedStats(n_images=len(images), n_cached=0, n_computed=0, n_failed=0, seconds=0.0,
                           executor="none (imported scores)", workers=0)
    evaluation = protocol.evaluate(config, images, pairs, embeddings, groups)
    if protocol.kind == IdentificationSearch.kind:
        # one-to-many search: its own tables (the same per-group engine), not the 1:1 ones
        return _finish_identification(config, dataset, images, embeddings, evaluation, groups, pipeline, stats,
                                      timings, cache_dir, out_dir, started)
    measures, scores, status, detail = evaluation.measures, evaluation.scores, evaluation.status, evaluation.detail
    fte = failure_to_enrol(images, status, groups, level=config.stats.confidence_level)
    if groups.names:
        # enrolment fails before any threshold: its differentials sit beside the rate summaries
        differentials = fte_differentials(fte, min_subjects=config.stats.min_group_subjects)
        measures.fairness = pd.concat([measures.fairness, differentials], ignore_index=True)
    timings["measure_s"] = time.perf_counter() - t

    failures = _failures(images, status, detail)
    manifest = build_manifest(
        config, dataset, images, pairs, evaluation.pair_counts, pipeline, measures.thresholds, stats, timings,
        cache_dir, groups.columns,
    )
    manifest.update(evaluation.extra)

    out_dir.mkdir(parents=True, exist_ok=True)
    # The manifest marks a complete run: an earlier run's goes first, with its tables, so that a
    # run stopped while writing leaves no manifest beside a mix of old and new tables.
    for name in ("manifest.json", *RUN_TABLES):
        (out_dir / name).unlink(missing_ok=True)
    write_csv(out_dir / "per_group.csv", measures.per_group)
    write_csv(out_dir / "thresholds.csv", with_distance(measures.threshold_table, "threshold", pipeline, config))
    if measures.per_group_thresholds is not None:
        write_csv(out_dir / "per_group_thresholds.csv", measures.per_group_thresholds)
    if measures.fold_accuracy is not None:
        write_csv(out_dir / "fold_accuracy.csv", measures.fold_accuracy)
    write_csv(out_dir / "accuracy.csv", measures.accuracy)
    write_csv(out_dir / "failure_to_enrol.csv", fte)
    write_csv(out_dir / "failures.csv", failures)
    write_csv(out_dir / "fairness.csv", measures.fairness)
    if measures.group_tests is not None:
        write_csv(out_dir / "group_tests.csv", measures.group_tests)
    if measures.label_noise is not None:
        write_csv(out_dir / "label_noise.csv", measures.label_noise)
    write_csv(out_dir / "scores.csv", with_distance(scores_table(scores, groups, measures.thresholds), "score", pipeline,
                                                    config))
    eer = None
    if protocol.kind != ExhaustivePairs.kind:
        # every score is listed: EER, FMR100, FMR1000, ZeroFMR per group (exhaustive runs list mated pairs only)
        eer = eer_table(scores, groups, level=config.stats.confidence_level, replicates=config.stats.bootstrap,
                        seed=config.stats.seed)
        write_csv(out_dir / "eer.csv", eer)
    if ita_table is not None:
        write_csv(out_dir / "skin_tone_ita.csv", ita_table)
    t = time.perf_counter()
    if measures.cells is not None:
        write_csv(out_dir / "cell_counts.csv", measures.cells)
    figures = write_figures(out_dir, groups.names, measures)
    if ita_table is not None:
        figures["skin_tone"] = [plot_ita_histogram(images, out_dir / "plots" / "ita_histogram.png")]
    timings["figures_s"] = time.perf_counter() - t
    write_text(
        out_dir / "report.md",
        render_report(config, dataset, images, evaluation.pair_counts, measures, fte, failures, manifest, figures),
    )
    timings["total_s"] = time.time() - started
    # The manifest goes last: its presence marks a complete run directory.
    write_json(out_dir / "manifest.json", manifest)
    return RunResult(
        out_dir, measures.per_group, scores, measures.thresholds, fte, measures.fairness, stats, manifest,
        accuracy=measures.accuracy, fold_accuracy=measures.fold_accuracy, eer=eer,
        measures=measures, groups=groups,
    )


def with_distance(table: pd.DataFrame, column: str, pipeline: Pipeline | None, config: Config) -> pd.DataFrame:
    """``table`` with deepface's distance beside its similarity ``column``, where a deepface model ran.

    deepface users read "match when distance <= 0.6"; the similarity stays the one frbench decides
    by (one column each). Imported scores have no deepface distance: the table is returned as is.
    """
    if pipeline is None or column not in table:
        return table
    out = table.copy()
    out.insert(out.columns.get_loc(column) + 1, "distance" if column == "score" else f"{column}_distance",
               distance_from_similarity(out[column].to_numpy(dtype=float), config.model.distance_metric))
    return out


def _failures(images: pd.DataFrame, status: pd.Series, detail: pd.Series) -> pd.DataFrame:
    """failures.csv: every image that did not enrol, with its reason."""
    out = pd.DataFrame(
        {"image_id": images["image_id"], "status": status.loc[images["image_id"]].to_numpy(),
         "detail": detail.loc[images["image_id"]].to_numpy()}
    )
    return out[out["status"] != OK].reset_index(drop=True)


def _finish_identification(config, dataset, images, embeddings, result, groups, pipeline, stats, timings, cache_dir,
                           out_dir, started) -> RunResult:
    fte = failure_to_enrol(images, embeddings.status, groups, level=config.stats.confidence_level)
    failures = _failures(images, embeddings.status, embeddings.detail)
    thresholds = {p.name: float(p.threshold) for p in result.points if p.name.startswith("fpir=")}
    counts = {"n_pairs": 0, "n_mated": int(result.split.record.get("n_mated_probes", 0)),
              "n_nonmated": int(result.split.record.get("n_nonmated_probes", 0))}
    manifest = build_manifest(config, dataset, images, None, counts, pipeline, thresholds, stats, timings, cache_dir,
                              groups.columns)
    timings["total_s"] = time.time() - started
    write_identification_run(config, dataset, images, result, fte, failures, manifest, out_dir)
    return RunResult(out_dir, result.identification, result.table.searches, thresholds, fte, pd.DataFrame(), stats,
                     manifest)


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
