"""Subject bootstrap that re-sets the global thresholds in every replicate (calibration noise).

The plain bootstrap (:func:`frbench.metrics.grouped.bootstrap_replicates`) keeps the thresholds
fixed, as NIST FRVT does: its intervals describe the per-group rates *at this threshold*. A
threshold set at a target FMR on the same impostors is itself an estimate, and a reader who asks
"what FNMR does this group get at FMR 1e-3?" needs that noise too. Here each replicate

1. draws subjects with replacement (the same draws, for the same seed, as
   :func:`frbench.metrics.intervals.bootstrap_subjects`), giving each pair its multiplicity
   (:func:`frbench.metrics.intervals.pair_weights`);
2. re-sets every target-FMR threshold with :func:`frbench.metrics.thresholds.threshold_at_fmr`
   on the replicate's own scored non-mated pairs, each repeated by its multiplicity (so the
   replicate's ``all`` FMR never exceeds the target, as in the full sample); thresholds without a
   target (deepface's default, fixed values) stay as given;
3. counts every group at the replicate's thresholds, as
   sum(w * error) / sum(w * trial) over the group's scored pairs.

A replicate without a non-mated pair has no threshold (NaN) and NaN rates at it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from frbench.groups import Groups
from frbench.metrics.counts import pair_arrays
from frbench.metrics.intervals import pair_weights, subject_codes, subject_draws
from frbench.metrics.thresholds import threshold_at_fmr

# Replicates whose pair weights are held at once: bounds memory to about 32 MB of float64.
_CELLS_PER_CHUNK = 1 << 22


@dataclass(frozen=True)
class ThresholdReplicates:
    """Replicate rates, columns threshold-major then units (the per-group row order), and thresholds."""

    fmr: NDArray[np.float64]  # (replicates, n_thresholds * n_units)
    fnmr: NDArray[np.float64]  # (replicates, n_thresholds * n_units)
    thresholds: NDArray[np.float64]  # (replicates, n_thresholds)


def threshold_bootstrap_rates(
    score: ArrayLike,
    mated: ArrayLike,
    ok: ArrayLike,
    subject_a: ArrayLike,
    subject_b: ArrayLike,
    units: Sequence[ArrayLike],
    thresholds: Sequence[float],
    targets: Sequence[float | None],
    replicates: int = 1000,
    seed: int = 0,
) -> ThresholdReplicates:
    """Bootstrap replicates of per-unit FMR and FNMR with target thresholds re-set per replicate.

    Parameters
    ----------
    score, mated, ok : arrays of shape (n_pairs,); ``score`` may be NaN where ``ok`` is False.
    subject_a, subject_b : subjects of each pair's sides (every pair's subjects are resampled).
    units : one boolean mask of shape (n_pairs,) per unit (the ``all`` row, then each group).
    thresholds : the full-sample thresholds, one per name.
    targets : the target FMR of each threshold, or None / NaN for a threshold to keep fixed.
    replicates, seed : as :func:`frbench.metrics.intervals.bootstrap_subjects`.

    Returns
    -------
    ThresholdReplicates; with no target at all, ``fmr`` and ``fnmr`` equal the fixed-threshold
    bootstrap's for the same seed.
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(mated, dtype=bool)
    good = np.asarray(ok, dtype=bool)
    n_pairs = s.size
    if s.ndim != 1 or y.shape != s.shape or good.shape != s.shape:
        raise ValueError("score, mated and ok must be 1-D of equal length")
    if np.any(good & ~np.isfinite(s)):
        raise ValueError("every ok pair needs a finite score")
    t_full = np.asarray(thresholds, dtype=np.float64)
    tgt = np.array([np.nan if v is None else float(v) for v in targets], dtype=np.float64)
    if t_full.ndim != 1 or tgt.shape != t_full.shape:
        raise ValueError(f"need one target (or None) per threshold: {tgt.shape} vs {t_full.shape}")
    if np.any(np.isnan(t_full)):
        raise ValueError("thresholds contain NaN")
    if np.any((tgt < 0) | (tgt > 1)):
        raise ValueError("target FMRs must be in [0, 1]")
    masks = [np.asarray(u, dtype=bool) for u in units]
    if any(m.shape != s.shape for m in masks):
        raise ValueError("every unit mask needs one value per pair")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    unit_matrix = sp.csr_matrix(np.column_stack(masks).astype(np.float64)) if masks else sp.csr_matrix((n_pairs, 0))
    ia, ib, n_subjects = subject_codes(subject_a, subject_b)
    draws = subject_draws(n_subjects, replicates, seed)
    nonmated, genuine = good & ~y, good & y
    s_nm = s[nonmated]
    safe = np.where(good, s, -np.inf)  # failed pairs are never trials, so their score is irrelevant
    n_t, n_u = t_full.size, len(masks)
    fmr = np.empty((replicates, n_t * n_u))
    fnmr = np.empty((replicates, n_t * n_u))
    thr = np.tile(t_full, (replicates, 1))
    step = max(1, _CELLS_PER_CHUNK // max(n_pairs, 1))
    for r0 in range(0, replicates, step):
        w = pair_weights(draws[r0 : r0 + step], ia, ib)
        w_nm, w_m = w * nonmated, w * genuine
        for i in range(w.shape[0]):
            counts = w_nm[i, nonmated].astype(np.int64)
            pool = np.repeat(s_nm, counts)
            for j in np.flatnonzero(~np.isnan(tgt)):
                thr[r0 + i, j] = threshold_at_fmr(pool, float(tgt[j])) if pool.size else np.nan
        den_nm = np.asarray(unit_matrix.T @ w_nm.T).T  # (chunk, units)
        den_m = np.asarray(unit_matrix.T @ w_m.T).T
        for j in range(n_t):
            t = thr[r0 : r0 + w.shape[0], j][:, None]
            with np.errstate(invalid="ignore"):
                accepted = safe[None, :] >= t
            num_fm = np.asarray(unit_matrix.T @ (w_nm * accepted).T).T
            num_fnm = np.asarray(unit_matrix.T @ (w_m * ~accepted).T).T
            cols = slice(j * n_u, (j + 1) * n_u)
            with np.errstate(invalid="ignore", divide="ignore"):
                no_threshold = np.isnan(t)
                fmr[r0 : r0 + w.shape[0], cols] = np.where((den_nm > 0) & ~no_threshold, num_fm / den_nm, np.nan)
                fnmr[r0 : r0 + w.shape[0], cols] = np.where((den_m > 0) & ~no_threshold, num_fnm / den_m, np.nan)
    return ThresholdReplicates(fmr, fnmr, thr)


def threshold_bootstrap_replicates(
    pairs: pd.DataFrame,
    groups: Groups,
    thresholds: Mapping[str, float],
    targets: Mapping[str, float],
    replicates: int,
    seed: int = 0,
) -> ThresholdReplicates:
    """:func:`threshold_bootstrap_rates` on a scored PairTable, columns in :func:`per_group_rates` row order.

    ``targets`` maps the names of target-FMR thresholds to their target; the other thresholds
    stay fixed. The same seed gives the same subject draws as
    :func:`frbench.metrics.grouped.bootstrap_replicates`.
    """
    unknown = sorted(set(targets) - set(thresholds))
    if unknown:
        raise ValueError(f"targets name thresholds that are not given: {unknown}")
    score, mated, ok = pair_arrays(pairs)
    units = groups.pair_units(pairs)
    names = list(thresholds)
    return threshold_bootstrap_rates(
        score, mated, ok, pairs["subject_a"].to_numpy(), pairs["subject_b"].to_numpy(), [u[2] for u in units],
        [float(thresholds[n]) for n in names],
        [float(targets[n]) if n in targets and not math.isnan(float(targets[n])) else None for n in names],
        replicates, seed,
    )
