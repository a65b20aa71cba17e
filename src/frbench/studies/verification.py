"""The verification (1:1) study: pairs of images compared, FMR and FNMR per group.

Three ways to get the comparisons, one object each: pairs listed by the dataset or generated from
its images (:class:`ListedPairs`), every pair of its images (:class:`ExhaustivePairs`, non-mated
pairs counted by cell, never listed), and scores of a system frbench cannot run, imported from a
file (:class:`ImportedScores`). Each picks what to embed (``select``) and measures
(``measure``); :class:`VerificationStudy` turns that measurement into every table, plot and
report section of a 1:1 run, the same for all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.datasets import Dataset
from frbench.embed import Embeddings
from frbench.embed.backend import Pipeline
from frbench.errors import ConfigError, DatasetError
from frbench.groups import Groups
from frbench.measure.differentials import Differentials, measure_differentials
from frbench.measure.exhaustive import measure_exhaustive
from frbench.measure.listed import measure_listed
from frbench.measure.operating_points import eer_table
from frbench.measure.result import VERIFICATION, Measures
from frbench.measure.thresholds import primary_threshold
from frbench.metrics.fairness import fte_differentials
from frbench.metrics.score_shift import MAX_MATED_PER_SUBJECT
from frbench.pairs.protocols import generated_pairs
from frbench.report.differentials import differentials_section, write_differentials
from frbench.report.figures import write_figures
from frbench.report.iso19795_10 import iso_map, iso_section
from frbench.report.markdown import render_report
from frbench.report.plots import plot_ita_histogram
from frbench.scoring.imported import import_scores, own_scores
from frbench.scoring.multiple_faces import best_face_similarities
from frbench.scoring.similarity import distance_from_similarity, pair_similarities
from frbench.studies.base import Figures, NothingMeasured, StudyInputs, StudyResult, enrolment_tables
from frbench.tables import OK

DECISION_PREFIX = "match_"
# Tables written with the plots (report.figures, report.differentials): recorded in the manifest too.
FIGURE_TABLES = ("det_points.csv", "cross_group_fmr.csv", "score_distributions.csv")
DIFFERENTIAL_TABLES = ("score_shift.csv", "subject_fnmr.csv", "fnmr_decomposition.csv", "rates_vs_threshold.csv")


@dataclass
class PairMeasurement:
    """One pair protocol's measurement: the measures, the comparisons scores.csv lists, each image's
    enrolment ``status``/``detail``, ``pair_counts`` (``n_pairs, n_mated, n_nonmated``) and further
    manifest sections (``extra``)."""

    measures: Measures
    scores: pd.DataFrame
    status: pd.Series
    detail: pd.Series
    pair_counts: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


def label_posterior(images: pd.DataFrame) -> pd.DataFrame | None:
    """Per subject what the skin-tone sensitivity analysis redraws labels from
    (:data:`frbench.metrics.label_noise.SUBJECT_COLUMNS`), where the subjects table of
    :mod:`frbench.annotate.sources` is on the images; None where skin tone has no such table."""
    from frbench.annotate.sources import ANSWER_COLUMNS, ESTIMATED_SOURCES, HELDOUT_COLUMNS

    if not {"skin_tone", "skin_tone_source", *ANSWER_COLUMNS, *HELDOUT_COLUMNS} <= set(images.columns):
        return None
    subjects = images.drop_duplicates("subject_id")
    out = subjects[["subject_id", "skin_tone", *ANSWER_COLUMNS, *HELDOUT_COLUMNS]].reset_index(drop=True)
    out["estimated"] = subjects["skin_tone_source"].isin(ESTIMATED_SOURCES).to_numpy()
    return out


def _counts(pairs: pd.DataFrame) -> dict[str, int]:
    return {"n_pairs": len(pairs), "n_mated": int(pairs["mated"].sum()), "n_nonmated": int((~pairs["mated"]).sum())}


def score_listed_pairs(pairs: pd.DataFrame, images: pd.DataFrame, embeddings: Embeddings, metric: str,
                       groups: Groups) -> pd.DataFrame:
    """One row per pair: sides, mated, fold, ``ok`` (both embedded), similarity and side attributes."""
    row = pd.Series(np.arange(len(embeddings.image_ids)), index=embeddings.image_ids)
    ia = row.loc[pairs["image_a"]].to_numpy()
    ib = row.loc[pairs["image_b"]].to_numpy()
    status = embeddings.status.loc[embeddings.image_ids].to_numpy()
    ok = (status[ia] == OK) & (status[ib] == OK)
    score = np.full(len(pairs), np.nan)
    if ok.any() and embeddings.faces is not None:
        # multiple_faces: all-best, as DeepFace.verify: a pair scores as its two closest faces
        faces = embeddings.faces
        score[ok] = best_face_similarities([faces[i] for i in ia[ok]], [faces[i] for i in ib[ok]], metric)
    elif ok.any():
        score[ok] = pair_similarities(embeddings.matrix[ia[ok]], embeddings.matrix[ib[ok]], metric)
    out = pairs[["image_a", "image_b", "mated"] + (["fold"] if "fold" in pairs else [])].copy()
    out["ok"] = ok
    out["score"] = score
    out["status_a"], out["status_b"] = status[ia], status[ib]
    return groups.join_sides(out, images)


def scores_table(scores: pd.DataFrame, groups: Groups, thresholds: dict[str, float]) -> pd.DataFrame:
    """scores.csv: every listed comparison, enough to recompute every table without frbench.

    Columns: ``image_a, image_b, subject_a, subject_b, mated``, ``fold`` where pairs have folds,
    ``score`` (similarity, empty where a side failed), ``status_a, status_b`` (each side's
    enrolment status), the side attributes, then one ``match_<threshold>`` decision per global
    threshold (score >= threshold; empty for an unscored pair).
    """
    cols = ["image_a", "image_b", "subject_a", "subject_b", "mated"] + (["fold"] if "fold" in scores else [])
    out = scores[[*cols, "score", "status_a", "status_b", *groups.side_columns()]].copy()
    score = out["score"].to_numpy(dtype=float)
    for name, value in thresholds.items():
        out[DECISION_PREFIX + name] = pd.array(np.where(np.isnan(score), None, score >= value), dtype="boolean")
    return out


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


class VerificationStudy:
    """What the three pair protocols share: from a :class:`PairMeasurement` to every table, plot and
    report section of a 1:1 run. A protocol sets ``lists_every_score`` when scores.csv holds every
    comparison (then EER, FMR100, FMR1000 and ZeroFMR per group are measured: eer.csv)."""

    kind: ClassVar[str] = VERIFICATION
    embeds: ClassVar[bool] = True
    lists_every_score: ClassVar[bool] = True

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        raise NotImplementedError

    def measure(self, config: Config, images: pd.DataFrame, pairs: pd.DataFrame | None, embeddings: Embeddings | None,
                groups: Groups) -> PairMeasurement:
        raise NotImplementedError

    def nothing_measurable(self, inputs: StudyInputs) -> NothingMeasured | None:
        """No pair can be scored (or no non-mated pair, and a target FMR needs them): say so before measuring."""
        if inputs.embeddings is None:
            return None  # imported scores: a pair is scored or missing from the file, no image fails
        n_mated, n_nonmated = scorable_pairs(inputs.images, inputs.pairs, inputs.embeddings.status)
        if n_mated + n_nonmated and (n_nonmated or not inputs.config.thresholds.target_fmr):
            return None
        what = ("no pair could be scored" if not n_mated + n_nonmated
                else "no non-mated pair could be scored, so no threshold can be set at a target FMR")
        compared = (f"Pairs whose two images enrolled: {n_mated} mated, {n_nonmated} non-mated"
                    + ("" if inputs.pairs is None else f" (of {len(inputs.pairs)} listed)") + ".")
        return NothingMeasured(what, compared)

    def evaluate(self, inputs: StudyInputs) -> StudyResult:
        config, images, groups, pipeline = inputs.config, inputs.images, inputs.groups, inputs.pipeline
        measured = self.measure(config, images, inputs.pairs, inputs.embeddings, groups)
        measures, scores = measured.measures, measured.scores
        fte, failures = enrolment_tables(config, images, measured.status, measured.detail, groups)
        if groups.names:
            # enrolment fails before any threshold: its differentials sit beside the rate summaries
            differentials = fte_differentials(fte, min_subjects=config.stats.min_group_subjects)
            measures.fairness = pd.concat([measures.fairness, differentials], ignore_index=True)
        differentials = measure_differentials(config, scores, groups, measures)
        eer = None
        if self.lists_every_score:
            eer = eer_table(scores, groups, level=config.stats.confidence_level, replicates=config.stats.bootstrap,
                            seed=config.stats.seed)
        iso = iso_map(images, groups.columns, inputs.dataset.label_sources, differentials.nonmated_listed,
                      bool(groups.names))
        optional = {
            "per_group_thresholds.csv": measures.per_group_thresholds, "fold_accuracy.csv": measures.fold_accuracy,
        }
        tables = {
            "per_group.csv": measures.per_group,
            "thresholds.csv": with_distance(measures.threshold_table, "threshold", pipeline, config),
            **{k: v for k, v in optional.items() if v is not None},
            "accuracy.csv": measures.accuracy,
            "failure_to_enrol.csv": fte,
            "failures.csv": failures,
            "fairness.csv": measures.fairness,
            **({"group_tests.csv": measures.group_tests} if measures.group_tests is not None else {}),
            **({"skin_tone_sensitivity.csv": measures.label_noise} if measures.label_noise is not None else {}),
            "scores.csv": with_distance(scores_table(scores, groups, measures.thresholds), "score", pipeline, config),
            **({"eer.csv": eer} if eer is not None else {}),
            **({"skin_tone_ita.csv": inputs.ita_table} if inputs.ita_table is not None else {}),
            **({"cell_counts.csv": measures.cells} if measures.cells is not None else {}),
            "iso19795_10.csv": iso,
        }
        return StudyResult(
            kind=self.kind, per_group=measures.per_group, thresholds=measures.thresholds, fairness=measures.fairness,
            group_tests=measures.group_tests, failure_to_enrol=fte, failures=failures, scores=scores,
            pair_counts=measured.pair_counts, tables=tables,
            write_files=lambda out_dir: _write_plots(out_dir, inputs, measures, differentials),
            report=lambda manifest, figures: _report(inputs, measured, fte, failures, differentials, iso, manifest,
                                                     figures),
            manifest_extra={**measured.extra, **_score_shift_record(differentials, config)}, measures=measures,
            accuracy=measures.accuracy,
            fold_accuracy=measures.fold_accuracy, eer=eer,
        )


def _score_shift_record(differentials: Differentials, config: Config) -> dict[str, Any]:
    """The manifest's record of the mated-pair cap behind score_shift.csv (a seeded draw of at most
    ``MAX_MATED_PER_SUBJECT`` mated pairs per subject), so that a reader of the manifest alone can
    repeat it; nothing where no score shift was measured."""
    if differentials.score_shift.empty:
        return {}
    return {"score_shift": {"mated_pairs_per_subject_cap": MAX_MATED_PER_SUBJECT, "seed": config.stats.seed,
                            "replicates": differentials.replicates}}


def _write_plots(out_dir: Path, inputs: StudyInputs, measures: Measures, differentials: Differentials) -> Figures:
    """The curve tables and plots of a 1:1 run; the rates-against-threshold plots go to the report's
    differentials section."""
    names = inputs.groups.names
    figures = write_figures(out_dir, names, measures)
    if inputs.ita_table is not None:
        figures["skin_tone"] = [plot_ita_histogram(inputs.images, out_dir / "plots" / "ita_histogram.png")]
    threshold_plots = write_differentials(out_dir, names, differentials, measures.thresholds)
    plots = [p for paths in figures.values() for p in paths]
    # The rates-against-threshold plots have never been listed in the manifest's outputs; kept so.
    return Figures(by_kind=figures, in_sections={"differentials": threshold_plots},
                   recorded=[*FIGURE_TABLES, *DIFFERENTIAL_TABLES, *plots])


def _report(inputs: StudyInputs, measured: PairMeasurement, fte: pd.DataFrame, failures: pd.DataFrame,
            differentials: Differentials, iso: pd.DataFrame, manifest: dict[str, Any], figures: Figures) -> str:
    measures = measured.measures
    sections = [
        *differentials_section(differentials, primary_threshold(measures.thresholds, measures.threshold_table),
                               figures.in_sections.get("differentials", [])),
        *iso_section(iso),
    ]
    return render_report(inputs.config, inputs.dataset, inputs.images, measured.pair_counts, measures, fte, failures,
                         manifest, figures.by_kind, sections)


class ListedPairs(VerificationStudy):
    """Pairs listed by the dataset's pair file (``file``) or generated from its images (``generated``)."""

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The PairTable and only the images it names."""
        protocol = config.pairs
        if protocol.protocol == "generated":
            missing = [a for a in protocol.match_on if a not in dataset.images.columns]
            if missing:
                raise ConfigError(f"pairs.match_on: {missing} not attributes of dataset '{dataset.name}'")
            pairs = generated_pairs(
                dataset.images, protocol.n_nonmated, protocol.mated_per_subject, protocol.match_on, protocol.seed
            )
        elif dataset.pairs is None:
            raise DatasetError(f"dataset '{dataset.name}' has no pair list: use pairs.protocol generated or exhaustive")
        else:
            pairs = dataset.pairs
        used = set(pd.unique(pd.concat([pairs["image_a"], pairs["image_b"]])))
        return dataset.images[dataset.images["image_id"].isin(used)].reset_index(drop=True), pairs

    def measure(self, config: Config, images: pd.DataFrame, pairs: pd.DataFrame, embeddings: Embeddings,
                groups: Groups) -> PairMeasurement:
        scores = score_listed_pairs(pairs, images, embeddings, config.model.distance_metric, groups)
        return PairMeasurement(measure_listed(config, scores, groups, label_posterior(images)), scores,
                               embeddings.status, embeddings.detail, _counts(pairs))


class ExhaustivePairs(VerificationStudy):
    """Every pair of the dataset's images: mated pairs listed, non-mated ones counted by cell, never listed."""

    # scores.csv lists the mated pairs only: no EER or FMR100 from it
    lists_every_score: ClassVar[bool] = False

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, None]:
        return dataset.images.reset_index(drop=True), None

    def measure(self, config: Config, images: pd.DataFrame, pairs: None, embeddings: Embeddings,
                groups: Groups) -> PairMeasurement:
        row = pd.Series(np.arange(len(embeddings.image_ids)), index=embeddings.image_ids)
        matrix = embeddings.matrix[row.loc[images["image_id"]].to_numpy()]
        measures, mated = measure_exhaustive(config, images, matrix, embeddings.status, groups)
        n_all = len(images) * (len(images) - 1) // 2
        counts = {"n_pairs": n_all, "n_mated": len(mated), "n_nonmated": n_all - len(mated)}
        return PairMeasurement(measures, mated, embeddings.status, embeddings.detail, counts)


