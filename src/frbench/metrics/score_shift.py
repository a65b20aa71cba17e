"""Comparison-score differentials: how far a group's mated and non-mated scores sit from everyone's.

ISO/IEC 19795-10:2024 names mated and non-mated *comparison-score* differentials beside the error
rates: rates say *that* a group fails more often at a threshold, the score distributions say
*why*. Three measures, each for mated and non-mated scores, per group against all scored pairs of
that kind (reference ``all``) and against every other group:

**Location shift** = median(group) - median(reference). The median is the weighted lower median,
the smallest score x with F(x) >= 1/2 (numpy's ``quantile(method="inverted_cdf")`` for equal
weights; Hyndman & Fan 1996, definition 1).

**Cliff's delta** = P(X > Y) - P(X < Y) for X a group's score and Y the reference's (Cliff,
"Dominance statistics: ordinal analyses to answer ordinal questions", Psychological Bulletin 114,
1993): 2U / (n m) - 1 with U the Mann-Whitney statistic counting ties as 1/2. In [-1, 1], free of
the score's scale, so that it compares across models.

**d'** (decidability, Daugman 2004) of each group: (mean mated - mean non-mated) /
sqrt((var mated + var non-mated) / 2), how well the group's two distributions separate.

Weighting. A mated score is weighted 1 / (its subject's mated pairs) so that every subject counts
once (**subject-weighted**): on LFW one man holds 58 % of all mated pairs, and a pair-weighted
median would be his. Non-mated scores are pair-weighted (each pair joins two subjects).

Cap. A subject's mated pairs grow with the square of its photos (530 photos: 140,185 pairs); with
subject weights every subject weighs 1 anyway, so at most ``MAX_MATED_PER_SUBJECT`` of its mated
pairs are kept, drawn without replacement with the run's seed (recorded in ``mated_cap`` and
``seed``), which bounds the bootstrap's work without changing what is estimated.

Intervals. The subject bootstrap of :func:`frbench.metrics.intervals.bootstrap_subjects`: each
replicate draws subjects with replacement, a pair enters with the multiplicity of its subjects'
draws (c(s), or c(s) c(t) for two subjects), and every statistic is recomputed with its weights
multiplied by that multiplicity; percentile intervals by
:func:`frbench.metrics.intervals.bootstrap_interval` (withheld when more than 5 % of replicates
are undefined).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frbench.groups import ALL, Groups
from frbench.metrics.intervals import bootstrap_interval, pair_weights, subject_codes, subject_draws
from frbench.tables import INTERSECTION_SEP, NOT_A_GROUP

# Cells of one replicate-by-score weight chunk: bounds memory at about 80 MB of float64.
_CHUNK_CELLS = 10_000_000

MAX_MATED_PER_SUBJECT = 100

SHIFT_COLUMNS = (
    "attribute", "kind", "weighting", "group", "reference", "n_subjects", "n_pairs", "n_subjects_ref", "n_pairs_ref",
    "median", "median_ref", "shift", "shift_ci_low", "shift_ci_high", "cliffs_delta", "delta_ci_low", "delta_ci_high",
    "replicates", "mated_cap", "seed",
)


def _checked(x: ArrayLike, w: ArrayLike | None, name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    v = np.asarray(x, dtype=np.float64).reshape(-1)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a non-empty array of finite scores")
    weights = np.ones(v.size) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    if weights.shape != v.shape or np.any(weights < 0) or not np.all(np.isfinite(weights)) or weights.sum() <= 0:
        raise ValueError(f"weights of {name} must be finite, >= 0, one per score, not all 0")
    return v, weights


def weighted_median(x: ArrayLike, weights: ArrayLike | None = None) -> float:
    """The weighted lower median: the smallest x_i with sum(w_j: x_j <= x_i) >= sum(w) / 2.

    Equal weights give ``np.quantile(x, 0.5, method="inverted_cdf")``; integer weights the same as
    repeating each score that many times.
    """
    v, w = _checked(x, weights, "x")
    order = np.argsort(v, kind="stable")
    return float(_medians(v[order], w[order][None, :])[0])


def _medians(sorted_x: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Lower medians of ``sorted_x`` under each row of ``weights`` (R, n); NaN where a row sums to 0."""
    cw = np.cumsum(weights, axis=1)
    total = cw[:, -1]
    # A relative slack keeps sums of 1/n weights from missing the half by a rounding error.
    idx = np.argmax(cw >= total[:, None] * (0.5 - 1e-12), axis=1)
    return np.where(total > 0, sorted_x[idx], np.nan)


