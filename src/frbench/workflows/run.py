"""One benchmark run end to end: dataset -> (annotations) -> embeddings -> study -> files and manifest.

``run_benchmark`` is what ``frbench run`` calls. It drives whichever study the config names
(:func:`frbench.studies.study_for`: verification or identification) through four stages, each a
function of its own: :func:`load_inputs` (dataset, annotations, validated tables), :func:`embed`,
``study.evaluate`` and :func:`write_run` (every file, the manifest last). It never asks which
study it runs.
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
from frbench.datasets import Dataset, load_dataset
from frbench.datasets.registry import resolve_data_root
from frbench.embed import EmbedStats, Embeddings, embed_images
from frbench.embed.backend import Pipeline
from frbench.embed.cache import resolve_cache_dir
from frbench.embed.duplicates import copies_caveat, identical_embeddings
from frbench.embed.weights import ensure_weights
from frbench.errors import ConfigError, DatasetError
from frbench.groups import Groups
from frbench.io.atomic import write_json, write_text
from frbench.io.spreadsheet import write_csv
from frbench.measure.result import VERIFICATION, Measures
from frbench.report.output_dir import check_output_dir, output_lock
from frbench.studies import Study, StudyInputs, StudyResult, study_for
from frbench.studies.base import NothingMeasured, enrolment_tables
from frbench.tables import OK, validate_image_table, validate_pair_table
from frbench.workflows.manifest import build_manifest, clear_outputs, new_run_id, record_outputs

# Columns annotate: {skin_tone: ...} adds (frbench.annotate.skin_tone.annotate_skin_tone).
ANNOTATION_COLUMNS = ("skin_tone", "skin_tone_category")


@dataclass
class RunResult:
    """What a run produced; the same tables are on disk in ``out_dir``.

    ``kind``: the study's (``verification`` or ``identification``: then ``per_group`` holds FNIR and
    FPIR per probe group, ``scores`` the searches); ``study``: its full result.
    """

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
    kind: str = VERIFICATION
    group_tests: pd.DataFrame | None = None


@dataclass(frozen=True)
class Loaded:
    """The load stage's output: the dataset, the study's images (annotated) and pairs, validated."""

    dataset: Dataset
    images: pd.DataFrame
    pairs: pd.DataFrame | None
    groups: Groups
    ita_table: pd.DataFrame | None


@dataclass(frozen=True)
class Embedded:
    """The embed stage's output: embeddings (None where no model runs), their counts, and the
    dataset with a caveat added where images turned out to be copies of one another."""

    embeddings: Embeddings | None
    stats: EmbedStats
    dataset: Dataset


@dataclass(frozen=True)
class RunContext:
    """What every stage of one run shares: its config and folder, where embeddings are cached, how
    many workers, progress bars and log, and the timings the manifest records (filled in by the stages)."""

    config: Config
    out_dir: Path
    run_id: str
    cache_dir: Path
    workers: int | None
    progress: bool
    log: Callable[[str], None]
    started: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)


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


def _run_benchmark(config: Config, out_dir: Path, data_root: Path | None, progress: bool, workers: int | None,
                   log: Callable[[str], None], run_id: str) -> RunResult:
    run = RunContext(config, out_dir, run_id, resolve_cache_dir(config.cache.dir),
                     workers if workers is not None else config.execution.workers, progress, log)
    study = study_for(config)
    pipeline = pipeline_from_config(config) if study.embeds else None
    if pipeline is not None:
        # before the dataset is read: absent weights (offline) or packages stop the run at once
        ensure_weights(pipeline.model, pipeline.detector, config.offline, log=log)
    loaded = load_inputs(run, study, data_root)
    embedded = embed(run, loaded, pipeline)
    inputs = StudyInputs(config, embedded.dataset, loaded.images, loaded.pairs, embedded.embeddings, loaded.groups,
                         pipeline, loaded.ita_table)
    result = evaluate(run, study, inputs)
    manifest = write_run(run, inputs, embedded.stats, result)
    return RunResult(
        out_dir, result.per_group, result.scores, result.thresholds, result.failure_to_enrol, result.fairness,
        embedded.stats, manifest, accuracy=result.accuracy, fold_accuracy=result.fold_accuracy, eer=result.eer,
        measures=result.measures, groups=loaded.groups, kind=result.kind, group_tests=result.group_tests,
    )


def load_inputs(run: RunContext, study: Study, data_root: Path | None) -> Loaded:
    """Stage 1: the dataset, the study's selection of it, its annotations (skin tone), checked and validated."""
    config = run.config
    t = time.perf_counter()
    dataset = load_dataset(config.dataset, resolve_data_root(data_root))
    images, pairs = study.select(config, dataset)
    run.timings["load_dataset_s"] = time.perf_counter() - t
    ita_table = None
    if config.annotate.skin_tone is not None or config.annotate.skin_tone_labels:
        check_attributes(config, images, dataset.name, still_to_come=ANNOTATION_COLUMNS)
        t = time.perf_counter()
        # A subject's tone is the median over all its images in the dataset, not only those in pairs.
        subjects = dataset.images[dataset.images["subject_id"].isin(set(images["subject_id"]))]
        annotated, ita_table = apply_annotations(
            config.annotate, subjects, run.cache_dir, workers=run.workers or 1, progress=run.progress,
            max_pixels=config.dataset.max_pixels,
        )
        images = images.drop(columns=[c for c in annotated.columns if c in images.columns and c not in ("image_id",)]
                             ).merge(annotated, on="image_id", how="left", validate="one_to_one")
        run.timings["annotate_s"] = time.perf_counter() - t
    check_attributes(config, images, dataset.name)
    groups = groups_of(config)
    images = validate_image_table(images, groups.columns)
    if pairs is not None:
        pairs = validate_pair_table(pairs, images["image_id"])
    run.log(
        f"{dataset.name}: {len(images)} images of {images['subject_id'].nunique()} subjects, "
        + (f"{len(pairs)} pairs" if pairs is not None else "all pairs (exhaustive)")
    )
    return Loaded(dataset, images, pairs, groups, ita_table)


