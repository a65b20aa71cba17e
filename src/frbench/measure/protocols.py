"""The three ways a run gets its comparisons, one object each: listed pairs, every pair, imported scores.

A protocol picks what to embed from a dataset (:meth:`select`) and turns embeddings (or imported
scores) into :class:`~frbench.measure.result.Measures` (:meth:`evaluate`). ``run_benchmark``
wires whichever one the config names and never branches on the protocol itself. A new protocol
(1:N search, say) adds a class here whose counts go through the one per-group engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from frbench.config import IMPORTED_SCORES, Config
from frbench.datasets import Dataset
from frbench.embed import Embeddings
from frbench.errors import ConfigError, DatasetError
from frbench.groups import Groups
from frbench.measure.exhaustive import measure_exhaustive
from frbench.measure.listed import measure_listed
from frbench.measure.result import Measures
from frbench.pairs.protocols import generated_pairs
from frbench.scoring.imported import import_scores, own_scores
from frbench.scoring.multiple_faces import best_face_similarities
from frbench.scoring.similarity import pair_similarities
from frbench.tables import OK


@dataclass
class Evaluation:
    """A protocol's result: the measures, the comparisons scores.csv lists, and what to record.

    ``status``/``detail``: each image's enrolment status; ``pair_counts``: ``n_pairs``,
    ``n_mated``, ``n_nonmated`` for the manifest; ``extra``: further manifest sections.
    """

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


class ListedPairs:
    """Pairs listed by the dataset's pair file (``file``) or generated from its images (``generated``)."""

    kind: ClassVar[str] = "listed"
    embeds: ClassVar[bool] = True

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

    def evaluate(self, config: Config, images: pd.DataFrame, pairs: pd.DataFrame, embeddings: Embeddings,
                 groups: Groups) -> Evaluation:
        scores = score_listed_pairs(pairs, images, embeddings, config.model.distance_metric, groups)
        return Evaluation(measure_listed(config, scores, groups, label_posterior(images)), scores, embeddings.status,
                          embeddings.detail, _counts(pairs))


class ExhaustivePairs:
    """Every pair of the dataset's images: mated pairs listed, non-mated ones counted by cell, never listed."""

    kind: ClassVar[str] = "exhaustive"
    embeds: ClassVar[bool] = True

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, None]:
        return dataset.images.reset_index(drop=True), None

    def evaluate(self, config: Config, images: pd.DataFrame, pairs: None, embeddings: Embeddings,
                 groups: Groups) -> Evaluation:
        row = pd.Series(np.arange(len(embeddings.image_ids)), index=embeddings.image_ids)
        matrix = embeddings.matrix[row.loc[images["image_id"]].to_numpy()]
        measures, mated = measure_exhaustive(config, images, matrix, embeddings.status, groups)
        n_all = len(images) * (len(images) - 1) // 2
        counts = {"n_pairs": n_all, "n_mated": len(mated), "n_nonmated": n_all - len(mated)}
        return Evaluation(measures, mated, embeddings.status, embeddings.detail, counts)


class ImportedScores:
    """Scores of a system frbench cannot run, read from a file and matched to the dataset's pairs."""

    kind: ClassVar[str] = "imported"
    embeds: ClassVar[bool] = False

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        if config.pairs.protocol != "file":
            raise ConfigError("imported scores (model.name: scores) score listed pairs: set pairs.protocol: file")
        # Without a pair list in the dataset, the scores file itself lists the pairs.
        return dataset.images.reset_index(drop=True), dataset.pairs

    def evaluate(self, config: Config, images: pd.DataFrame, pairs: pd.DataFrame | None, embeddings: None,
                 groups: Groups) -> Evaluation:
        if config.model.path is None:
            # a score-only dataset (format: scores): its pairs carry the scores
            imported = own_scores(pairs, config.model.direction, config.dataset)
        else:
            imported = import_scores(Path(str(config.model.path)), images, pairs, config.model.direction)
        scores = groups.join_sides(imported.pairs, images)
        # No image failed here: a pair is either scored by the other system or missing from its file.
        scores["status_a"] = scores["status_b"] = np.where(scores["ok"], OK, "unscored")
        return Evaluation(
            measure_listed(config, scores, groups, label_posterior(images)), scores, pd.Series(OK, index=images["image_id"]),
            pd.Series("", index=images["image_id"]), _counts(scores), {"imported_scores": imported.summary()},
        )


class IdentificationSearch:
    """One-to-many search: every image takes part, as gallery template, probe or distractor.

    ``evaluate`` returns the search package's :class:`~frbench.search.identification.IdentificationResult`
    (FNIR/FPIR counts per probe group through the same engine), not 1:1 ``Measures``.
    """

    kind: ClassVar[str] = "identification"
    embeds: ClassVar[bool] = True

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, None]:
        return dataset.images.reset_index(drop=True), None

    def evaluate(self, config: Config, images: pd.DataFrame, pairs: None, embeddings: Embeddings, groups: Groups):
        from frbench.search.identification import measure_identification

        row = pd.Series(np.arange(len(embeddings.image_ids)), index=embeddings.image_ids)
        matrix = embeddings.matrix[row.loc[images["image_id"]].to_numpy()]
        args = (images, matrix, embeddings.status, groups.attributes, groups.intersections, identification_params(config))
        execution = config.execution
        if execution.executor != "dask":
            return measure_identification(*args)
        from functools import partial

        from frbench.scoring.distributed import dask_client
        from frbench.search.sharded import sharded_search

        # Every search (the full gallery and each sweep's sub-gallery) runs as gallery shards on
        # the cluster; the lists equal the single-process ones (search.sharded).
        with dask_client(execution.workers, execution.scheduler) as client:
            return measure_identification(
                *args, searcher=partial(sharded_search, client, scratch_dir=execution.scratch_dir)
            )


def identification_params(config: Config):
    """The search package's parameters from a config's ``identification`` and ``stats`` sections."""
    from frbench.search.identification import CompositionParams, IdentificationParams

    c, stats = config.identification, config.stats
    comp = c.composition
    return IdentificationParams(
        gallery_images_per_subject=c.gallery_images_per_subject, enrolled_fraction=c.enrolled_fraction,
        few_image_subjects=c.few_image_subjects, max_probes_per_subject=c.max_probes_per_subject, seed=c.seed,
        gallery_file=c.gallery_file, probes_file=c.probes_file, candidates=c.candidates, ranks=tuple(c.ranks),
        target_fpir=tuple(c.target_fpir), kernel=c.kernel, block_mb=c.block_mb, level=stats.confidence_level,
        bootstrap=stats.bootstrap, gallery_size_steps=c.gallery_size.steps, gallery_size_smallest=c.gallery_size.smallest,
        gallery_size_repeats=c.gallery_size.repeats,
        composition=None if comp is None else CompositionParams(comp.attribute, comp.group, tuple(comp.shares), comp.size, comp.repeats),
        fpir_prediction_sizes=None if c.fpir_prediction is None else tuple(c.fpir_prediction.sizes),
    )


Protocol = ListedPairs | ExhaustivePairs | ImportedScores | IdentificationSearch

DECISION_PREFIX = "match_"


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


def protocol_for(config: Config) -> Protocol:
    """The protocol object a config names (imported scores whenever ``model.name`` is ``scores``)."""
    if config.model.name == IMPORTED_SCORES:
        return ImportedScores()
    if config.pairs.protocol == "identification":
        return IdentificationSearch()
    return ExhaustivePairs() if config.pairs.protocol == "exhaustive" else ListedPairs()