def cliffs_delta(x: ArrayLike, y: ArrayLike, wx: ArrayLike | None = None, wy: ArrayLike | None = None) -> float:
    """Cliff's delta, sum_ij w_i v_j sign(x_i - y_j) / (sum w sum v): P(X > Y) - P(X < Y) (module docstring).

    Equal weights give 2U / (n m) - 1, U the Mann-Whitney statistic of ``x`` with ties counted 1/2.
    """
    xs, w = _checked(x, wx, "x")
    ys, v = _checked(y, wy, "y")
    oy = np.argsort(ys, kind="stable")
    return float(_deltas(xs, ys[oy], w[None, :], v[oy][None, :])[0])


def _deltas(x: NDArray[np.float64], sorted_y: NDArray[np.float64], w: NDArray[np.float64],
            v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cliff's delta under each row of weights ``w`` (R, n) for x and ``v`` (R, m) for sorted y."""
    below = np.searchsorted(sorted_y, x, side="left")  # y_j < x_i
    not_above = np.searchsorted(sorted_y, x, side="right")  # y_j <= x_i
    cv = np.concatenate([np.zeros((v.shape[0], 1)), np.cumsum(v, axis=1)], axis=1)
    total_v = cv[:, -1]
    net = cv[:, below] - (total_v[:, None] - cv[:, not_above])
    total_w = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((total_w > 0) & (total_v > 0), (w * net).sum(axis=1) / (total_w * total_v), np.nan)


def d_prime(mated: ArrayLike, nonmated: ArrayLike, w_mated: ArrayLike | None = None,
            w_nonmated: ArrayLike | None = None) -> float:
    """Decidability d' = (mean_m - mean_n) / sqrt((var_m + var_n) / 2) with weighted means and
    (population) variances (Daugman, "How iris recognition works", IEEE TCSVT 14(1), 2004).
    NaN when both variances are 0."""
    m, wm = _checked(mated, w_mated, "mated")
    n, wn = _checked(nonmated, w_nonmated, "nonmated")
    mu_m, mu_n = np.average(m, weights=wm), np.average(n, weights=wn)
    var = (np.average((m - mu_m) ** 2, weights=wm) + np.average((n - mu_n) ** 2, weights=wn)) / 2
    return float((mu_m - mu_n) / np.sqrt(var)) if var > 0 else float("nan")


def subject_weights(subject: ArrayLike) -> NDArray[np.float64]:
    """1 / (pairs of the same subject) for each pair: every subject's pairs sum to 1."""
    s = pd.Series(np.asarray(subject))
    return 1.0 / s.map(s.value_counts()).to_numpy(dtype=np.float64)


def reported_groups(labels: NDArray[np.object_]) -> list[str]:
    names = sorted({str(g) for g in labels})
    return [g for g in names if not any(part in NOT_A_GROUP for part in g.split(INTERSECTION_SEP))]


def score_shift_table(
    pairs: pd.DataFrame, groups: Groups, replicates: int = 1000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """score_shift.csv: location shift and Cliff's delta of every group's mated and non-mated scores.

    Parameters
    ----------
    pairs : scored pairs (``score, mated, ok, subject_a, subject_b`` and each attribute's
        ``<attr>_a/_b``); failed pairs (``ok`` False) are left out. A pair is in group g when both
        sides are (the one membership rule). Non-mated pairs may be absent (the exhaustive protocol
        lists none): then only mated rows are returned.
    groups : the attributes and intersections to compare; groups labelled ``unknown`` (or any
        label of ``NOT_A_GROUP``) are left out.
    replicates : subject-bootstrap replicates (0: no intervals).

    Returns
    -------
    DataFrame with ``SHIFT_COLUMNS``: per attribute, kind (``mated``/``nonmated``) and group, one row
    against ``all`` (every scored pair of that kind) and one against each other group
    (``shift`` = median(group) - median(reference), ``cliffs_delta`` of group against reference).
    """
    ok = pairs["ok"].to_numpy(dtype=bool)
    scored = cap_mated_pairs(pairs[ok].reset_index(drop=True), MAX_MATED_PER_SUBJECT, seed)
    if len(scored) == 0 or not groups.names:
        return pd.DataFrame(columns=list(SHIFT_COLUMNS))
    score = scored["score"].to_numpy(dtype=np.float64)
    mated = scored["mated"].to_numpy(dtype=bool)
    ia, ib, n_subjects = subject_codes(scored["subject_a"].to_numpy(), scored["subject_b"].to_numpy())
    base = np.ones(len(scored))
    base[mated] = subject_weights(ia[mated])
    draws = subject_draws(n_subjects, replicates, seed) if replicates else None
    rows = []
    for name in groups.names:
        la, same = groups.pair_group(scored, name)
        for kind, is_kind in (("mated", mated), ("nonmated", ~mated)):
            if not is_kind.any():
                continue
            units = {ALL: is_kind}
            for g in reported_groups(la[same & is_kind]):
                units[g] = is_kind & same & (la == g)
            rows += _compare_units(name, kind, units, score, base, ia, ib, draws, level)
    return pd.DataFrame(rows, columns=list(SHIFT_COLUMNS)).assign(mated_cap=MAX_MATED_PER_SUBJECT, seed=seed)


def cap_mated_pairs(pairs: pd.DataFrame, cap: int, seed: int = 0) -> pd.DataFrame:
    """``pairs`` with at most ``cap`` mated pairs per subject, drawn without replacement (seeded);
    non-mated pairs and the order of the kept rows unchanged."""
    mated = pairs["mated"].to_numpy(dtype=bool)
    subject = pairs["subject_a"].to_numpy()
    rng = np.random.default_rng(seed)
    keep = ~mated
    rows = pd.Series(np.flatnonzero(mated)).groupby(subject[mated], sort=True)
    for _, idx in rows:
        chosen = idx.to_numpy() if len(idx) <= cap else rng.choice(idx.to_numpy(), cap, replace=False)
        keep[chosen] = True
    return pairs[keep].reset_index(drop=True)


def _compare_units(name: str, kind: str, units: Mapping[str, NDArray[np.bool_]], score: NDArray[np.float64],
                   base: NDArray[np.float64], ia: NDArray[np.int64], ib: NDArray[np.int64],
                   draws: NDArray[np.int64] | None, level: float) -> list[dict]:
    """One row per (group, reference) among ``units`` (masks over pairs), with bootstrap intervals."""
    idx = {u: np.flatnonzero(m)[np.argsort(score[m], kind="stable")] for u, m in units.items()}
    groups = [u for u in units if u != ALL]
    comparisons = [(g, ref) for g in groups for ref in [ALL, *[h for h in groups if h != g]]]

    def medians_and_deltas(weights: dict[str, NDArray[np.float64]]) -> tuple[dict, dict]:
        med = {u: _medians(score[i], weights[u]) for u, i in idx.items()}
        delta = {(g, r): _deltas(score[idx[g]], score[idx[r]], weights[g], weights[r]) for g, r in comparisons}
        return med, delta

    point_med, point_delta = medians_and_deltas({u: base[i][None, :] for u, i in idx.items()})
    reps = 0 if draws is None else draws.shape[0]
    shift_reps = {c: [] for c in comparisons}
    delta_reps = {c: [] for c in comparisons}
    # Replicates in chunks, each unit's weights made and used within the chunk: memory stays bounded.
    step = max(1, _CHUNK_CELLS // max(1, sum(i.size for i in idx.values())))
    for r0 in range(0, reps, step):
        weights = {u: pair_weights(draws[r0:r0 + step], ia[i], ib[i]) * base[i] for u, i in idx.items()}
        med, delta = medians_and_deltas(weights)
        for g, r in comparisons:
            shift_reps[(g, r)].append(med[g] - med[r])
            delta_reps[(g, r)].append(delta[(g, r)])
    rows = []
    for g, ref in comparisons:
        gi, ri = idx[g], idx[ref]
        row = {
            "attribute": name, "kind": kind, "weighting": "subject" if kind == "mated" else "pair",
            "group": g, "reference": ref,
            "n_subjects": _n_subjects(ia[gi], ib[gi]), "n_pairs": gi.size,
            "n_subjects_ref": _n_subjects(ia[ri], ib[ri]), "n_pairs_ref": ri.size,
            "median": float(point_med[g][0]), "median_ref": float(point_med[ref][0]),
            "shift": float(point_med[g][0] - point_med[ref][0]), "cliffs_delta": float(point_delta[(g, ref)][0]),
            "replicates": reps,
        }
        if reps:
            shift = bootstrap_interval(np.concatenate(shift_reps[(g, ref)]), level).iloc[0]
            dci = bootstrap_interval(np.concatenate(delta_reps[(g, ref)]), level).iloc[0]
            row |= {"shift_ci_low": shift["ci_low"], "shift_ci_high": shift["ci_high"],
                    "delta_ci_low": dci["ci_low"], "delta_ci_high": dci["ci_high"]}
        rows.append(row)
    return rows


def _n_subjects(a: NDArray[np.int64], b: NDArray[np.int64]) -> int:
    return int(np.unique(np.concatenate([a, b])).size)
