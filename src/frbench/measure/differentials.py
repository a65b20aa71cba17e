"""The tables that explain *why* rates differ between groups, from a run's scored pairs: score
shifts, subject-weighted FNMR and its decomposition, and FMR(T)/FNMR(T) with bands.

Computed from the comparisons scores.csv lists (every listed pair; the exhaustive protocol's mated
pairs only, so its non-mated score shifts are not available) and the run's curve tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.groups import Groups
from frbench.measure.result import Measures
from frbench.metrics.power import MIN_BOOTSTRAP_REPLICATES
from frbench.metrics.score_shift import score_shift_table
from frbench.metrics.subject_fnmr import fnmr_decomposition, subject_weighted_fnmr
from frbench.metrics.threshold_curves import rates_against_threshold


@dataclass
class Differentials:
    """score_shift.csv, subject_fnmr.csv, fnmr_decomposition.csv and rates_vs_threshold.csv of a run;
    ``replicates`` the bootstrap replicates behind their intervals; ``nonmated_listed`` whether
    non-mated scores were available for the non-mated score shifts."""

    score_shift: pd.DataFrame
    subject_fnmr: pd.DataFrame
    decomposition: pd.DataFrame
    curves: pd.DataFrame
    replicates: int
    nonmated_listed: bool


def add_subject_weighted_fnmr(per_group: pd.DataFrame, pairs: pd.DataFrame, groups: Groups) -> pd.DataFrame:
    """``per_group`` with ``fnmr_subject_weighted`` (:func:`subject_weighted_fnmr`) at every row whose
    threshold is one value for all pairs (NaN for fold-calibrated rows), so that the fairness
    summaries compare it beside the pair-weighted ``fnmr``: where a few subjects hold most mated
    pairs, the pair-weighted FNMR of a group is theirs."""
    rows = per_group[np.isfinite(per_group["threshold"].to_numpy(dtype=float))].drop_duplicates("threshold_name")
    thresholds = dict(zip(rows["threshold_name"], rows["threshold"].astype(float)))
    keys = ["threshold_name", "attribute", "group"]
    if not thresholds or not pairs["mated"].astype(bool).any():
        return per_group.assign(fnmr_subject_weighted=np.nan)
    sw = subject_weighted_fnmr(pairs, groups, thresholds, replicates=0)[[*keys, "fnmr_subject_weighted"]]
    return per_group.merge(sw, on=keys, how="left", validate="many_to_one")


def bootstrap_replicates(config: Config) -> int:
    """``stats.bootstrap`` where set, else ``MIN_BOOTSTRAP_REPLICATES``."""
    return config.stats.bootstrap or MIN_BOOTSTRAP_REPLICATES


def measure_differentials(config: Config, scores: pd.DataFrame, groups: Groups, measures: Measures) -> Differentials:
    """Every differential table of a run. ``scores`` are the comparisons scores.csv lists."""
    stats = config.stats
    replicates = bootstrap_replicates(config)
    first = measures.per_group[measures.per_group["threshold_name"] == measures.per_group["threshold_name"].iloc[0]]
    return Differentials(
        score_shift=score_shift_table(scores, groups, replicates, stats.seed, stats.confidence_level),
        subject_fnmr=subject_weighted_fnmr(scores, groups, measures.thresholds, replicates, stats.seed,
                                           stats.confidence_level),
        decomposition=fnmr_decomposition(scores, groups, measures.thresholds, replicates, stats.seed,
                                         stats.confidence_level),
        curves=rates_against_threshold(measures.det, first, stats.confidence_level),
        replicates=replicates,
        nonmated_listed=bool((~scores["mated"].astype(bool)).any()),
    )
