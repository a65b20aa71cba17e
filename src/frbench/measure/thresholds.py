"""A run's named thresholds: how the config sets them, what thresholds.csv records, which one heads the report.

Each threshold is a :class:`frbench.points.Threshold`, named where it is set (the names are
documented in :mod:`frbench.points`): ``deepface_default``, ``fmr=1e-03`` for a global threshold
set at a target FMR, ``fixed=<v>``, and ``fold:fmr=1e-03`` for fold-calibrated rows, each fold
decided at a threshold set on the other folds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.errors import DatasetError
from frbench.groups import ALL
from frbench.metrics.power import threshold_resolution
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.points import ALL_FOLDS, OperatingPoints, Threshold
from frbench.scoring.similarity import deepface_default_threshold


def global_thresholds(config: Config, pairs: pd.DataFrame) -> OperatingPoints:
    """Named similarity thresholds: deepface's default, global ones at target FMRs, fixed values.

    Target-FMR thresholds are set once on all scored non-mated pairs of the run (NIST FRVT
    Part 3), then applied to every group.
    """
    default, fixed = preset_thresholds(config)
    nonmated = pairs.loc[pairs["ok"] & ~pairs["mated"], "score"].to_numpy()
    targets = []
    for target in config.thresholds.target_fmr:
        if len(nonmated) == 0:
            raise DatasetError("no scored non-mated pairs: cannot set a threshold at a target FMR")
        targets.append(Threshold.at_target_fmr(target, threshold_at_fmr(nonmated, target)))
    return default + OperatingPoints(targets) + fixed


def preset_thresholds(config: Config) -> tuple[OperatingPoints, OperatingPoints]:
    """The thresholds known before any score: deepface's default (none for imported scores) and fixed values."""
    default = []
    if config.thresholds.deepface_default and not config.model.imports_scores:
        default.append(Threshold.deepface_default(
            deepface_default_threshold(config.model.name, config.model.distance_metric)
        ))
    return OperatingPoints(default), OperatingPoints(Threshold.fixed(value) for value in config.thresholds.fixed)


THRESHOLD_TABLE_COLUMNS = ["threshold_name", "fold", "target_fmr", "threshold"]


def threshold_table(points: OperatingPoints) -> list[dict[str, object]]:
    """Rows of thresholds.csv, one per threshold (:func:`threshold_row`)."""
    return [threshold_row(p) for p in points]


def threshold_row(point: Threshold) -> dict[str, object]:
    """A threshold's row of thresholds.csv: its name, fold (``all`` for a global one), target FMR and similarity."""
    return {"threshold_name": point.name, "fold": point.fold, "target_fmr": point.target, "threshold": point.value}


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
    glob = (table["fold"] == ALL_FOLDS).to_numpy()
    names = table["threshold_name"]
    n = np.where(glob, overall["n_nonmated"].reindex(names).fillna(0).to_numpy(dtype=float),
                 table["n_nonmated"].to_numpy(dtype=float))
    achieved = np.where(glob, overall["n_fm"].reindex(names).to_numpy(dtype=float),
                        table["n_fm_achieved"].to_numpy(dtype=float))
    resolution = threshold_resolution(
        names.tolist(), table["target_fmr"].to_numpy(dtype=float), np.nan_to_num(n), achieved,
    ).drop(columns=["threshold_name", "target_fmr"])
    return pd.concat([table[THRESHOLD_TABLE_COLUMNS].reset_index(drop=True), resolution], axis=1)


def primary_threshold(thresholds: Mapping[str, float], threshold_table: pd.DataFrame) -> str | None:
    """The threshold headline tables and plots use: the strictest target-FMR threshold whose target
    this run's impostors resolve (k >= 1 false matches allowed, per ``threshold_table``), else the
    first threshold that is not set at a target, else the first.

    ``threshold_table`` is :func:`resolved_threshold_table`'s: its global rows (``fold`` ``all``)
    carry each threshold's target (``target_fmr``, NaN where it has none, from
    :attr:`frbench.points.Threshold.target`) and whether it resolves. An unresolvable target's
    threshold sits above every impostor score, so every cross-group cell would be 0 there by
    construction: it is never the headline.
    """
    rows = threshold_table[threshold_table["fold"] == ALL_FOLDS].drop_duplicates("threshold_name")
    target = dict(zip(rows["threshold_name"], rows["target_fmr"].astype(float)))
    resolvable = dict(zip(rows["threshold_name"], rows["resolvable"] == True))  # noqa: E712
    aimed = [n for n in thresholds if not math.isnan(target.get(n, math.nan))]
    ok = [n for n in aimed if resolvable.get(n, False)]
    if ok:
        return min(ok, key=target.__getitem__)
    fixed = [n for n in thresholds if n not in aimed]
    return fixed[0] if fixed else next(iter(thresholds), None)
