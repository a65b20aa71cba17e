"""FMR(T) and FNMR(T) per group, with Clopper-Pearson bands: NIST FRTE's demographic plots of the
error rates against the threshold, from the DET points a run already has.

A DET table (:func:`frbench.metrics.curves.det_points`, or the exhaustive protocol's histogram
edges) holds each group's FMR and FNMR at its thresholds; with the group's scored non-mated and
mated pair counts n (per_group.csv) the error counts are k = round(rate x n), exact because each
rate was computed as k / n. Each point then gets its exact binomial interval (Clopper & Pearson
1934) over pairs; like every Clopper-Pearson interval in frbench it treats pairs as independent,
which pairs sharing a subject are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from frbench.groups import ALL
from frbench.metrics.intervals import clopper_pearson

CURVE_COLUMNS = (
    "attribute", "group", "threshold", "n_nonmated", "n_fm", "fmr", "fmr_ci_low", "fmr_ci_high",
    "n_mated", "n_fnm", "fnmr", "fnmr_ci_low", "fnmr_ci_high",
)
MAX_POINTS = 400


def rates_against_threshold(
    det: pd.DataFrame, sizes: pd.DataFrame, level: float = 0.95, max_points: int = MAX_POINTS
) -> pd.DataFrame:
    """rates_vs_threshold.csv: per attribute x group, FMR and FNMR at thresholds with their intervals.

    Parameters
    ----------
    det : ``attribute, group, threshold, fmr, fnmr`` (det_points.csv).
    sizes : one row per attribute x group with ``n_mated, n_nonmated`` (per_group.csv at any one
        threshold); the ``all`` row has attribute and group ``all``.
    max_points : at most this many thresholds per group, evenly spaced along its curve, the first
        and last kept (the curve is a step function; the CSV is for plotting).

    Returns
    -------
    DataFrame with ``CURVE_COLUMNS``, rows as in ``det`` (each attribute's curves include the
    ``all`` curve, group ``all``), infinite thresholds left out.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    n = sizes.drop_duplicates(["attribute", "group"]).set_index(["attribute", "group"])[["n_mated", "n_nonmated"]]
    parts = []
    for (attribute, group), part in det.groupby(["attribute", "group"], sort=False):
        part = part[np.isfinite(part["threshold"].to_numpy(dtype=float))]
        key = (ALL, ALL) if group == ALL else (attribute, group)  # each attribute's curves repeat the all curve
        if key not in n.index or part.empty:
            continue
        if len(part) > max_points:
            part = part.iloc[np.unique(np.linspace(0, len(part) - 1, max_points).round().astype(int))]
        n_mated, n_nonmated = (int(v) for v in n.loc[key])
        k_fm = np.rint(part["fmr"].to_numpy(dtype=float) * n_nonmated)
        k_fnm = np.rint(part["fnmr"].to_numpy(dtype=float) * n_mated)
        fm_low, fm_high = clopper_pearson(k_fm, np.full(k_fm.shape, n_nonmated), level)
        fnm_low, fnm_high = clopper_pearson(k_fnm, np.full(k_fnm.shape, n_mated), level)
        parts.append(pd.DataFrame({
            "attribute": attribute, "group": group, "threshold": part["threshold"].to_numpy(dtype=float),
            "n_nonmated": n_nonmated, "n_fm": k_fm.astype(np.int64), "fmr": part["fmr"].to_numpy(dtype=float),
            "fmr_ci_low": fm_low, "fmr_ci_high": fm_high,
            "n_mated": n_mated, "n_fnm": k_fnm.astype(np.int64), "fnmr": part["fnmr"].to_numpy(dtype=float),
            "fnmr_ci_low": fnm_low, "fnmr_ci_high": fnm_high,
        }))
    if not parts:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(CURVE_COLUMNS)]
