"""From scored listed pairs to every table a run reports: thresholds, per-group rates, fairness, folds, curves.

``measure_listed`` applies the config's threshold policy to a scored PairTable (columns ``score``,
``mated``, ``ok``, ``subject_a/b``, ``<attr>_a/b`` and optionally ``fold``) and returns the tidy
tables; it does no I/O, so it serves pairs-file, generated and imported-score runs alike.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.groups import ALL, Groups
from frbench.measure.differentials import add_subject_weighted_fnmr
from frbench.measure.result import Measures
from frbench.measure.thresholds import global_thresholds, resolved_threshold_table, threshold_row, threshold_table
from frbench.metrics.counts import cross_group_cells
from frbench.metrics.curves import cross_group_from_cells, det_points, score_histograms
from frbench.metrics.accuracy import accuracy_table
from frbench.metrics.fairness import (
    BOOTSTRAP_SUMMARY_COLUMNS, fairness_bootstrap, fairness_summary, skewed_error_ratio_summary,
)
from frbench.metrics.group_tests import group_tests
from frbench.metrics.grouped import add_bootstrap_intervals, bootstrap_replicates, per_group_rates, per_group_thresholds
from frbench.metrics.intervals import bootstrap_interval
from frbench.metrics.label_noise import (
    add_sensitivity_intervals, darker_lighter_difference, label_model, sensitivity_replicates,
)
from frbench.metrics.threshold_bootstrap import threshold_bootstrap_replicates
from frbench.metrics.thresholds import fold_accuracy, fold_calibrated
from frbench.points import OperatingPoints, Threshold

def measure_listed(
    config: Config, pairs: pd.DataFrame, groups: Groups, subjects: pd.DataFrame | None = None
) -> Measures:
    """All thresholds, grouped tables and curves of a run, from its scored pairs.

    ``subjects`` (:data:`frbench.metrics.label_noise.SUBJECT_COLUMNS`), where skin tone comes
    from annotators or an estimate: the global thresholds' skin-tone rows gain the sensitivity
    analysis's intervals (subjects resampled and labels redrawn, :mod:`frbench.metrics.label_noise`)
    and ``Measures.label_noise`` the darker-lighter differences under it.
    """
    points = global_thresholds(config, pairs)
    thresholds = points.values()
    table, fmr_reps, fnmr_reps = _rates(config, pairs, groups, points)
    label_noise = None
    if (subjects is not None and config.stats.label_draws and "skin_tone" in groups.columns
            and label_model(subjects).noisy):
        rows, fnmr_l, fmr_l = sensitivity_replicates(
            pairs, groups, thresholds, subjects, draws=config.stats.label_draws, seed=config.stats.seed
        )
        table = add_sensitivity_intervals(table, rows, fnmr_l, fmr_l, config.stats.confidence_level)
        label_noise = darker_lighter_difference(table, rows, fnmr_l, fmr_l, level=config.stats.confidence_level)
    tables = [table]
    threshold_rows = threshold_table(points)
    notes: list[str] = []
    accuracy = None

    folds = pairs["fold"].dropna().unique() if "fold" in pairs else []
    if config.thresholds.fold_calibrated and len(folds) >= 2:
        for target_fmr in config.thresholds.target_fmr:
            fold_table, per_fold = fold_calibrated_rates(config, pairs, groups, target_fmr)
            tables.append(fold_table)
            threshold_rows += per_fold
        ok = pairs["ok"].to_numpy()
        accuracy = fold_accuracy(pairs.loc[ok, "score"], pairs.loc[ok, "mated"], pairs.loc[ok, "fold"].astype(int))
    elif config.thresholds.fold_calibrated and "fold" in pairs:
        notes.append("Fold-calibrated thresholds need at least two folds; this run has one.")

    per_group_thr = None
    if config.thresholds.per_group and config.thresholds.target_fmr:
        per_group_thr = pd.concat(
            [per_group_thresholds(pairs, groups, t) for t in config.thresholds.target_fmr], ignore_index=True
        )
    stats = config.stats
    if stats.threshold_uncertainty and stats.bootstrap:
        tables[0] = add_threshold_uncertainty(config, pairs, groups, points, tables[0])
    per_group = add_subject_weighted_fnmr(pd.concat(tables, ignore_index=True), pairs, groups)
    fairness = fairness_summary(per_group, min_subjects=stats.min_group_subjects)
    if fmr_reps is not None:
        # Intervals for the fairness summaries at the global thresholds, from the very subject
        # resamples behind the per-group bootstrap intervals.
        boot = fairness_bootstrap(table, fmr_reps, fnmr_reps, stats.confidence_level, min_subjects=stats.min_group_subjects)
        keys = ["threshold_name", "attribute", "measure"]
        fairness = fairness.merge(boot[[*keys, *BOOTSTRAP_SUMMARY_COLUMNS]], on=keys, how="left")
    if groups.names:
        _, ser = skewed_error_ratio_summary(pairs, groups, min_subjects=stats.min_group_subjects)
        fairness = pd.concat([fairness, ser], ignore_index=True)
    tests = group_tests(
        pairs, groups, thresholds, min_subjects=stats.min_group_subjects, n_permutations=stats.permutations,
        seed=stats.seed,
    ) if groups.names else None
    det, histograms, cross = curve_tables(pairs, groups, thresholds, stats.confidence_level)
    return Measures(
        points=points,
        per_group=per_group,
        fairness=fairness,
        threshold_table=resolved_threshold_table(threshold_rows, per_group),
        det=det,
        cross_group=cross,
        histograms=histograms,
        per_group_thresholds=per_group_thr,
        fold_accuracy=accuracy,
        group_tests=tests,
        # listed pairs keep every score, so the optimistic best-threshold accuracy can be found too
        accuracy=accuracy_table(per_group, pairs),
        label_noise=label_noise,
        notes=notes,
    )


def _rates(
    config: Config, pairs: pd.DataFrame, groups: Groups, points: OperatingPoints
) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
    """The per-group table at ``points`` and, with a bootstrap, its FMR and FNMR replicates."""
    stats = config.stats
    thresholds = points.values()
    table = per_group_rates(
        pairs, groups, thresholds, level=stats.confidence_level, targets=points.fmr_targets(),
        min_subjects=stats.min_group_subjects,
    )
    if not stats.bootstrap:
        return table, None, None
    fmr_reps, fnmr_reps = bootstrap_replicates(pairs, groups, thresholds, stats.bootstrap, stats.seed)
    return add_bootstrap_intervals(table, fmr_reps, fnmr_reps, stats.confidence_level), fmr_reps, fnmr_reps


def add_threshold_uncertainty(
    config: Config, pairs: pd.DataFrame, groups: Groups, points: OperatingPoints, table: pd.DataFrame
) -> pd.DataFrame:
    """``table`` with ``fnmr_tboot_*``/``fmr_tboot_*``: bootstrap intervals in which every replicate
    re-sets each target-FMR threshold on its own resampled impostors, so that they include the
    calibration's noise (fixed thresholds stay fixed; same subject draws as the plain bootstrap)."""
    stats = config.stats
    reps = threshold_bootstrap_replicates(pairs, groups, points.values(), points.fmr_targets(), stats.bootstrap, stats.seed)
    out = table.copy()
    for kind, values in (("fnmr", reps.fnmr), ("fmr", reps.fmr)):
        interval = bootstrap_interval(values, stats.confidence_level)
        out[f"{kind}_tboot_low"] = interval["ci_low"].to_numpy()
        out[f"{kind}_tboot_high"] = interval["ci_high"].to_numpy()
    return out


