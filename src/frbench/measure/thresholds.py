"""A run's named thresholds: what they are called, what they aim at, and how the config sets them.

Names (used in every table): ``deepface_default``; ``fmr=1e-03`` for a global threshold set at a
target FMR (``f"fmr={f:.0e}"``); ``fixed=<v>``; and ``fold:fmr=1e-03`` for fold-calibrated rows,
each fold decided at a threshold set on the other folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from frbench.config import IMPORTED_SCORES, Config
from frbench.errors import DatasetError
from frbench.groups import ALL
from frbench.metrics.power import threshold_resolution
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.scoring.similarity import deepface_default_threshold

FOLD_PREFIX = "fold:"
TARGET_PREFIX = "fmr="


def threshold_name(target: float) -> str:
    return f"{TARGET_PREFIX}{target:.0e}"


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
    if config.thresholds.deepface_default and config.model.name != IMPORTED_SCORES:
        default["deepface_default"] = deepface_default_threshold(config.model.name, config.model.distance_metric)
    return default, {f"fixed={value:g}": float(value) for value in config.thresholds.fixed}


THRESHOLD_TABLE_COLUMNS = ["threshold_name", "fold", "target_fmr", "threshold"]


def threshold_table(thresholds: dict[str, float]) -> list[dict[str, object]]:
    """Rows of thresholds.csv for global thresholds (``fold`` is ``all``)."""
    return [{"threshold_name": n, "fold": "all", "target_fmr": target_of(n), "threshold": v} for n, v in thresholds.items()]


def resolved_threshold_table(rows: list[dict[str, object]], per_group: pd.DataFrame) -> pd.DataFrame:
    """thresholds.csv: every threshold row with what its target can mean on its calibration set.

    Each row gets ``n_nonmated`` it was set on, ``k_allowed`` = floor(target x n), ``n_fm_achieved``
    (false matches it gives on those pairs), ``resolvable`` (k >= 1 and 1 <= achieved <= k) and
    the ``label`` a report prints (:func:`frbench.metrics.power.threshold_resolution`): an
    unresolvable target reads "above every impostor score", never "FMR 1e-3". A global threshold
    (``fold`` ``all``) was set on the run's ``all`` row; a fold's row carries its own calibration
    set (the other folds' impostors) in ``n_nonmated`` and ``n_fm_achieved``.
    """
    table = pd.DataFrame(rows)
    for column in ("n_nonmated", "n_fm_achieved"):
        if column not in table:
            table[column] = float("nan")
    overall = per_group[per_group["attribute"] == ALL].drop_duplicates("threshold_name").set_index("threshold_name")
    glob = (table["fold"] == "all").to_numpy()
    names = table["threshold_name"]
    n = np.where(glob, overall["n_nonmated"].reindex(names).fillna(0).to_numpy(dtype=float),
                 table["n_nonmated"].to_numpy(dtype=float))
    achieved = np.where(glob, overall["n_fm"].reindex(names).to_numpy(dtype=float),
                        table["n_fm_achieved"].to_numpy(dtype=float))
    resolution = threshold_resolution(
        names.tolist(), table["target_fmr"].to_numpy(dtype=float), np.nan_to_num(n), achieved,
    ).drop(columns=["threshold_name", "target_fmr"])
    return pd.concat([table[THRESHOLD_TABLE_COLUMNS].reset_index(drop=True), resolution], axis=1)


def target_of(name: str) -> float:
    """The target FMR a threshold name aims at (``fmr=1e-03`` and ``fold:fmr=1e-03`` -> 0.001), else NaN."""
    name = name.removeprefix(FOLD_PREFIX)
    return float(name.removeprefix(TARGET_PREFIX)) if name.startswith(TARGET_PREFIX) else float("nan")


def targets_of(names: list[str] | pd.Series) -> dict[str, float]:
    """``{name: target FMR}`` for the names that aim at one."""
    return {n: target_of(n) for n in dict.fromkeys(names) if n.removeprefix(FOLD_PREFIX).startswith(TARGET_PREFIX)}


def primary_threshold(thresholds: dict[str, float], threshold_table: pd.DataFrame | None = None) -> str | None:
    """The threshold headline tables and plots use: the strictest target-FMR threshold whose target
    this run's impostors resolve (k >= 1 false matches allowed, per ``threshold_table``), else the
    first threshold that is not set at a target, else the first.

    An unresolvable target's threshold sits above every impostor score, so every cross-group cell
    would be 0 there by construction: it is never the headline.
    """
    targets = targets_of(list(thresholds))
    if threshold_table is not None and "resolvable" in threshold_table:
        ok = threshold_table[(threshold_table["fold"] == "all") & (threshold_table["resolvable"] == True)]  # noqa: E712
        targets = {n: f for n, f in targets.items() if n in set(ok["threshold_name"])}
        if not targets:
            fixed = [n for n in thresholds if n not in targets_of(list(thresholds))]
            return fixed[0] if fixed else next(iter(thresholds), None)
    if targets:
        return min(targets, key=targets.__getitem__)
    return next(iter(thresholds), None)
