"""Uncertainty of error rates: exact binomial intervals and a subject-level bootstrap.

Clopper-Pearson treats comparisons as independent trials. They are not: one subject appears in
many mated and non-mated pairs, so errors cluster by subject and the binomial interval is too
narrow (Bolle, Ratha & Pankanti 2004, "Error analysis of pattern recognition systems: the subsets
bootstrap"; ISO/IEC 19795-1 asks for the subject as the unit of resampling). The bootstrap here
resamples subjects and so keeps that dependence.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.stats import beta

# Rows of the replicate x pair weight matrix built at once: bounds memory to ~32 MB of float64.
_WEIGHT_CELLS_PER_CHUNK = 1 << 22


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")


def clopper_pearson(
    k: ArrayLike, n: ArrayLike, level: float = 0.95
) -> tuple[NDArray[np.float64] | float, NDArray[np.float64] | float]:
    """Exact two-sided binomial confidence interval for k errors in n trials (Clopper & Pearson 1934).

    low = Beta^-1(a/2; k, n-k+1), high = Beta^-1(1-a/2; k+1, n-k) with a = 1 - level; low = 0 when
    k = 0 and high = 1 when k = n. Both are NaN when n = 0. Broadcasts over k and n; returns floats
    for scalar inputs.
    """
    _check_level(level)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    if np.any(np.isnan(k_arr)) or np.any(np.isnan(n_arr)):
        raise ValueError("k and n must not be NaN")
    if np.any(k_arr != np.round(k_arr)) or np.any(n_arr != np.round(n_arr)):
        raise ValueError("k and n must be whole numbers")
    if np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError("need 0 <= k <= n")
    k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    a = 1.0 - level
    # beta.ppf returns NaN for a zero shape parameter; those cells are replaced by 0, 1 or NaN below.
    low = np.where(k_arr == 0, 0.0, beta.ppf(a / 2, k_arr, n_arr - k_arr + 1))
    high = np.where(k_arr == n_arr, 1.0, beta.ppf(1 - a / 2, k_arr + 1, n_arr - k_arr))
    low = np.where(n_arr == 0, np.nan, low)
    high = np.where(n_arr == 0, np.nan, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def subject_draws(n_subjects: int, replicates: int, seed: int | np.random.Generator = 0) -> NDArray[np.int64]:
    """How often each subject is drawn in each bootstrap replicate: shape (replicates, n_subjects).

    Each replicate draws ``n_subjects`` subjects uniformly with replacement, i.e. one
    multinomial(n_subjects, 1/n_subjects) vector per replicate, from ``np.random.default_rng(seed)``.
    """
    if n_subjects < 1:
        raise ValueError(f"need at least one subject, got {n_subjects}")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_subjects, np.full(n_subjects, 1.0 / n_subjects), size=replicates)


def _pairs_by_columns(matrix: ArrayLike | sp.spmatrix, n_pairs: int, name: str) -> sp.csr_matrix:
    """(n_pairs, n_stats) input as a (n_stats, n_pairs) sparse matrix; a 1-D input is one statistic."""
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix, dtype=np.float64)
    else:
        dense = np.asarray(matrix, dtype=np.float64)
        m = sp.csr_matrix(dense[:, None] if dense.ndim == 1 else dense)
    if m.shape[0] != n_pairs:
        raise ValueError(f"{name} must have one row per pair ({n_pairs}), got {m.shape[0]}")
    return m.T.tocsr()


def subject_codes(subject_a: ArrayLike, subject_b: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Integer codes of both sides' subjects (sorted by subject, so draws do not depend on pair order)."""
    a, b = np.asarray(subject_a), np.asarray(subject_b)
    codes, uniques = pd.factorize(np.concatenate([a, b]), sort=True)
    return codes[: a.size], codes[a.size :], len(uniques)