class ImportedScores(VerificationStudy):
    """Scores of a system frbench cannot run, read from a file and matched to the dataset's pairs."""

    embeds: ClassVar[bool] = False

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        if config.pairs.protocol != "file":
            raise ConfigError("imported scores (model.name: scores) score listed pairs: set pairs.protocol: file")
        # Without a pair list in the dataset, the scores file itself lists the pairs.
        return dataset.images.reset_index(drop=True), dataset.pairs

    def measure(self, config: Config, images: pd.DataFrame, pairs: pd.DataFrame | None, embeddings: None,
                groups: Groups) -> PairMeasurement:
        if config.model.path is None:
            # a score-only dataset (format: scores): its pairs carry the scores
            imported = own_scores(pairs, config.model.direction, config.dataset)
        else:
            imported = import_scores(Path(str(config.model.path)), images, pairs, config.model.direction)
        scores = groups.join_sides(imported.pairs, images)
        # No image failed here: a pair is either scored by the other system or missing from its file.
        scores["status_a"] = scores["status_b"] = np.where(scores["ok"], OK, "unscored")
        return PairMeasurement(
            measure_listed(config, scores, groups, label_posterior(images)), scores, pd.Series(OK, index=images["image_id"]),
            pd.Series("", index=images["image_id"]), _counts(scores), {"imported_scores": imported.summary()},
        )
