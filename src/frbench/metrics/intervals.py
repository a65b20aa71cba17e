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
    # Sorted codes make the draws independent of the order of the pairs.
    codes, uniques = pd.factorize(np.concatenate([a, b]), sort=True)
    ia, ib = codes[:n_pairs], codes[n_pairs:]
    distinct = ia != ib
    counts = subject_draws(len(uniques), replicates, seed)
    out = np.empty((replicates, num_t.shape[0]), dtype=np.float64)
    step = max(1, _WEIGHT_CELLS_PER_CHUNK // max(n_pairs, 1))
    for r0 in range(0, replicates, step):
        c = counts[r0 : r0 + step].astype(np.float64)
        weights = c[:, ia]
        weights[:, distinct] *= c[:, ib[distinct]]
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
