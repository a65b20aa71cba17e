"""False-match and false-non-match rates at decision thresholds.

A comparison is declared a match when its similarity score is >= the threshold
(docs/ARCHITECTURE.md). With m mated and n non-mated comparisons (ISO/IEC 19795-1):

    FMR(t)  = #{non-mated scores >= t} / n
    FNMR(t) = #{mated scores < t} / m

Counts for many thresholds come from one sort and a binary search per threshold, as in
sklearn.metrics._ranking._binary_clf_curve.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_scores_and_labels(scores: ArrayLike, mated: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Validate a score vector and its mated labels: 1-D, same length, finite scores, boolean labels.

    ``mated`` may be bool or 0/1 integers. Failed comparisons (NaN scores) must be removed by the
    caller, because whether they count as errors is a reporting decision, not a rate.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(mated)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"scores and mated must be 1-D, got shapes {s.shape} and {y.shape}")
    if s.shape != y.shape:
        raise ValueError(f"scores and mated differ in length: {s.size} and {y.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores contain {int(np.sum(~np.isfinite(s)))} non-finite value(s); drop failed pairs first")
    if y.dtype != np.bool_:
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError("mated must be boolean (or 0/1)")
        y = y.astype(bool)
    return s, y


def rate(k: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """``k / n`` elementwise, NaN where ``n`` is 0: the one division behind every reported rate.

    A rate over no comparisons is undefined, not 0 (and not an error): it is reported as missing.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, k / np.where(n > 0, n, 1.0), np.nan)


def _as_thresholds(thresholds: ArrayLike) -> NDArray[np.float64]:
    t = np.asarray(thresholds, dtype=np.float64)
    if np.any(np.isnan(t)):
        raise ValueError("thresholds contain NaN")
    return t


def error_counts(
    scores: ArrayLike, mated: ArrayLike, thresholds: ArrayLike
) -> tuple[NDArray[np.int64], int, NDArray[np.int64], int]:
    """Error counts at each threshold.

    Parameters
    ----------
    scores : array of shape (n,)
        Similarity scores (higher = more alike), all finite.
    mated : array of shape (n,)
        True for mated (same subject) comparisons.
    thresholds : scalar or array
        Decision thresholds; +/-inf are allowed.

    Returns
    -------
    n_fm : int array shaped like ``thresholds``
        Non-mated scores >= threshold (false matches).
    n_nonmated : int
    n_fnm : int array shaped like ``thresholds``
        Mated scores < threshold (false non-matches).
    n_mated : int
    """
    s, y = as_scores_and_labels(scores, mated)
    t = _as_thresholds(thresholds)
    nonmated = np.sort(s[~y])
    genuine = np.sort(s[y])
    # side="left" counts scores strictly below t, so a score equal to t is a match.
    n_fm = nonmated.size - np.searchsorted(nonmated, t, side="left")
    n_fnm = np.searchsorted(genuine, t, side="left")
    return np.asarray(n_fm, dtype=np.int64), int(nonmated.size), np.asarray(n_fnm, dtype=np.int64), int(genuine.size)


def fmr(scores: ArrayLike, mated: ArrayLike, thresholds: ArrayLike) -> NDArray[np.float64]:
    """False-match rate at each threshold; NaN when there are no non-mated scores."""
    n_fm, n_nonmated, _, _ = error_counts(scores, mated, thresholds)
    return n_fm / n_nonmated if n_nonmated else np.full(n_fm.shape, np.nan)


def fnmr(scores: ArrayLike, mated: ArrayLike, thresholds: ArrayLike) -> NDArray[np.float64]:
    """False-non-match rate at each threshold; NaN when there are no mated scores."""
    _, _, n_fnm, n_mated = error_counts(scores, mated, thresholds)
    return n_fnm / n_mated if n_mated else np.full(n_fnm.shape, np.nan)
