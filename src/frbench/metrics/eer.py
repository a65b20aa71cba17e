"""The measures bob.measure and pyeer users look for: EER, FMR100, FMR1000 and ZeroFMR.

Every function takes genuine (mated) and impostor (non-mated) similarities, higher = more alike,
and the rule "match when similarity >= t" (docs/ARCHITECTURE.md, Scores).

* **EER** follows FVC2000 (Maio, Maltoni, Cappelli, Wayman & Jain, IEEE TPAMI 24(3), 2002, and
  pyeer's ``get_eer_values``): the candidate thresholds are the distinct observed scores; t2 is
  the lowest at which FMR(t) <= FNMR(t), t1 the one below it (t2 itself where the curves meet
  exactly or t2 is the lowest score). Of the two, the threshold with the smaller FMR + FNMR gives
  the interval [EER_low, EER_high] = [min, max] of its two rates, and EER is its midpoint.
  That interval says how far the discreteness of the scores leaves the EER undetermined; a
  subject-bootstrap confidence interval (:func:`eer_bootstrap`) says how far sampling does.
* **FMR100 / FMR1000** are the FNMR at the threshold set at target FMR 1 % / 0.1 % by frbench's
  one rule (:func:`frbench.metrics.thresholds.threshold_at_fmr`: at most floor(f n) impostors
  match, ties rejected), so the achieved FMR never exceeds the target. pyeer takes the threshold
  whose FMR is *nearest* the target, from either side; the two agree whenever some threshold
  reaches the target exactly (n impostors a multiple of 1/f, no tie at the cut) and can differ
  otherwise. bob.measure's ``farfrr`` at ``far_threshold`` uses frbench's side.
* **ZeroFMR** is the FNMR at the lowest threshold above every impostor score (FMR = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from frbench.metrics.thresholds import threshold_at_fmr

# pyeer's and bob's operating-point names -> target FMR
FMR_OPERATING_POINTS = {"fmr100": 1e-2, "fmr1000": 1e-3}


@dataclass(frozen=True)
class EqualErrorRate:
    """The FVC2000 EER: ``eer`` the midpoint of ``[low, high]``, reached at ``threshold``."""

    eer: float
    low: float
    high: float
    threshold: float


def _check(genuine: ArrayLike, impostor: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    for name, a in (("genuine", g), ("impostor", i)):
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"{name} scores must be a non-empty 1-D array, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} scores contain non-finite values; drop failed pairs first")
    return g, i


def error_curve(
    scores: ArrayLike, mated: ArrayLike, weights: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """FMR and FNMR at every distinct score taken as the threshold, ascending.

    FNMR(t) = w(genuine with s < t) / w(genuine), FMR(t) = w(impostors with s >= t) / w(impostors),
    with ``weights`` (default 1 each; a bootstrap's multiplicities) and scores of weight 0 left
    out. Returns ``(thresholds, fmr, fnmr)``.
    """
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(mated, dtype=bool)
    w = np.ones(s.size) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = w > 0
    s, m, w = s[keep], m[keep], w[keep]
    order = np.argsort(s, kind="stable")
    s, m, w = s[order], m[order], w[order]
    thresholds, first = np.unique(s, return_index=True)
    genuine_below = np.concatenate([[0.0], np.cumsum(np.where(m, w, 0.0))])
    impostor_below = np.concatenate([[0.0], np.cumsum(np.where(m, 0.0, w))])
    n_genuine, n_impostor = genuine_below[-1], impostor_below[-1]
    fnmr = genuine_below[first] / n_genuine
    fmr = (n_impostor - impostor_below[first]) / n_impostor
    return thresholds, fmr, fnmr


def _eer_from_curve(thresholds: NDArray, fmr: NDArray, fnmr: NDArray) -> EqualErrorRate:
    diff = fmr - fnmr  # non-increasing in t
    crossing = np.flatnonzero(diff <= 0)
    if crossing.size == 0:
        # every distinct score is one tie holding both classes: the curves never cross
        return EqualErrorRate(float("nan"), float("nan"), float("nan"), float("nan"))
    t2 = int(crossing[0])
    t1 = t2 - 1 if diff[t2] != 0 and t2 != 0 else t2
    t = t1 if fmr[t1] + fnmr[t1] <= fmr[t2] + fnmr[t2] else t2
    low, high = sorted((float(fmr[t]), float(fnmr[t])))
    return EqualErrorRate((low + high) / 2, low, high, float(thresholds[t]))


def equal_error_rate(genuine: ArrayLike, impostor: ArrayLike) -> EqualErrorRate:
    """The FVC2000 equal error rate of these scores (module docstring).

    Returns NaN fields only when the FMR and FNMR curves never cross (all scores one tie).

    Examples
    --------
    >>> equal_error_rate([0.9, 0.8, 0.3], [0.1, 0.2, 0.5]).eer   # one genuine below one impostor
    0.3333333333333333
    """
    g, i = _check(genuine, impostor)
    scores = np.concatenate([g, i])
    mated = np.concatenate([np.ones(g.size, bool), np.zeros(i.size, bool)])
    return _eer_from_curve(*error_curve(scores, mated))


def fnmr_at_fmr(genuine: ArrayLike, impostor: ArrayLike, target: float) -> float:
    """FNMR at the threshold frbench sets at target FMR ``target`` on ``impostor`` (FMR100: 0.01)."""
    g, i = _check(genuine, impostor)
    return float(np.mean(g < threshold_at_fmr(i, target)))


def zero_fmr(genuine: ArrayLike, impostor: ArrayLike) -> float:
    """ZeroFMR: FNMR at the lowest threshold above every impostor score (no false match)."""
    return fnmr_at_fmr(genuine, impostor, 0.0)


def eer_bootstrap(scores: ArrayLike, mated: ArrayLike, pair_weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """The EER of each bootstrap replicate, given each pair's multiplicity per replicate.

    ``pair_weights`` has shape (replicates, n_pairs) (:func:`frbench.metrics.intervals.pair_weights`
    from subject draws, so whole subjects are resampled). A replicate without a genuine or an
    impostor pair gives NaN (undefined).
    """
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(mated, dtype=bool)
    out = np.full(pair_weights.shape[0], np.nan)
    for r, w in enumerate(pair_weights):
        if w[m].sum() > 0 and w[~m].sum() > 0:
            out[r] = _eer_from_curve(*error_curve(s, m, w)).eer
    return out
