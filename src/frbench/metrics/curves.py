"""Curves and matrices behind the plots: DET points, cross-group FMR, score histograms.

All follow frbench's score convention: similarity, match iff score >= threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from frbench.groups import ALL, Groups
from frbench.metrics.counts import pair_arrays
from frbench.metrics.intervals import clopper_pearson
from frbench.metrics.rates import as_scores_and_labels, error_counts, rate


def det_points(scores: ArrayLike, mated: ArrayLike) -> pd.DataFrame:
    """FMR and FNMR at every distinct score used as the threshold (a DET / ROC curve).

    Parameters
    ----------
    scores, mated : arrays of shape (n,)
        Finite similarities and their mated labels; both classes must be present.

    Returns
    -------
    DataFrame with columns ``threshold, fmr, fnmr``: one row per distinct score, ascending (at the
    lowest every comparison matches: FMR 1, FNMR 0), then a last row at threshold +inf (nothing
    matches: FMR 0, FNMR 1). The FMR equals sklearn's ``roc_curve(...)[0]`` (false positive
    rate) and the FNMR sklearn's ``det_curve(...)[1]`` at the same thresholds, exactly.
    """
    s, y = as_scores_and_labels(scores, mated)
    if y.all() or not y.any():
        raise ValueError("a DET curve needs both mated and non-mated scores")
    thresholds = np.append(np.unique(s), np.inf)
    n_fm, n_nonmated, n_fnm, n_mated = error_counts(s, y, thresholds)
    return pd.DataFrame({"threshold": thresholds, "fmr": n_fm / n_nonmated, "fnmr": n_fnm / n_mated})


CROSS_GROUP_COLUMNS = (
    "attribute", "threshold_name", "threshold", "g_a", "g_b", "n_nonmated", "n_fm", "fmr", "fmr_ci_low", "fmr_ci_high",
)


def cross_group_from_cells(cells: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """FMR of non-mated pairs between every ordered pair of groups (g_a, g_b), from unordered cells.

    ``cells`` holds one row per threshold x attribute x unordered cell {group_a, group_b} with
    ``n_nonmated`` and ``n_fm`` (:func:`frbench.metrics.counts.cross_group_cells` for listed pairs,
    :func:`frbench.scoring.exhaustive.cell_counts` for the exhaustive protocol; ``all`` rows are
    ignored). The matrix is symmetric: a cell {g, h}, g != h, fills both (g, h) and (h, g); a cell
    {g, g} fills (g, g) once, which therefore equals the group's FMR in the per-group table (NIST
    FRVT Part 3's cross-group impostor matrix).

    Returns
    -------
    DataFrame with ``CROSS_GROUP_COLUMNS``: attributes and thresholds in the order they first
    appear in ``cells``, then ``g_a``, ``g_b`` sorted; Clopper-Pearson intervals at ``level``; a
    cell without pairs has n_nonmated 0 and NaN rates.
    """
    part = cells[cells["attribute"] != ALL]
    swapped = part[part["group_a"] != part["group_b"]].rename(columns={"group_a": "group_b", "group_b": "group_a"})
    both = pd.concat([part, swapped], ignore_index=True).rename(columns={"group_a": "g_a", "group_b": "g_b"})
    order = {
        "attribute": {a: i for i, a in enumerate(pd.unique(part["attribute"]))},
        "threshold_name": {t: i for i, t in enumerate(pd.unique(part["threshold_name"]))},
    }
    both = both.sort_values(
        ["attribute", "threshold_name", "g_a", "g_b"], kind="stable",
        key=lambda col: col.map(order[col.name]) if col.name in order else col,
    ).reset_index(drop=True)
    n, k = both["n_nonmated"].to_numpy(), both["n_fm"].to_numpy()
    both["fmr"] = rate(k, n)
    both["fmr_ci_low"], both["fmr_ci_high"] = clopper_pearson(k, n, level)
    return both[list(CROSS_GROUP_COLUMNS)]


def score_histograms(pairs: pd.DataFrame, groups: Groups, attribute: str | None, bins: int = 50) -> pd.DataFrame:
    """Histograms of scored similarities per group of ``attribute`` and per mated / non-mated.

    All histograms share one set of ``bins`` equal-width bins spanning every scored pair, so
    groups can be overlaid. Groups follow the per-group rule (both sides in g); an ``all`` / ``all``
    histogram of every scored pair comes first (alone when ``attribute`` is None).

    Returns
    -------
    DataFrame with columns ``attribute, group, mated, bin_low, bin_high, count, density``
    (density integrates to 1 within each attribute, group and mated value).
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    score, mated, ok = pair_arrays(pairs)
    if not ok.any():
        raise ValueError("no scored pairs to draw histograms from")
    edges = np.histogram_bin_edges(score[ok], bins=bins)
    units = [(ALL, ALL, ok)]
    if attribute is not None:
        units += [(attribute, g, mask) for g, mask in groups.pair_groups(pairs, attribute, among=ok)]
    parts = []
    for attr, group, mask in units:
        for is_mated in (True, False):
            count, _ = np.histogram(score[mask & (mated == is_mated)], bins=edges)
            total = count.sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                density = count / (total * np.diff(edges)) if total else np.full(count.shape, np.nan)
            parts.append(
                pd.DataFrame(
                    {
                        "attribute": attr,
                        "group": group,
                        "mated": is_mated,
                        "bin_low": edges[:-1],
                        "bin_high": edges[1:],
                        "count": count,
                        "density": density,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)