def embed(run: RunContext, loaded: Loaded, pipeline: Pipeline | None) -> Embedded:
    """Stage 2: every selected image through the pipeline (none where no model runs: imported scores)."""
    if pipeline is None:
        stats = EmbedStats(n_images=len(loaded.images), n_cached=0, n_computed=0, n_failed=0, seconds=0.0,
                           executor="none (imported scores)", workers=0)
        return Embedded(None, stats, loaded.dataset)
    config = run.config
    t = time.perf_counter()
    embeddings, stats = embed_images(
        loaded.images,
        pipeline,
        cache_dir=run.cache_dir,
        executor=config.execution.executor,
        workers=run.workers,
        progress=run.progress,
        offline=config.offline,
        scheduler=config.execution.scheduler,
        max_pixels=config.dataset.max_pixels,
    )
    run.timings["embed_s"] = time.perf_counter() - t
    dataset = loaded.dataset
    copies = copies_caveat(identical_embeddings(embeddings.image_ids, embeddings.matrix, embeddings.status), loaded.pairs)
    if copies is not None:
        dataset = dataclasses.replace(dataset, caveats=[*dataset.caveats, copies])
    return Embedded(embeddings, stats, dataset)


def evaluate(run: RunContext, study: Study, inputs: StudyInputs) -> StudyResult:
    """Stage 3: the study's measurement; where nothing can be measured, the failures are written (never
    lost) and DatasetError raised instead (:func:`write_nothing_measured`)."""
    t = time.perf_counter()
    stop = study.nothing_measurable(inputs)
    if stop is not None:
        write_nothing_measured(inputs, stop, run.out_dir, run.run_id)
    result = study.evaluate(inputs)
    run.timings["measure_s"] = time.perf_counter() - t
    return result


def write_run(run: RunContext, inputs: StudyInputs, stats: EmbedStats, result: StudyResult) -> dict[str, Any]:
    """Stage 4: every file of the run into its folder, after removing every earlier run's output
    (:func:`~frbench.workflows.manifest.clear_outputs`); the manifest last, as its presence marks a
    complete run. Returns the manifest, whose ``outputs`` lists the sha256 of each file written."""
    config, out_dir = run.config, run.out_dir
    manifest = build_manifest(config, inputs.dataset, inputs.images, inputs.pairs, result.pair_counts, inputs.pipeline,
                              result.thresholds, stats, run.timings, run.cache_dir, inputs.groups.columns)
    manifest.update(result.manifest_extra)
    manifest["run_id"] = run.run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_outputs(out_dir)
    for name, table in result.tables.items():
        write_csv(out_dir / name, table)
    for name, document in result.documents.items():
        write_json(out_dir / name, document)
    t = time.perf_counter()
    figures = result.write_files(out_dir)
    run.timings["figures_s"] = time.perf_counter() - t
    write_text(out_dir / "report.md", result.report(manifest, figures))
    run.timings["total_s"] = time.time() - run.started
    record_outputs(manifest, out_dir, [*result.tables, *result.documents, *figures.recorded, "report.md"])
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def write_nothing_measured(inputs: StudyInputs, stop: NothingMeasured, out_dir: Path, run_id: str) -> None:
    """When nothing can be measured, write failures.csv, failure_to_enrol.csv and a short report.md that
    says what failed, then raise DatasetError naming the failure counts; no manifest, as the run did
    not complete."""
    embeddings, images = inputs.embeddings, inputs.images
    status = embeddings.status.reindex(images["image_id"])
    failed = status[status != OK]
    counts = ", ".join(f"{reason}: {n}" for reason, n in failed.value_counts().sort_index().items())
    enrolment = f"{len(failed)} of {len(images)} images failed to enrol" + (f" ({counts})" if counts else "")
    fte, failures = enrolment_tables(inputs.config, images, embeddings.status, embeddings.detail, inputs.groups)
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_outputs(out_dir)
    write_csv(out_dir / "failures.csv", failures)
    write_csv(out_dir / "failure_to_enrol.csv", fte)
    table = failed.value_counts().sort_index()
    lines = [
        f"# frbench report: {inputs.config.name} (nothing measured)", "",
        f"Run `{run_id}` stopped before measuring: {stop.what}. {enrolment}.", "",
        "| reason | images |", "|---|---|", *[f"| {reason} | {n} |" for reason, n in table.items()], "",
        stop.compared, "",
        "Every failure, with its reason, is in failures.csv; per group in failure_to_enrol.csv. No rates were "
        "measured and no manifest.json was written: this folder holds no complete run.", "",
    ]
    write_text(out_dir / "report.md", "\n".join(lines))
    raise DatasetError(f"{stop.what}: {enrolment}; failures.csv, failure_to_enrol.csv and report.md are in {out_dir}")


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
