"""Decision thresholds: at a target FMR, at best accuracy, and calibrated across folds.

Threshold at a target FMR (docs/ARCHITECTURE.md; NIST FRVT Part 3 sets one such threshold on all
non-mated scores): with n non-mated similarities sorted descending, s_(1) >= ... >= s_(n), and
target f, let k = floor(f * n). The threshold is the smallest float strictly above s_(k+1), so

    FMR(t) = #{s >= t} / n <= k / n <= f,

and every score tied with s_(k+1) is rejected (the achieved FMR can then fall below k / n). If
k >= n every score may match and the threshold is min(s).

deepface's own default thresholds live in :func:`frbench.scoring.similarity.deepface_default_threshold`.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from frbench.metrics.rates import as_scores_and_labels, error_counts


def _allowed_false_matches(target: float, n: int) -> int:
    """k = floor(target * n), computed so that k / n <= target holds in floating point.

    The plain product can land just below an integer (0.29 * 100 = 28.999999999999996), which
    would reject one more score than the definition asks for.
    """
    k = math.floor(target * n)
    while k < n and (k + 1) / n <= target:
        k += 1
    while k > 0 and k / n > target:
        k -= 1
    return k


def threshold_at_fmr(nonmated_scores: ArrayLike, target: float) -> float:
    """The similarity threshold whose FMR on ``nonmated_scores`` is at most ``target``.

    Parameters
    ----------
    nonmated_scores : array of shape (n,)
        Similarities of non-mated comparisons, all finite, n >= 1.
    target : float in [0, 1]
        Target false-match rate.

    Returns
    -------
    float
        ``np.nextafter(s_(k+1), inf)`` with k = floor(target * n) (module docstring): ties at the
        boundary are all rejected, so the achieved FMR never exceeds the target.
    """
    s = np.asarray(nonmated_scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"nonmated_scores must be a non-empty 1-D array, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("nonmated_scores contain non-finite values; drop failed pairs first")
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target FMR must be in [0, 1], got {target}")
    k = _allowed_false_matches(float(target), s.size)
    if k >= s.size:
        return float(s.min())
    # The (k+1)-th highest score is the (n-k)-th lowest: a partition avoids a full sort.
    kth = np.partition(s, s.size - k - 1)[s.size - k - 1]
    return float(np.nextafter(kth, np.inf))


def best_accuracy_threshold(scores: ArrayLike, mated: ArrayLike) -> float:
    """Threshold maximising accuracy = (true matches + true non-matches) / n on these scores.

    Accuracy is constant between consecutive distinct scores u_(i-1) < u_(i) (sorted ascending),
    where the rule "match iff s >= t" admits exactly the scores >= u_(i). Among the best such
    intervals the lowest is taken, and the threshold returned is its midpoint
    (u_(i-1) + u_(i)) / 2, the choice farthest from both neighbouring scores (for the interval
    below the lowest score, u_(0) itself; above the highest, the next float up). This is the
    "threshold chosen on the training folds" of the LFW View 2 protocol (Huang et al. 2007).
    """
    s, y = as_scores_and_labels(scores, mated)
    if s.size == 0:
        raise ValueError("no scores to choose a threshold from")
    values = np.unique(s)
    candidates = np.append(values, np.nextafter(values[-1], np.inf))
    n_fm, n_nonmated, n_fnm, n_mated = error_counts(s, y, candidates)
    correct = (n_mated - n_fnm) + (n_nonmated - n_fm)
    i = int(np.argmax(correct))
    if i == 0 or i == values.size:
        return float(candidates[i])
    mid = (values[i - 1] + values[i]) / 2.0
    # Adjacent floats have no float strictly between them; then u_(i) itself is the threshold.
    return float(mid if mid > values[i - 1] else values[i])


def fold_calibrated(
    scores: ArrayLike,
    mated: ArrayLike,
    folds: ArrayLike,
    target: float | Literal["accuracy"],
) -> pd.Series:
    """One threshold per fold, each chosen on all the *other* folds.

    Parameters
    ----------
    scores, mated : arrays of shape (n,)
    folds : array of shape (n,)
        Fold label of each comparison (LFW View 2: 1..10).
    target : float or "accuracy"
        A target FMR (threshold by :func:`threshold_at_fmr` on the other folds' non-mated
        scores) or "accuracy" (by :func:`best_accuracy_threshold` on the other folds).

    Returns
    -------
    pd.Series
        Thresholds indexed by fold (sorted), named ``threshold``.
    """
    s, y = as_scores_and_labels(scores, mated)
    f = np.asarray(folds)
    if f.shape != s.shape:
        raise ValueError(f"folds must have one label per score: {f.shape} vs {s.shape}")
    labels = np.unique(f)
    if labels.size < 2:
        raise ValueError(f"fold calibration needs at least 2 folds, got {labels.size}")
    if target != "accuracy" and not isinstance(target, numbers.Real):
        raise ValueError(f"target must be a target FMR or 'accuracy', got {target!r}")
    out = {}
    for fold in labels:
        train = f != fold
        if target == "accuracy":
            out[fold] = best_accuracy_threshold(s[train], y[train])
        else:
            nonmated = s[train & ~y]
            if nonmated.size == 0:
                raise ValueError(f"folds other than {fold} have no non-mated scores")
            out[fold] = threshold_at_fmr(nonmated, float(target))
    return pd.Series(out, name="threshold", dtype=np.float64).rename_axis("fold")


def fold_accuracy(scores: ArrayLike, mated: ArrayLike, folds: ArrayLike) -> pd.DataFrame:
    """LFW-protocol accuracy: per fold, accuracy at the best-accuracy threshold of the other folds.

    Returns a DataFrame with columns ``fold, threshold, n_pairs, accuracy``; the protocol reports
    the mean and standard deviation of ``accuracy`` over folds.
    """
    s, y = as_scores_and_labels(scores, mated)
    f = np.asarray(folds)
    thresholds = fold_calibrated(s, y, f, "accuracy")
    rows = []
    for fold, t in thresholds.items():
        test = f == fold
        correct = (s[test] >= t) == y[test]
        rows.append({"fold": fold, "threshold": t, "n_pairs": int(test.sum()), "accuracy": float(correct.mean())})
    return pd.DataFrame(rows, columns=["fold", "threshold", "n_pairs", "accuracy"])