def pair_weights(draws: NDArray[np.int64], code_a: NDArray[np.int64], code_b: NDArray[np.int64]) -> NDArray[np.float64]:
    """Multiplicity of each pair in each replicate, shape (replicates, n_pairs), from subject draws.

    c(s) for a pair whose two sides are subject s, c(s) * c(t) for subjects s != t (the rule of
    :func:`bootstrap_subjects`).
    """
    c = np.asarray(draws, dtype=np.float64)
    weights = c[:, code_a]
    distinct = code_a != code_b
    weights[:, distinct] *= c[:, code_b[distinct]]
    return weights


def bootstrap_subjects(
    subject_a: ArrayLike,
    subject_b: ArrayLike,
    numerators: ArrayLike | sp.spmatrix,
    denominators: ArrayLike | sp.spmatrix,
    replicates: int = 1000,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Subject-bootstrap replicates of ratio statistics sum(numerator) / sum(denominator) over pairs.

    Resampling: each replicate draws the subjects with replacement (:func:`subject_draws`); a
    subject drawn c times enters as c independent copies. A pair is then kept with multiplicity

    * c(s) when both sides are the same subject s (a mated pair exists once per copy of s);
    * c(s) * c(t) when its sides are subjects s != t (one non-mated pair per pair of copies).

    Mated pairs between two copies of one subject are not created: they would compare an image
    with itself. A rate such as the FMR of a group is then
    sum_p w_p * [p is a false match in the group] / sum_p w_p * [p is non-mated in the group].

    Parameters
    ----------
    subject_a, subject_b : arrays of shape (n_pairs,)
        Subject of each side of each pair. Every subject that appears is resampled.
    numerators, denominators : arrays or sparse matrices of shape (n_pairs, n_stats)
        Per-pair contribution of each pair to each statistic's numerator and denominator
        (usually 0/1 indicators).
    replicates : int
    seed : int
        Seed of ``np.random.default_rng``: the same seed gives the same replicates.

    Returns
    -------
    ndarray of shape (replicates, n_stats)
        Replicate values; NaN where a replicate's denominator is 0 (the group was not drawn).
        Form a percentile interval with :func:`percentile_interval`.
    """
    a = np.asarray(subject_a)
    b = np.asarray(subject_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"subject_a and subject_b must be 1-D of equal length, got {a.shape} and {b.shape}")
    n_pairs = a.size
    num_t = _pairs_by_columns(numerators, n_pairs, "numerators")
    den_t = _pairs_by_columns(denominators, n_pairs, "denominators")
    if num_t.shape != den_t.shape:
        raise ValueError(f"numerators and denominators differ in shape: {num_t.shape[::-1]} vs {den_t.shape[::-1]}")
    ia, ib, n_subjects = subject_codes(a, b)
    counts = subject_draws(n_subjects, replicates, seed)
    out = np.empty((replicates, num_t.shape[0]), dtype=np.float64)
    step = max(1, _WEIGHT_CELLS_PER_CHUNK // max(n_pairs, 1))
    for r0 in range(0, replicates, step):
        weights = pair_weights(counts[r0 : r0 + step], ia, ib)
        num = np.asarray(num_t @ weights.T).T
        den = np.asarray(den_t @ weights.T).T
        with np.errstate(invalid="ignore", divide="ignore"):
            out[r0 : r0 + step] = np.where(den > 0, num / den, np.nan)
    return out


def percentile_interval(
    replicates: ArrayLike, level: float = 0.95
) -> tuple[NDArray[np.float64] | float, NDArray[np.float64] | float]:
    """Percentile bootstrap interval: the (1-level)/2 and (1+level)/2 quantiles of the replicates.

    ``replicates`` has shape (n_replicates,) (floats returned) or (n_replicates, n_stats) (one
    interval per column). NaN replicates (the statistic was undefined in that resample) are left
    out; a column with no finite replicate gives NaN.
    """
    _check_level(level)
    r = np.asarray(replicates, dtype=np.float64)
    if r.ndim not in (1, 2) or r.shape[0] == 0:
        raise ValueError(f"replicates must be a non-empty 1-D or 2-D array, got shape {r.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        low, high = np.nanquantile(r, [(1 - level) / 2, (1 + level) / 2], axis=0)
    if r.ndim == 1:
        return float(low), float(high)
    return low, high


# Status of a bootstrap interval (``bootstrap_interval``), one word each so tables can filter on it.
TWO_SIDED, ONE_SIDED, UNBOUNDED, POINT, NOT_REPORTED = "two_sided", "one_sided", "unbounded", "point", "not_reported"


def _quantile_allowing_inf(values: NDArray[np.float64], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of finite and +inf values.

    +inf sorts above every finite value; a quantile whose interpolation touches an inf is inf
    (numpy's own quantile returns NaN there, from inf - inf).
    """
    v = np.sort(values)
    h = (v.size - 1) * q
    lo, hi = int(np.floor(h)), int(np.ceil(h))
    frac = h - lo
    if np.isinf(v[lo]) or (frac > 0 and np.isinf(v[hi])):
        return float("inf")
    return float(v[lo] + (v[hi] - v[lo]) * frac) if frac > 0 else float(v[lo])


def bootstrap_interval(
    replicates: ArrayLike, level: float = 0.95, max_undefined_share: float | None = None
) -> pd.DataFrame:
    """Percentile interval of each column of bootstrap replicates, with the share that was undefined.

    Rules (issue 14), applied per column:

    * a NaN replicate is **undefined** (the statistic does not exist in that resample: a group
      not drawn, a 0/0 ratio); ``undefined_share`` is their share;
    * a +inf replicate is **unbounded** (a ratio over a zero rate) and is kept, above every
      finite value: the interval is then one-sided, [low, inf) (``unbounded_share``);
    * when ``undefined_share`` exceeds ``max_undefined_share`` (default
      :data:`frbench.metrics.power.MAX_UNDEFINED_SHARE`, 5%) no interval is reported (NaN,
      status ``not_reported``): the defined replicates describe the statistic *given that it
      exists*, which is biased; at or below it they are left out and the share is shown;
    * otherwise the interval is the (1-level)/2 and (1+level)/2 quantiles of the defined
      replicates (linear interpolation, as :func:`percentile_interval`), with status
      ``two_sided``, ``one_sided`` (upper end inf), ``unbounded`` (both ends inf) or ``point``
      (both ends equal: the resamples cannot vary the statistic, e.g. a one-subject group or a
      group without errors; the exact interval is the honest statement then).

    Returns
    -------
    DataFrame, one row per column of ``replicates``: ``ci_low, ci_high, undefined_share,
    unbounded_share, ci_status``.
    """
    from frbench.metrics.power import MAX_UNDEFINED_SHARE

    _check_level(level)
    limit = MAX_UNDEFINED_SHARE if max_undefined_share is None else float(max_undefined_share)
    if not 0.0 <= limit <= 1.0:
        raise ValueError(f"max_undefined_share must be in [0, 1], got {limit}")
    r = np.asarray(replicates, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[0] == 0:
        raise ValueError(f"replicates must be a non-empty 1-D or 2-D array, got shape {r.shape}")
    if np.any(r == -np.inf):
        raise ValueError("replicates contain -inf; only +inf (unbounded) is meaningful")
    undefined = np.isnan(r).mean(axis=0)
    unbounded = np.isinf(r).mean(axis=0)
    low = np.full(r.shape[1], np.nan)
    high = np.full(r.shape[1], np.nan)
    status = np.full(r.shape[1], NOT_REPORTED, dtype=object)
    for j in range(r.shape[1]):
        values = r[~np.isnan(r[:, j]), j]
        # "> limit" with a little slack: 10 of 200 replicates is exactly 5% and is reported.
        if values.size == 0 or undefined[j] > limit + 1e-12:
            continue
        low[j] = _quantile_allowing_inf(values, (1 - level) / 2)
        high[j] = _quantile_allowing_inf(values, (1 + level) / 2)
        if np.isinf(low[j]):
            status[j] = UNBOUNDED
        elif np.isinf(high[j]):
            status[j] = ONE_SIDED
        elif low[j] == high[j]:
            status[j] = POINT
        else:
            status[j] = TWO_SIDED
    return pd.DataFrame(
        {"ci_low": low, "ci_high": high, "undefined_share": undefined, "unbounded_share": unbounded, "ci_status": status}
    )
