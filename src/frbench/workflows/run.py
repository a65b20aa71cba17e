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
from frbench.errors import ConfigError, DatasetError
from frbench.groups import Groups
from frbench.measure.differentials import measure_differentials
from frbench.measure.operating_points import eer_table
from frbench.measure.result import Measures
from frbench.measure.protocols import ExhaustivePairs, IdentificationSearch, protocol_for, scores_table
from frbench.measure.thresholds import primary_threshold
from frbench.metrics.fairness import fte_differentials
from frbench.metrics.grouped import failure_to_enrol
from frbench.report.differentials import differentials_section, write_differentials
from frbench.report.figures import write_figures
from frbench.report.iso19795_10 import iso_map, iso_section
from frbench.scoring.similarity import distance_from_similarity
from frbench.io.atomic import write_json, write_text
from frbench.io.spreadsheet import write_csv
from frbench.report.markdown import render_report
from frbench.report.output_dir import check_output_dir, output_lock
from frbench.report.plots import plot_ita_histogram
from frbench.tables import OK, validate_image_table, validate_pair_table
from frbench.workflows.identify import write_identification_run
from frbench.workflows.manifest import RUN_TABLES, build_manifest, new_run_id, record_outputs

# Columns annotate: {skin_tone: ...} adds (frbench.annotate.skin_tone.annotate_skin_tone).
ANNOTATION_COLUMNS = ("skin_tone", "skin_tone_category")


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

    The run holds ``out_dir``'s writer lock from before any work to its end: a second run into the
    same folder is refused at once (OutputError naming this one's PID and command). Its manifest
    records a random ``run_id`` and the sha256 of every file it wrote (``outputs``).
    Every ConfigError it raises names the config's file (``config.source``) first.
    """
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / config.name
    with config_errors_named(config.source):
        check_output_dir(out_dir)
        run_id = new_run_id()
        with output_lock(out_dir, run_id=run_id):
            return _run_benchmark(config, out_dir, data_root, progress, workers, log, run_id)


def _run_benchmark(
    config: Config,
    out_dir: Path | None,
    data_root: Path | None,
    progress: bool,
    workers: int | None,
    log: Callable[[str], None],
    run_id: str,
) -> RunResult:
    started = time.time()
    timings: dict[str, float] = {}
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
    if embeddings is not None and protocol.kind != IdentificationSearch.kind:
        # before measuring: with nothing to score the failures are still written, never lost
        _stop_if_nothing_scores(config, images, pairs, embeddings, groups, out_dir, run_id)
    evaluation = protocol.evaluate(config, images, pairs, embeddings, groups)
    if protocol.kind == IdentificationSearch.kind:
        # one-to-many search: its own tables (the same per-group engine), not the 1:1 ones
        return _finish_identification(config, dataset, images, embeddings, evaluation, groups, pipeline, stats,
                                      timings, cache_dir, out_dir, started, run_id)
    measures, scores, status, detail = evaluation.measures, evaluation.scores, evaluation.status, evaluation.detail
    fte = failure_to_enrol(images, status, groups, level=config.stats.confidence_level)
    if groups.names:
        # enrolment fails before any threshold: its differentials sit beside the rate summaries
        differentials = fte_differentials(fte, min_subjects=config.stats.min_group_subjects)
        measures.fairness = pd.concat([measures.fairness, differentials], ignore_index=True)
    differentials = measure_differentials(config, scores, groups, measures)
    timings["measure_s"] = time.perf_counter() - t

    failures = _failures(images, status, detail)
    manifest = build_manifest(
        config, dataset, images, pairs, evaluation.pair_counts, pipeline, measures.thresholds, stats, timings,
        cache_dir, groups.columns,
    )
    manifest.update(evaluation.extra)
    manifest["run_id"] = run_id

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
        write_csv(out_dir / "skin_tone_sensitivity.csv", measures.label_noise)
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
    threshold_plots = write_differentials(out_dir, groups.names, differentials, measures.thresholds)
    timings["figures_s"] = time.perf_counter() - t
    iso = iso_map(images, groups.columns, dataset.label_sources, differentials.nonmated_listed, bool(groups.names))
    write_csv(out_dir / "iso19795_10.csv", iso)
    sections = [
        *differentials_section(differentials, primary_threshold(measures.thresholds, measures.threshold_table),
                               threshold_plots),
        *iso_section(iso),
    ]
    write_text(
        out_dir / "report.md",
        render_report(config, dataset, images, evaluation.pair_counts, measures, fte, failures, manifest, figures,
                      sections),
    )
    timings["total_s"] = time.time() - started
    record_outputs(manifest, out_dir, [*RUN_TABLES, *(p for paths in figures.values() for p in paths)])
    # The manifest goes last: its presence marks a complete run directory.
    write_json(out_dir / "manifest.json", manifest)
    return RunResult(
        out_dir, measures.per_group, scores, measures.thresholds, fte, measures.fairness, stats, manifest,
        accuracy=measures.accuracy, fold_accuracy=measures.fold_accuracy, eer=eer,
        measures=measures, groups=groups,
    )


def scorable_pairs(images: pd.DataFrame, pairs: pd.DataFrame | None, status: pd.Series) -> tuple[int, int]:
    """(mated, non-mated) pairs whose two images both enrolled; for all pairs (``pairs`` None) whether any
    exists (0 or 1 each), as the exhaustive protocol's are never listed."""
    ok = status.reindex(images["image_id"]).eq(OK).to_numpy()
    if pairs is not None:
        enrolled = dict(zip(images["image_id"], ok))
        both = pairs["image_a"].map(enrolled).fillna(False).astype(bool) & pairs["image_b"].map(enrolled).fillna(False).astype(bool)
        mated = pairs["mated"].astype(bool)
        return int((both & mated).sum()), int((both & ~mated).sum())
    per_subject = images.loc[ok, "subject_id"].value_counts()
    return int((per_subject >= 2).any()), int(len(per_subject) >= 2)


def _stop_if_nothing_scores(config: Config, images: pd.DataFrame, pairs: pd.DataFrame | None, embeddings: Any,
                            groups: Groups, out_dir: Path, run_id: str) -> None:
    """When no pair can be scored (or no non-mated pair, and a target FMR needs them), write failures.csv,
    failure_to_enrol.csv and a short report.md that says what failed, then raise DatasetError naming the
    failure counts; no manifest, as the run did not complete."""
    n_mated, n_nonmated = scorable_pairs(images, pairs, embeddings.status)
    if n_mated + n_nonmated and (n_nonmated or not config.thresholds.target_fmr):
        return
    status = embeddings.status.reindex(images["image_id"])
    failed = status[status != OK]
    counts = ", ".join(f"{reason}: {n}" for reason, n in failed.value_counts().sort_index().items())
    what = ("no pair could be scored" if not n_mated + n_nonmated
            else "no non-mated pair could be scored, so no threshold can be set at a target FMR")
    enrolment = f"{len(failed)} of {len(images)} images failed to enrol" + (f" ({counts})" if counts else "")
    fte = failure_to_enrol(images, embeddings.status, groups, level=config.stats.confidence_level)
    failures = _failures(images, embeddings.status, embeddings.detail)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", *RUN_TABLES):
        (out_dir / name).unlink(missing_ok=True)
    write_csv(out_dir / "failures.csv", failures)
    write_csv(out_dir / "failure_to_enrol.csv", fte)
    table = failed.value_counts().sort_index()
    lines = [
        f"# frbench report: {config.name} (nothing measured)", "",
        f"Run `{run_id}` stopped before measuring: {what}. {enrolment}.", "",
        "| reason | images |", "|---|---|", *[f"| {reason} | {n} |" for reason, n in table.items()], "",
        f"Pairs whose two images enrolled: {n_mated} mated, {n_nonmated} non-mated"
        + ("" if pairs is None else f" (of {len(pairs)} listed)") + ".", "",
        "Every failure, with its reason, is in failures.csv; per group in failure_to_enrol.csv. No rates were "
        "measured and no manifest.json was written: this folder holds no complete run.", "",
    ]
    write_text(out_dir / "report.md", "\n".join(lines))
    raise DatasetError(f"{what}: {enrolment}; failures.csv, failure_to_enrol.csv and report.md are in {out_dir}")


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
                           out_dir, started, run_id) -> RunResult:
    fte = failure_to_enrol(images, embeddings.status, groups, level=config.stats.confidence_level)
    failures = _failures(images, embeddings.status, embeddings.detail)
    thresholds = {p.name: float(p.threshold) for p in result.points if p.name.startswith("fpir=")}
    counts = {"n_pairs": 0, "n_mated": int(result.split.record.get("n_mated_probes", 0)),
              "n_nonmated": int(result.split.record.get("n_nonmated_probes", 0))}
    manifest = build_manifest(config, dataset, images, None, counts, pipeline, thresholds, stats, timings, cache_dir,
                              groups.columns)
    manifest["run_id"] = run_id
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
