"""From scored pairs to every table a run reports: thresholds, per-group rates, fairness, folds.

``measure`` applies the config's threshold policy to a scored PairTable (columns ``score``,
``mated``, ``ok``, ``subject_a/b``, ``<attr>_a/b`` and optionally ``fold``) and returns the tidy
tables; it does no I/O, so it serves file, generated and imported-score runs alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.errors import DatasetError
from frbench.metrics.fairness import fairness_bootstrap, fairness_summary
from frbench.metrics.grouped import bootstrap_replicates, per_group_rates, per_group_thresholds
from frbench.metrics.thresholds import fold_accuracy, fold_calibrated, threshold_at_fmr
from frbench.scoring import deepface_default_threshold

FOLD_PREFIX = "fold:"


@dataclass
class Measures:
    """The tables of one run. ``thresholds`` maps each global threshold name to its similarity."""

    thresholds: dict[str, float]
    per_group: pd.DataFrame
    fairness: pd.DataFrame
    threshold_table: pd.DataFrame
    per_group_thresholds: pd.DataFrame | None = None
    fold_accuracy: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    # accuracy.csv (frbench.metrics.accuracy.accuracy_table); set by the run once the protocol's tables exist
    accuracy: pd.DataFrame | None = None


def threshold_name(target: float) -> str:
    return f"fmr={target:.0e}"


def global_thresholds(config: Config, pairs: pd.DataFrame) -> dict[str, float]:
    """Named similarity thresholds: deepface's default, global ones at target FMRs, fixed values.

    Target-FMR thresholds are set once on all scored non-mated pairs of the run (NIST FRVT
    Part 3), then applied to every group.
    """
    default, fixed = preset_thresholds(config)
    thresholds = dict(default)
    nonmated = pairs.loc[pairs["ok"] & ~pairs["mated"], "score"].to_numpy()
    for target in config.thresholds.target_fmr:
        if len(nonmated) == 0:
            raise DatasetError("no scored non-mated pairs: cannot set a threshold at a target FMR")
        thresholds[threshold_name(target)] = threshold_at_fmr(nonmated, target)
    return {**thresholds, **fixed}


def preset_thresholds(config: Config) -> tuple[dict[str, float], dict[str, float]]:
    """The thresholds known before any score: deepface's default (none for imported scores) and fixed values."""
    default: dict[str, float] = {}
    if config.thresholds.deepface_default and config.model.name != "scores":
        default["deepface_default"] = deepface_default_threshold(config.model.name, config.model.distance_metric)
    return default, {f"fixed={value:g}": float(value) for value in config.thresholds.fixed}


def threshold_table(thresholds: dict[str, float]) -> list[dict[str, object]]:
    """Rows of thresholds.csv for global thresholds (``fold`` is ``all``)."""
    return [{"threshold_name": n, "fold": "all", "target_fmr": target_of(n), "threshold": v} for n, v in thresholds.items()]


def measure(config: Config, pairs: pd.DataFrame) -> Measures:
    """All thresholds and grouped tables of a run, from its scored pairs."""
    thresholds = global_thresholds(config, pairs)
    target = min(config.thresholds.target_fmr) if config.thresholds.target_fmr else None
    common = dict(
        attributes=config.groups,
        intersections=config.intersections,
        level=config.stats.confidence_level,
        target_fmr=target,
        bootstrap=config.stats.bootstrap,
        seed=config.stats.seed,
    )
    tables = [per_group_rates(pairs, thresholds=thresholds, **common)]
    threshold_rows = threshold_table(thresholds)
    measures = Measures(thresholds, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())

    folds = pairs["fold"].dropna().unique() if "fold" in pairs else []
    if config.thresholds.fold_calibrated and len(folds) >= 2:
        for target_fmr in config.thresholds.target_fmr:
            table, per_fold = fold_calibrated_rates(pairs, target_fmr, common)
            tables.append(table)
            threshold_rows += per_fold
        ok = pairs["ok"].to_numpy()
        measures.fold_accuracy = fold_accuracy(
            pairs.loc[ok, "score"], pairs.loc[ok, "mated"], pairs.loc[ok, "fold"].astype(int)
        )
    elif config.thresholds.fold_calibrated and "fold" in pairs:
        measures.notes.append("Fold-calibrated thresholds need at least two folds; this run has one.")

    if config.thresholds.per_group and config.thresholds.target_fmr:
        measures.per_group_thresholds = pd.concat(
            [per_group_thresholds(pairs, config.groups, config.intersections, t) for t in config.thresholds.target_fmr],
            ignore_index=True,
        )
    measures.per_group = mark_underpowered(pd.concat(tables, ignore_index=True), target)
    measures.fairness = fairness_summary(measures.per_group)
    if config.stats.bootstrap:
        # Intervals for the fairness summaries at the global thresholds, from the same subject
        # resamples (same seed) as the per-group bootstrap intervals.
        fmr_reps, fnmr_reps = bootstrap_replicates(
            pairs, config.groups, config.intersections, thresholds, config.stats.bootstrap, config.stats.seed
        )
        boot = fairness_bootstrap(tables[0], fmr_reps, fnmr_reps, config.stats.confidence_level)
        keys = ["threshold_name", "attribute", "measure"]
        measures.fairness = measures.fairness.merge(boot[[*keys, "ci_low", "ci_high"]], on=keys, how="left")
    measures.threshold_table = pd.DataFrame(threshold_rows, columns=["threshold_name", "fold", "target_fmr", "threshold"])
    return measures


def fold_calibrated_rates(
    pairs: pd.DataFrame, target_fmr: float, common: dict
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
    name = FOLD_PREFIX + threshold_name(target_fmr)
    table = per_group_rates(shifted, thresholds={name: 0.0}, **common)
    table["threshold"] = np.nan
    rows = [
        {"threshold_name": name, "fold": str(int(f)), "target_fmr": target_fmr, "threshold": float(t)}
        for f, t in per_fold.items()
    ]
    return table, rows


def mark_underpowered(per_group: pd.DataFrame, default_target: float | None) -> pd.DataFrame:
    """Flag rows whose non-mated pairs cannot resolve the FMR their threshold aims at.

    Rule of three: with n non-mated pairs and no false match, the 95% upper bound on FMR is
    about 3/n, so a group with 3/n above the target cannot show it meets the target. A row of a
    target-FMR threshold (``fmr=1e-05``, ``fold:fmr=1e-05``) is judged against its own target;
    other rows (deepface's default, fixed values) against the strictest target of the run.
    """
    out = per_group.copy()
    names = out["threshold_name"].str.removeprefix(FOLD_PREFIX)
    own = pd.to_numeric(names.where(names.str.startswith("fmr=")).str.removeprefix("fmr="), errors="coerce")
    target = own.fillna(default_target if default_target is not None else np.nan).to_numpy()
    n = out["n_nonmated"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["underpowered"] = (n == 0) | (3.0 / np.where(n > 0, n, 1) > np.nan_to_num(target, nan=np.inf))
    return out


def target_of(name: str) -> float:
    """The target FMR a threshold name aims at (``fmr=1e-03`` -> 0.001), NaN for other thresholds."""
    return float(name.removeprefix("fmr=")) if name.startswith("fmr=") else float("nan")