def fold_calibrated_rates(
    config: Config, pairs: pd.DataFrame, groups: Groups, target_fmr: float
) -> tuple[pd.DataFrame, list[dict]]:
    """Per-group rates where each fold is decided at a threshold set on the *other* folds.

    Each held-out fold's scores are shifted by its own threshold, so one threshold of 0 decides
    every pair as its fold's threshold would (for IEEE floats, ``s - t >= 0`` exactly when
    ``s >= t``); counts are then pooled over folds. The ``threshold`` column is NaN because it
    varies by fold; the per-fold values are in thresholds.csv.
    """
    ok = pairs["ok"].to_numpy()
    scored = pairs.loc[ok]
    folds = scored["fold"].astype(int).to_numpy()
    per_fold = fold_calibrated(scored["score"], scored["mated"], folds, target_fmr)
    shifted = pairs.copy()
    shifted.loc[ok, "score"] = scored["score"].to_numpy() - per_fold.loc[folds].to_numpy()
    # every shifted score is decided at 0, its own fold's threshold
    table, _, _ = _rates(config, shifted, groups, OperatingPoints([Threshold.fold_calibrated(target_fmr, 0.0)]))
    table["threshold"] = np.nan
    nonmated = ~scored["mated"].to_numpy(dtype=bool)
    scores = scored["score"].to_numpy(dtype=float)
    rows = []
    for f, t in per_fold.items():
        # each fold's calibration set: the other folds' impostors, and what its threshold lets through there
        calibration = scores[nonmated & (folds != f)]
        row = threshold_row(Threshold.fold_calibrated(target_fmr, float(t), str(int(f))))
        rows.append({**row, "n_nonmated": calibration.size, "n_fm_achieved": int((calibration >= t).sum())})
    return table, rows


def curve_tables(
    pairs: pd.DataFrame, groups: Groups, thresholds: Mapping[str, float], level: float = 0.95
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """DET points, score histograms and the cross-group FMR matrix of listed, scored pairs.

    Without grouping attributes the DET points and histograms are those of all pairs and the
    cross-group matrix is empty.
    """
    dets = [det_by_group(pairs, groups, name) for name in groups.names] or [det_by_group(pairs, groups, None)]
    hists = [score_histograms(pairs, groups, name) for name in groups.names] or [score_histograms(pairs, groups, None)]
    hist = pd.concat(hists, ignore_index=True)
    # score_histograms repeats the all/all rows for every attribute; keep them once.
    is_all = hist["attribute"] == ALL
    hist = pd.concat([hist[is_all].drop_duplicates(subset=["mated", "bin_low"]), hist[~is_all]], ignore_index=True)
    cross = cross_group_from_cells(cross_group_cells(pairs, groups, thresholds), level)
    return pd.concat(dets, ignore_index=True), hist, cross


def det_by_group(pairs: pd.DataFrame, groups: Groups, name: str | None) -> pd.DataFrame:
    """DET points of all pairs and of every group of ``name`` (pairs with both sides in the group).

    A group with only mated or only non-mated scored pairs has no curve and is left out; ``name``
    None gives the curve of all pairs alone (attribute ``all``).
    """
    score = pairs["score"].to_numpy(dtype=float)
    mated = pairs["mated"].to_numpy(dtype=bool)
    ok = pairs["ok"].to_numpy(dtype=bool)
    units = [(ALL, ok)]
    if name is not None:
        units += groups.pair_groups(pairs, name, among=ok)
    parts = []
    for group, mask in units:
        if mated[mask].any() and (~mated[mask]).any():
            points = det_points(score[mask], mated[mask])
            points.insert(0, "group", group)
            points.insert(0, "attribute", ALL if name is None else name)
            parts.append(points)
    columns = ["attribute", "group", "threshold", "fmr", "fnmr"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
