"""Curves and matrices behind the plots: DET points, cross-group FMR, score histograms.

All follow frbench's score convention: similarity, match iff score >= threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from frbench.metrics.grouped import ALL, pair_arrays, group_labels
from frbench.metrics.intervals import clopper_pearson
from frbench.metrics.rates import as_scores_and_labels, error_counts


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


def cross_group_fmr(pairs: pd.DataFrame, attribute: str, threshold: float, level: float = 0.95) -> pd.DataFrame:
    """FMR of non-mated pairs between every ordered pair of groups (g_a, g_b) of ``attribute``.

    The order of the two images in a verification pair carries no meaning (LFW's pairs.txt lists
    them arbitrarily), so the matrix is made symmetric: a non-mated pair with sides in groups g and
    h, g != h, counts in both cell (g, h) and cell (h, g); a pair with both sides in g counts once,
    in (g, g), which therefore equals the group's FMR in the per-group table (NIST FRVT Part 3's
    cross-group impostor matrix). Only scored (ok) non-mated pairs enter.

    Returns
    -------
    DataFrame with one row per cell, all groups x all groups sorted by name, columns
    ``g_a, g_b, n_nonmated, n_fm, fmr, fmr_ci_low, fmr_ci_high`` (Clopper-Pearson at ``level``);
    a cell without pairs has n_nonmated 0 and NaN rates.
    """
    if np.isnan(threshold):
        raise ValueError("threshold is NaN")
    score, mated, ok = pair_arrays(pairs)
    la, lb = group_labels(pairs, attribute)
    keep = ok & ~mated
    la, lb, score = la[keep], lb[keep], score[keep]
    groups = np.array(sorted(set(la) | set(lb)), dtype=object)
    g = groups.size
    ca = np.searchsorted(groups, la)
    cb = np.searchsorted(groups, lb)
    false_match = score >= threshold

    def symmetric_counts(weights: np.ndarray) -> np.ndarray:
        m = np.bincount(ca * g + cb, weights=weights, minlength=g * g).reshape(g, g)
        return (m + m.T - np.diag(np.diag(m))).astype(np.int64)

    n = symmetric_counts(np.ones(ca.size)).ravel()
    k = symmetric_counts(false_match.astype(np.float64)).ravel()
    low, high = clopper_pearson(k, n, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return pd.DataFrame(
        {
            "g_a": np.repeat(groups, g),
            "g_b": np.tile(groups, g),
            "n_nonmated": n,
            "n_fm": k,
            "fmr": rate,
            "fmr_ci_low": low,
            "fmr_ci_high": high,
        }
    )


def score_histograms(pairs: pd.DataFrame, attribute: str, bins: int = 50) -> pd.DataFrame:
    """Histograms of scored similarities per group of ``attribute`` and per mated / non-mated.

    All histograms share one set of ``bins`` equal-width bins spanning every scored pair, so
    groups can be overlaid. Groups follow the per-group rule (both sides in g); an ``all`` / ``all``
    histogram of every scored pair comes first.

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
    la, lb = group_labels(pairs, attribute)
    same = la == lb
    units = [(ALL, ALL, ok)] + [(attribute, g, ok & same & (la == g)) for g in sorted(set(la[same & ok]))]
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
