"""Tests of "the groups' FMR (FNMR) are equal", per attribute and threshold (group_tests.csv).

Two tests per attribute x threshold x rate (FMR, FNMR), because they answer under different
assumptions, and a third row for the subject-weighted FNMR:

**Exact test (pairs independent).** The 2 x G table of errors and non-errors per group, tested
for homogeneity conditionally on its margins: Fisher's exact test for G = 2 (two-sided, tables
as or less probable than the observed one; Fisher 1935), its Freeman-Halton extension for G > 2
(Freeman & Halton, Biometrika 38, 1951), enumerated exactly when the tables are few
(``MAX_EXACT_TABLES``), else by Monte Carlo from the multivariate hypergeometric null
(p = (1 + #{sims as or less probable}) / (1 + B)). It treats every pair as an independent
trial; pairs sharing a subject are not, so it is too liberal when errors cluster by subject.

**Subject-clustered permutation test.** The unit that is exchangeable under the null is a
*cluster*: a connected component of the graph whose nodes are subjects and whose edges are the
tested pairs. Group labels are permuted among clusters (each keeping its pairs and their
outcomes) and the statistic recomputed. What is permuted, and why:

* FNMR: mated pairs of each group. A mated pair links a subject to itself, so clusters are
  subjects: whole subjects are relabelled.
* FMR: only **within-group** non-mated pairs (both sides in the group), the pairs whose rate is
  tested. Relabelling single subjects would turn within-group pairs into cross-group ones and
  back, i.e. test "labels do not matter to any impostor score", which fails whenever
  cross-group impostors score lower than within-group ones (the usual demographic effect)
  even with equal within-group FMRs. A component of within-group pairs lies in one group, so
  moving whole components keeps every pair within a group.
* Labels are exchanged only between clusters **of the same size** (number of tested pairs).
  Size is not independent of the group: a group with fewer impostor pairs per subject has
  smaller components (LFW quick at fmr=1e-2: the 11 female impostor pairs form 8 clusters of
  1-2 pairs, the 163 male ones 75 clusters of up to 7), and a cluster's errors grow with its
  size. Relabelling across sizes compares the observed group with size mixes it never has:
  there it gave p = 0.007 (studentized) or 0.013 (X^2) for 1/11 against 0/163, far below
  Fisher's 0.063, a claim one false match cannot carry. The null tested is therefore
  "clusters of one size have the same distribution of errors whatever their group"; under it
  the test is exact for any sample size. The price is power (measured in
  tests/metrics/test_group_tests.py): clusters whose size no other group has never move.
* A cluster whose pairs fall in several groups (possible only with image-level labels) cannot
  be moved as a unit; its part in each group stays in place in every permutation (a restricted
  permutation test, still exact) and is counted in ``n_fixed_clusters``. With fewer than 2
  movable clusters there is no test (p NaN): e.g. the exhaustive protocol, where each group's
  impostor pairs form one component.

Statistic: a Wald statistic of equal rates with a cluster-robust variance,
T = sum_g w_g (r_g - r_w)^2, r_g = K_g / N_g (errors over pairs of group g), r_w the w-weighted
mean, w_g = 1 / V_g and V_g = C_g / (C_g - 1) * sum_c (k_c - r_g n_c)^2 / N_g^2 over the group's
C_g clusters (the linearised variance of a ratio estimator, as in the cluster bootstrap it
approximates), floored at p(1 - p) / N_g with p the pooled rate, so that a group without errors
still has a variance. Studentizing makes the test robust where clusters of one size still
differ in spread (Chung & Romano, "Exact and asymptotically robust permutation tests", Ann.
Statist. 41, 2013). All distinct relabellings are enumerated when there are at most
``n_permutations`` of them (exact p = #{T >= T_obs} / total), else ``n_permutations`` random ones
are drawn and p = (1 + #{T_b >= T_obs}) / (1 + B) (Phipson & Smyth, "Permutation p-values
should never be zero", SAGMB 9, 2010), a valid p-value for any B.

**Subject-weighted FNMR** (rate ``fnmr_subject_weighted``; ISO/IEC 19795-10 asks that
summaries and tests use it). H0: the groups' subject-weighted FNMRs, each the mean over the
group's subjects of the subject's own FNMR (its misses over its mated pairs, as
:mod:`frbench.metrics.subject_fnmr` defines it), are equal. Subjects are the independent units:
their group labels are permuted among all subjects (one stratum: a subject's own FNMR is
comparable whatever its number of pairs, which only changes its variance), and the statistic is
the Welch-type studentized one of :func:`subject_rate_permutation_test`, which keeps the test
valid where groups differ in that variance (tests/metrics/test_group_tests.py measures its size
with groups of different pair counts). Enumerated or Monte Carlo as the clustered test, with the
smallest attainable p in ``clustered_method``; it fills the ``clustered_*`` columns. The exact
test does not apply (a mean of ratios is not a count): ``exact_p`` is empty and the note says so.
A subject whose mated pairs fall in several groups (image-level labels) stays in place.

**Multiplicity.** Holm's step-down correction (Holm, Scand. J. Statist. 6, 1979) is applied
across all rows of the table, separately for each test column: one family for ``exact_p`` (FMR
and FNMR rows), one for ``clustered_p`` (the clustered FMR and FNMR tests and the
subject-weighted FNMR tests, all permutation tests of the table). Families span every attribute
and threshold, not each attribute x threshold alone, because Holm holds under any dependence,
which matters since rows at neighbouring thresholds, and the pair- and subject-weighted FNMR
rows, share their data; and a reader who scans the column for p_holm < 0.05 then controls the
family-wise error over everything it lists.

With ``n_permutations`` 0 (``stats.permutations: 0``, "exact test only") no permutation test is
run: the ``clustered_*`` columns stay empty, the note says why, and the exact test runs as usual.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components
from scipy.special import gammaln

from frbench.groups import ALL, Groups
from frbench.metrics.counts import pair_arrays, threshold_arrays
from frbench.metrics.group_rules import (
    VERIFICATION_RATES,
    RateSet,
    excluded_text,
    left_out,
    pair_eligibility,
    rate_eligibility,
)
from frbench.metrics.power import ALPHA, MIN_GROUP_SUBJECTS
from frbench.tables import NOT_A_GROUP

MAX_EXACT_TABLES = 200_000
MONTE_CARLO_TABLES = 100_000
N_PERMUTATIONS = 9_999
# how each permutation test names itself in group_tests.csv's method columns
CLUSTER_TEST = "cluster permutation within size strata"
SUBJECT_TEST = "subject permutation, studentized statistic of subject-weighted FNMRs"
SUBJECT_WEIGHTED = "fnmr_subject_weighted"
NO_PERMUTATIONS = "no clustered test: permutations set to 0 (exact test only)"
NO_EXACT_SUBJECT_WEIGHTED = "no exact test: a mean of subjects' own FNMRs is not a count of errors"
# Relative tolerance when comparing probabilities or statistics that are equal in exact
# arithmetic (scipy's fisher_exact uses the same 1e-7 on probabilities).
_REL_TOL = 1e-7

GROUP_TEST_COLUMNS = (
    "threshold_name",
    "threshold",
    "attribute",
    "rate",
    "n_groups",
    "groups",
    "errors",
    "pooled_rate",
    "exact_p",
    "exact_p_holm",
    "exact_method",
    "clustered_p",
    "clustered_p_holm",
    "clustered_method",
    "n_clusters",
    "n_fixed_clusters",
    "statistic",
    "excluded_groups",
    "note",
)


def _test_row(
    threshold_name: str, threshold: float, attribute: str, rate: str, groups: Sequence[str], k: np.ndarray,
    n: np.ndarray, excluded: Sequence[tuple[str, str]], note: str = "",
) -> dict[str, object]:
    """A row of ``GROUP_TEST_COLUMNS`` for the groups compared (errors ``k`` of ``n`` each), no test yet."""
    return {
        "threshold_name": threshold_name, "threshold": threshold, "attribute": attribute, "rate": rate,
        "n_groups": len(groups), "groups": ";".join(groups),
        "errors": "; ".join(f"{g} {a}/{b}" for g, a, b in zip(groups, k, n)),
        "pooled_rate": k.sum() / n.sum() if n.sum() else np.nan,
        "exact_p": np.nan, "exact_method": "", "clustered_p": np.nan, "clustered_method": "",
        "n_clusters": 0, "n_fixed_clusters": 0, "statistic": np.nan,
        "excluded_groups": excluded_text(excluded), "note": note,
    }


def _test_table(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """The rows as group_tests.csv, Holm-adjusted across them, separately for each test."""
    out = pd.DataFrame(list(rows), columns=list(GROUP_TEST_COLUMNS))
    out["exact_p_holm"] = holm(out["exact_p"].to_numpy(dtype=np.float64))
    out["clustered_p_holm"] = holm(out["clustered_p"].to_numpy(dtype=np.float64))
    return out


@dataclass(frozen=True)
class TestResult:
    """A p-value and how it was obtained."""

    p_value: float
    statistic: float
    method: str


def _counts_pair(errors: ArrayLike, trials: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    k = np.asarray(errors, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if k.ndim != 1 or k.shape != n.shape:
        raise ValueError(f"errors and trials must be 1-D of equal length, got {k.shape} and {n.shape}")
    if np.any(np.isnan(k)) or np.any(np.isnan(n)) or np.any(k != np.round(k)) or np.any(n != np.round(n)):
        raise ValueError("errors and trials must be whole numbers")
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= errors <= trials in every group")
    return k.astype(np.int64), n.astype(np.int64)


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def _n_tables(trials: np.ndarray, total: int, cap: int) -> int:
    """Number of (k_1..k_G) with 0 <= k_g <= n_g and sum K, counted up to ``cap`` (a capped convolution)."""
    ways = np.zeros(total + 1, dtype=np.float64)
    ways[0] = 1.0
    for n in trials:
        csum = np.concatenate([[0.0], np.cumsum(ways)])
        idx = np.arange(total + 1)
        ways = np.minimum(csum[idx + 1] - csum[np.maximum(idx - min(int(n), total), 0)], cap + 1.0)
    return int(ways[total])


def _all_tables(trials: np.ndarray, total: int, max_cells: int = 1 << 26) -> np.ndarray | None:
    """Every (k_1..k_G) with 0 <= k_g <= n_g summing to ``total``, as rows; None if too big to build."""
    partial = np.zeros((1, 0), dtype=np.int64)
    sums = np.zeros(1, dtype=np.int64)
    for g, n in enumerate(trials[:-1]):
        room = trials[g + 1 :].sum()
        ks = np.arange(min(int(n), total) + 1)
        if partial.shape[0] * ks.size * (g + 1) > max_cells:
            return None
        new_sums = (sums[:, None] + ks[None, :]).ravel()
        rows = np.repeat(partial, ks.size, axis=0)
        rows = np.column_stack([rows, np.tile(ks, partial.shape[0])])
        # Keep partial tables the remaining groups can still complete.
        ok = (new_sums <= total) & (total - new_sums <= room)
        partial, sums = rows[ok], new_sums[ok]
    return np.column_stack([partial, total - sums])


def exact_homogeneity_test(
    errors: ArrayLike,
    trials: ArrayLike,
    max_tables: int = MAX_EXACT_TABLES,
    monte_carlo: int = MONTE_CARLO_TABLES,
    seed: int = 0,
) -> TestResult:
    """Fisher / Freeman-Halton exact test that G binomial proportions k_g / n_g are equal.

    Conditionally on the margins, the table has the multivariate hypergeometric probability
    P(k) = prod_g C(n_g, k_g) / C(N, K). The two-sided p-value is the total probability of the
    tables with P <= P(observed) (within a relative 1e-7, as scipy.stats.fisher_exact). Tables
    are enumerated when there are at most ``max_tables``, else ``monte_carlo`` are drawn from
    the null with ``np.random.default_rng(seed)``.

    Parameters
    ----------
    errors, trials : arrays of shape (G,), G >= 2, every n_g >= 1.

    Returns
    -------
    TestResult with ``statistic`` = P(observed table) and ``method`` naming the computation.
    p = 1 when there is no error or no success anywhere (every table is the observed one).
    """
    k, n = _counts_pair(errors, trials)
    if k.size < 2:
        raise ValueError(f"need at least 2 groups, got {k.size}")
    if np.any(n == 0):
        raise ValueError("every group needs at least one trial")
    total, big_n = int(k.sum()), int(n.sum())
    name = "Fisher exact" if k.size == 2 else "Freeman-Halton"
    log_norm = _log_comb(np.array(big_n), np.array(total))
    log_p_obs = float(_log_comb(n, k).sum() - log_norm)
    slack = math.log1p(_REL_TOL)
    if total in (0, big_n):
        return TestResult(1.0, math.exp(log_p_obs), f"{name} (no {'errors' if total == 0 else 'successes'}: p = 1)")
    tables = _all_tables(n, total) if _n_tables(n, total, max_tables) <= max_tables else None
    if tables is not None:
        log_p = _log_comb(n[None, :], tables).sum(axis=1) - log_norm
        p = float(np.exp(log_p[log_p <= log_p_obs + slack]).sum())
        return TestResult(min(1.0, p), math.exp(log_p_obs), f"{name}, {len(tables):,} tables enumerated")
    rng = np.random.default_rng(seed)
    sims = rng.multivariate_hypergeometric(n, total, size=monte_carlo, method="marginals")
    log_p = _log_comb(n[None, :], sims).sum(axis=1) - log_norm
    hits = int(np.sum(log_p <= log_p_obs + slack))
    return TestResult((1 + hits) / (1 + monte_carlo), math.exp(log_p_obs), f"{name}, Monte Carlo ({monte_carlo:,} tables)")


def _n_assignments(sizes: Sequence[int]) -> int:
    """Distinct ways to split sum(sizes) clusters into groups of these sizes (a multinomial coefficient)."""
    total, out = 0, 1
    for s in sizes:
        total += s
        out *= math.comb(total, s)
    return out


def _all_assignments(sizes: Sequence[int]) -> np.ndarray:
    """Every split of clusters 0..C-1 into groups of ``sizes``: rows of group codes, one per split."""
    c = int(sum(sizes))
    rows: list[np.ndarray] = []

    def place(free: tuple[int, ...], g: int, labels: np.ndarray) -> None:
        if g == len(sizes) - 1:
            labels = labels.copy()
            labels[list(free)] = g
            rows.append(labels)
            return
        for chosen in itertools.combinations(free, sizes[g]):
            nxt = labels.copy()
            nxt[list(chosen)] = g
            rest = tuple(i for i in free if i not in set(chosen))
            place(rest, g + 1, nxt)

    place(tuple(range(c)), 0, np.full(c, -1, dtype=np.int64))
    return np.array(rows, dtype=np.int64).reshape(-1, c)


def cluster_permutation_test(
    cluster_errors: ArrayLike,
    cluster_trials: ArrayLike,
    cluster_group: ArrayLike,
    strata: ArrayLike | None = None,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> TestResult:
    """Permutation test of equal error rates across groups, relabelling clusters within strata.

    Parameters
    ----------
    cluster_errors, cluster_trials : arrays of shape (C,): errors and pairs of each cluster
        (module docstring: subjects for FNMR, components of within-group pairs for FMR).
    cluster_group : array of shape (C,): group code 0..G-1 of each cluster.
    strata : array of shape (C,): labels are only exchanged between clusters of one stratum;
        by default the cluster's number of pairs (module docstring). A cluster alone in its
        stratum stays in place.
    n_permutations : random relabellings when the distinct ones are more; all distinct ones are
        enumerated (an exact test) when they are at most this many.
    seed : seed of ``np.random.default_rng``.

    Returns
    -------
    TestResult with the observed studentized statistic T (module docstring) and the method.
    p = 1 when there is no error or no success anywhere; NaN with fewer than 2 groups or when
    no stratum holds clusters of two groups (nothing can be relabelled).
    """
    k, n = _counts_pair(cluster_errors, cluster_trials)
    g = np.asarray(cluster_group)
    if g.shape != k.shape:
        raise ValueError(f"cluster_group must have one code per cluster: {g.shape} vs {k.shape}")
    _check_group_codes(g, "cluster_group")
    if np.any(n == 0):
        raise ValueError("every cluster needs at least one pair")
    _check_permutations(n_permutations)
    if np.unique(g).size < 2:
        return TestResult(float("nan"), float("nan"), "no test: fewer than 2 groups")
    n_groups = int(g.max() + 1)
    kf, nf = k.astype(np.float64), n.astype(np.float64)
    pooled = float(kf.sum() / nf.sum())
    return _permutation_result(
        lambda labels: _studentized(labels, kf, nf, pooled, n_groups), g, n if strata is None else np.asarray(strata),
        n_groups, pooled, n_permutations, seed, CLUSTER_TEST, "clusters", short="cluster permutation",
    )


def _check_group_codes(group: np.ndarray, name: str) -> None:
    if group.size and (not np.issubdtype(group.dtype, np.integer) or group.min() < 0):
        raise ValueError(f"{name} must hold integer group codes >= 0")


def _check_permutations(n_permutations: int) -> None:
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")


def _permutation_result(
    statistic: Callable[[np.ndarray], np.ndarray], group: np.ndarray, strata: np.ndarray, n_groups: int,
    pooled: float, n_permutations: int, seed: int, test: str, units: str, short: str | None = None,
) -> TestResult:
    """The permutation test of ``statistic`` (one value per row of relabellings) on the observed
    ``group`` codes, labels exchanged within ``strata``: the exits every such test shares (no error
    or no success anywhere: p = 1; nothing to relabel: NaN), then the enumerated or Monte Carlo p
    with its method (``test``, the name its rows carry, ``short`` where p = 1 by construction;
    ``units``, what is relabelled)."""
    t_obs = float(statistic(group[None, :])[0])
    if pooled in (0.0, 1.0):
        return TestResult(1.0, t_obs, f"{short or test} (no {'errors' if pooled == 0 else 'successes'}: p = 1)")
    blocks, distinct = _strata_blocks(group, strata, n_groups)
    if distinct == 1:
        return TestResult(float("nan"), t_obs, f"no test: no stratum holds {units} of two groups")
    p, smallest, enumerated = _permutation_p(statistic, t_obs, group.size, blocks, distinct, n_groups, n_permutations,
                                             seed)
    if enumerated:
        return TestResult(p, t_obs, exact_method_label(distinct, smallest, test))
    return TestResult(p, t_obs, f"{test}, Monte Carlo ({n_permutations:,}; smallest attainable p {smallest:.2g})")


def _permutation_p(
    statistic: Callable[[np.ndarray], np.ndarray], t_obs: float, n_units: int,
    blocks: Sequence[tuple[np.ndarray, np.ndarray]], distinct: int, n_groups: int, n_permutations: int, seed: int,
) -> tuple[float, float, bool]:
    """(p, smallest attainable p, enumerated) of a permutation test relabelling units within ``blocks``.

    ``statistic`` maps rows of group codes (one per unit) to the statistic, large against H0.
    All ``distinct`` relabellings are enumerated when they are at most ``n_permutations`` (p =
    share with T >= T_obs; smallest p: the share tied at the top), else ``n_permutations`` are
    drawn with ``np.random.default_rng(seed)`` (p = (1 + hits) / (1 + B); smallest 1 / (1 + B)).
    """
    tol = _REL_TOL * max(1.0, abs(t_obs))
    if distinct <= n_permutations:
        labels = np.full((1, n_units), -1, dtype=np.int64)
        for order, sizes in blocks:
            rows = _all_assignments(sizes.tolist())
            labels = np.repeat(labels, rows.shape[0], axis=0)
            labels[:, order] = np.tile(rows, (labels.shape[0] // rows.shape[0], 1))
        stats = statistic(labels)
        p = float(np.mean(stats >= t_obs - tol))
        # the smallest p any data could give with these units: the share of relabellings tied at the top
        smallest = float(np.mean(stats >= stats.max() - _REL_TOL * max(1.0, abs(stats.max()))))
        return p, smallest, True
    rng = np.random.default_rng(seed)
    hits = 0
    step = max(1, (1 << 22) // max(n_units, 1))
    for b0 in range(0, n_permutations, step):
        m = min(step, n_permutations - b0)
        labels = np.empty((m, n_units), dtype=np.int64)
        for order, sizes in blocks:
            base = np.repeat(np.arange(n_groups), sizes)
            labels[:, order] = rng.permuted(np.tile(base, (m, 1)), axis=1)
        hits += int(np.sum(statistic(labels) >= t_obs - tol))
    return (1 + hits) / (1 + n_permutations), 1 / (1 + n_permutations), False


def exact_method_label(distinct: int, smallest_p: float, test: str = CLUSTER_TEST) -> str:
    """How an enumerated permutation test (``test``) was done, with the smallest p it can attain;
    "exact" is said only when that p can fall below ``ALPHA`` (2 relabellings: p is 0.5 or 1, which
    no data can make significant, so the test is named what it is, not "exact")."""
    what = f"{test}, all {distinct:,} relabellings"
    if smallest_p > ALPHA:
        return f"{what} (too few to test: smallest attainable p {smallest_p:.3g} > {ALPHA:g})"
    return f"{what} (exact; smallest attainable p {smallest_p:.3g})"


def _strata_blocks(
    group: np.ndarray, strata: np.ndarray, n_groups: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Per stratum: its clusters ordered by group, and its group sizes; plus the number of distinct relabellings."""
    if strata.shape != group.shape:
        raise ValueError(f"strata must have one value per cluster: {strata.shape} vs {group.shape}")
    codes, _ = pd.factorize(strata, sort=True)
    blocks, distinct = [], 1
    for s in range(int(codes.max()) + 1 if codes.size else 0):
        pos = np.flatnonzero(codes == s)
        order = pos[np.argsort(group[pos], kind="stable")]
        sizes = np.bincount(group[pos], minlength=n_groups)
        blocks.append((order, sizes))
        distinct *= _n_assignments(sizes.tolist())
    return blocks, distinct


def _studentized(labels: np.ndarray, k: np.ndarray, n: np.ndarray, pooled: float, n_groups: int) -> np.ndarray:
    """The Wald statistic T of the module docstring for each row of ``labels`` (a group code per cluster)."""
    m = labels.shape[0]
    flat = (labels + n_groups * np.arange(m)[:, None]).ravel()

    def per_group(w: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=np.tile(w, m), minlength=m * n_groups).reshape(m, n_groups)

    big_k, big_n, c = per_group(k), per_group(n), per_group(np.ones_like(k))
    kk, kn, nn = per_group(k * k), per_group(k * n), per_group(n * n)
    present = big_n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(present, big_k / big_n, 0.0)
        spread = np.maximum(kk - 2 * r * kn + r * r * nn, 0.0)  # sum_c (k_c - r n_c)^2
        robust = np.where(c > 1, c / (c - 1), 1.0) * spread / big_n**2
        v = np.maximum(robust, pooled * (1 - pooled) / big_n)
        w = np.where(present, 1.0 / v, 0.0)
        mean = (w * r).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
    return (w * (r - mean) ** 2).sum(axis=1)




def subject_rate_permutation_test(
    subject_rates: ArrayLike,
    subject_pairs: ArrayLike,
    subject_group: ArrayLike,
    strata: ArrayLike | None = None,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> TestResult:
    """Permutation test that groups' subject-weighted rates (means of their subjects' own rates) are equal.

    Parameters
    ----------
    subject_rates : array of shape (S,): each subject's own rate f_s (its errors over its pairs).
    subject_pairs : array of shape (S,): each subject's pairs n_s (>= 1).
    subject_group : array of shape (S,): group code 0..G-1 of each subject.
    strata : labels are only exchanged between subjects of one stratum; by default all subjects
        are one stratum (subjects are the independent units). A subject alone in its stratum
        stays in place.
    n_permutations, seed : as :func:`cluster_permutation_test`.

    The statistic is a Welch-type Wald statistic of equal means,
    T = sum_g w_g (f_g - f_w)^2 with f_g the mean of the group's m_g subjects' f_s, f_w the
    w-weighted mean and w_g = 1 / V_g, V_g = s_g^2 / m_g (s_g^2 the sample variance of the
    group's f_s, 0 for one subject), floored at p (1 - p) sum_{s in g} (1 / n_s) / m_g^2, the
    variance of f_g if every pair erred independently at the pooled rate p (the mean of all
    f_s), so that a group without errors still has a variance. Studentizing keeps the test
    valid where groups' subjects differ in spread (e.g. in their numbers of pairs), not only in
    mean (Chung & Romano, Ann. Statist. 41, 2013; Janssen, Statist. Probab. Lett. 36, 1997).

    Returns
    -------
    TestResult with the observed T; p = 1 when every f_s is 0 (or every one 1); NaN with fewer
    than 2 groups or when no stratum holds subjects of two groups.
    """
    f = np.asarray(subject_rates, dtype=np.float64)
    n = np.asarray(subject_pairs, dtype=np.float64)
    g = np.asarray(subject_group)
    if f.ndim != 1 or f.shape != n.shape or g.shape != f.shape:
        raise ValueError(f"subject_rates, subject_pairs and subject_group must be 1-D of equal length, got "
                         f"{f.shape}, {n.shape} and {g.shape}")
    if np.any(~np.isfinite(f)) or np.any((f < 0) | (f > 1)):
        raise ValueError("subject_rates must lie in [0, 1]")
    if np.any(~(n >= 1)):
        raise ValueError("every subject needs at least one pair")
    _check_group_codes(g, "subject_group")
    _check_permutations(n_permutations)
    if np.unique(g).size < 2:
        return TestResult(float("nan"), float("nan"), "no test: fewer than 2 groups")
    n_groups = int(g.max() + 1)
    pooled = float(f.mean())
    return _permutation_result(
        lambda labels: _studentized_means(labels, f, n, pooled, n_groups), g,
        np.zeros(g.size, dtype=np.int64) if strata is None else np.asarray(strata), n_groups, pooled, n_permutations,
        seed, SUBJECT_TEST, "subjects",
    )


def _studentized_means(labels: np.ndarray, f: np.ndarray, n: np.ndarray, pooled: float, n_groups: int) -> np.ndarray:
    """The statistic T of :func:`subject_rate_permutation_test` for each row of ``labels``."""
    m = labels.shape[0]
    flat = (labels + n_groups * np.arange(m)[:, None]).ravel()

    def per_group(w: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=np.tile(w, m), minlength=m * n_groups).reshape(m, n_groups)

    count, total, squares, inverse_n = per_group(np.ones_like(f)), per_group(f), per_group(f * f), per_group(1.0 / n)
    present = count > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(present, total / count, 0.0)
        var = np.where(count > 1, np.maximum(squares - count * mean**2, 0.0) / (count - 1), 0.0)
        v = np.maximum(var / count, pooled * (1 - pooled) * inverse_n / count**2)
        w = np.where(present, 1.0 / v, 0.0)
        centre = (w * mean).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
    return (w * (mean - centre) ** 2).sum(axis=1)


def subject_test_for_pairs(
    misses: ArrayLike,
    group: ArrayLike,
    subject: ArrayLike,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> tuple[TestResult, int, int]:
    """:func:`subject_rate_permutation_test` on mated pairs: misses (bool), group and subject per pair.

    A subject's own FNMR in a group is its misses over its mated pairs in that group (as
    :func:`frbench.metrics.subject_fnmr.subject_weighted_fnmr`). A subject whose pairs fall in
    several groups (possible only with image-level labels) keeps each part in its group in every
    permutation. Returns (result, movable subjects, fixed subjects).
    """
    e = np.asarray(misses, dtype=bool)
    grp = np.asarray(group, dtype=object)
    subj = np.asarray(subject)
    if e.ndim != 1 or e.shape != grp.shape or e.shape != subj.shape:
        raise ValueError(f"misses, group and subject must have one value per pair: {e.shape}, {grp.shape}, {subj.shape}")
    gcode, _ = pd.factorize(grp, sort=True)
    scode, _ = pd.factorize(subj, sort=True)
    unit, _ = pd.factorize(pd.MultiIndex.from_arrays([scode, gcode]), sort=True)
    n_units = int(unit.max() + 1) if unit.size else 0
    uk = np.bincount(unit, weights=e, minlength=n_units)
    un = np.bincount(unit, minlength=n_units)
    ug = np.zeros(n_units, dtype=np.int64)
    ug[unit] = gcode
    us = np.zeros(n_units, dtype=np.int64)
    us[unit] = scode
    movable = np.bincount(us, minlength=int(us.max() + 1) if us.size else 0)[us] == 1
    strata = np.where(movable, 0, -1 - np.arange(n_units))
    result = subject_rate_permutation_test(uk / np.maximum(un, 1), un, ug, strata, n_permutations, seed)
    fixed_subjects = int(np.unique(us[~movable]).size)
    return result, int(movable.sum()), fixed_subjects


def pair_clusters(subject_a: ArrayLike, subject_b: ArrayLike) -> NDArray[np.int64]:
    """Cluster of each pair: the connected component of the subject graph these pairs span.

    Two pairs are in one cluster when a chain of pairs sharing subjects links them. A mated
    pair (one subject) is in its subject's cluster.
    """
    a, b = np.asarray(subject_a), np.asarray(subject_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"subject_a and subject_b must be 1-D of equal length, got {a.shape} and {b.shape}")
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    codes, uniques = pd.factorize(np.concatenate([a, b]), sort=True)
    ia, ib = codes[: a.size], codes[a.size :]
    graph = sp.coo_matrix((np.ones(a.size), (ia, ib)), shape=(len(uniques), len(uniques)))
    _, component = connected_components(graph, directed=False)
    return component[ia].astype(np.int64)


def clustered_test_for_pairs(
    errors: ArrayLike,
    group: ArrayLike,
    subject_a: ArrayLike,
    subject_b: ArrayLike,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> tuple[TestResult, int, int]:
    """:func:`cluster_permutation_test` on pairs: clusters by :func:`pair_clusters`.

    ``errors`` (bool per pair) and ``group`` (label per pair) describe only the tested pairs
    (all within a group). Returns (result, movable clusters, fixed clusters); strata are the
    clusters' sizes.
    """
    e = np.asarray(errors, dtype=bool)
    grp = np.asarray(group, dtype=object)
    if e.shape != grp.shape:
        raise ValueError(f"errors and group must have one value per pair: {e.shape} vs {grp.shape}")
    gcode, _ = pd.factorize(grp, sort=True)
    cluster = pair_clusters(subject_a, subject_b)
    # A cluster is movable when all its pairs are in one group; otherwise each of its parts (one
    # per group) is a unit of its own stratum, so it never moves.
    ccode, _ = pd.factorize(cluster, sort=True)
    n_c = int(ccode.max() + 1) if ccode.size else 0
    gmin = np.full(n_c, np.iinfo(np.int64).max)
    gmax = np.full(n_c, -1)
    np.minimum.at(gmin, ccode, gcode)
    np.maximum.at(gmax, ccode, gcode)
    movable = gmin == gmax
    unit, _ = pd.factorize(pd.MultiIndex.from_arrays([ccode, gcode]), sort=True)
    n_units = int(unit.max() + 1) if unit.size else 0
    uk = np.bincount(unit, weights=e, minlength=n_units).astype(np.int64)
    un = np.bincount(unit, minlength=n_units)
    ug = np.zeros(n_units, dtype=np.int64)
    ug[unit] = gcode
    uc = np.zeros(n_units, dtype=np.int64)
    uc[unit] = ccode
    strata = np.where(movable[uc], un, -1 - np.arange(n_units))
    result = cluster_permutation_test(uk, un, ug, strata, n_permutations, seed)
    return result, int(movable.sum()), int((~movable).sum())


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm step-down adjusted p-values; NaN entries are left out of the family and stay NaN.

    Sorted p_(1) <= ... <= p_(m): adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be in [0, 1]")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if idx.size == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def group_tests(
    pairs: pd.DataFrame,
    groups: Groups,
    thresholds: Mapping[str, float],
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> pd.DataFrame:
    """Both tests for every threshold x attribute x rate, Holm-corrected across the table (group_tests.csv).

    Parameters
    ----------
    pairs : scored PairTable (``score, mated, ok, subject_a, subject_b, <attr>_a, <attr>_b``), as
        for :func:`frbench.metrics.grouped.per_group_rates`.
    groups, thresholds : as there (:class:`frbench.groups.Groups`, name -> similarity threshold).
    min_subjects, exclude_groups : groups compared, by the rule of the fairness summaries
        (:func:`frbench.metrics.group_rules.pair_eligibility`); subjects are counted among the
        group's scored pairs of the rate's kind (non-mated for FMR, mated for FNMR): the subjects
        behind the rate compared.
    n_permutations, seed : of the permutation tests (the same seed for every row); 0: none, the
        exact test only.

    Returns
    -------
    DataFrame with ``GROUP_TEST_COLUMNS``, rows threshold-major then attributes, FMR, FNMR, then
    the subject-weighted FNMR (same groups and mated pairs as FNMR): ``errors`` lists ``group
    k/n`` per group (subject-weighted row: ``group FNMR (subjects)``, and ``pooled_rate`` the mean
    of every tested subject's own FNMR); ``exact_*`` and ``clustered_*`` the tests (module
    docstring), ``*_p_holm`` Holm-adjusted over the table's rows, one family per column;
    ``statistic`` the permutation test's observed T; ``note`` why a row lacks a test.
    """
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 0:
        raise ValueError(f"n_permutations must be a whole number >= 0, got {n_permutations!r}")
    names_t, values_t = threshold_arrays(thresholds)
    score, mated, ok = pair_arrays(pairs)
    sa, sb = pairs["subject_a"].to_numpy(), pairs["subject_b"].to_numpy()
    rows = []
    names = groups.names
    rates = VERIFICATION_RATES.primary
    # per attribute x rate, what no threshold changes: the groups compared and the pairs tested
    plan = {}
    for attribute in names:
        label, within = groups.pair_group(pairs, attribute)
        candidates = groups.pair_groups(pairs, attribute)
        for rate in rates:
            kind = ok & (mated if rate.mated else ~mated)
            # eligibility counts the subjects behind this rate: those of the group's scored pairs of its kind
            eligible, why = pair_eligibility(candidates, kind, sa, sb, min_subjects, exclude_groups)
            keep_groups = {g for (g, _), e in zip(candidates, eligible) if e}
            tested = within & np.isin(label, list(keep_groups)) & kind
            groups_here = sorted(set(label[tested]))
            excluded = left_out([g for g, _ in candidates], eligible, why)
            excluded += [(g, "no scored pairs") for g in sorted(keep_groups - set(groups_here))]
            plan[attribute, rate.name] = (label, tested, groups_here, excluded)
    for threshold_name, t in zip(names_t, values_t):
        t = float(t)
        with np.errstate(invalid="ignore"):
            accepted = score >= t
        for attribute in names:
            for rate in rates:
                label, tested, groups_here, excluded = plan[attribute, rate.name]
                err = ~accepted if rate.mated else accepted
                k = np.array([int(np.sum(tested & err & (label == g))) for g in groups_here])
                n = np.array([int(np.sum(tested & (label == g))) for g in groups_here])
                row = _test_row(threshold_name, t, attribute, rate.name, groups_here, k, n, excluded)
                if len(groups_here) < 2:
                    row["note"] = f"fewer than 2 groups to compare ({len(groups_here)})"
                    rows.append(row)
                    continue
                exact = exact_homogeneity_test(k, n, seed=seed)
                row.update(exact_p=exact.p_value, exact_method=exact.method)
                if n_permutations == 0:
                    row["note"] = NO_PERMUTATIONS
                else:
                    clustered, movable, fixed = clustered_test_for_pairs(
                        err[tested], label[tested], sa[tested], sb[tested], n_permutations, seed
                    )
                    row.update(
                        clustered_p=clustered.p_value, clustered_method=clustered.method, n_clusters=movable,
                        n_fixed_clusters=fixed, statistic=clustered.statistic,
                    )
                    if math.isnan(clustered.p_value):
                        row["note"] = clustered.method
                rows.append(row)
                if rate.mated:
                    rows.append(_subject_weighted_row(row, err, label, tested, sa, groups_here, n_permutations, seed))
    return _test_table(rows)


def _subject_weighted_row(
    fnmr_row: dict[str, object], miss: np.ndarray, label: np.ndarray, tested: np.ndarray, subject: np.ndarray,
    groups_here: Sequence[str], n_permutations: int, seed: int,
) -> dict[str, object]:
    """The ``fnmr_subject_weighted`` row beside an FNMR row: the same groups and mated pairs, tested
    by :func:`subject_test_for_pairs` (module docstring); no exact test (not a count)."""
    row = {**fnmr_row, "rate": SUBJECT_WEIGHTED, "exact_p": np.nan, "exact_method": "", "clustered_p": np.nan,
           "clustered_method": "", "n_clusters": 0, "n_fixed_clusters": 0, "statistic": np.nan}
    m, lab, subj = miss[tested], label[tested], subject[tested]
    parts = []
    for g in groups_here:
        in_g = lab == g
        _, inverse, per_subject = np.unique(subj[in_g], return_inverse=True, return_counts=True)
        f = np.bincount(inverse, weights=m[in_g]) / per_subject
        parts.append((g, f))
    row["errors"] = "; ".join(f"{g} {f.mean():.4g} ({f.size} subjects)" for g, f in parts)
    every = np.concatenate([f for _, f in parts]) if parts else np.zeros(0)
    row["pooled_rate"] = float(every.mean()) if every.size else np.nan
    notes = [NO_EXACT_SUBJECT_WEIGHTED]
    if len(groups_here) < 2:
        notes.insert(0, str(fnmr_row["note"]))
    elif n_permutations == 0:
        notes.append(NO_PERMUTATIONS)
    else:
        res, movable, fixed = subject_test_for_pairs(m, lab, subj, n_permutations, seed)
        row.update(clustered_p=res.p_value, clustered_method=res.method, n_clusters=movable, n_fixed_clusters=fixed,
                   statistic=res.statistic)
        if math.isnan(res.p_value):
            notes.append(res.method)
    row["note"] = "; ".join(notes)
    return row


def exact_tests_from_counts(
    counts: pd.DataFrame,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
    seed: int = 0,
    rates: RateSet = VERIFICATION_RATES,
) -> pd.DataFrame:
    """The exact test alone, from a counts table, for protocols without listed pairs (exhaustive, 1:N).

    ``counts`` has ``threshold_name, threshold, attribute, group, n_subjects, n_mated, n_fnm,
    n_nonmated, n_fm``. ``rates`` names the two rates tested (column ``rate``): FMR and FNMR by
    default, FPIR and FNIR with :data:`frbench.metrics.group_rules.SEARCH_RATES`. Returns rows in
    ``GROUP_TEST_COLUMNS`` with the clustered columns empty and a note saying why; Holm over the
    rows given.
    """
    needed = ("threshold_name", "threshold", "attribute", "group", "n_subjects", "n_mated", "n_fnm", "n_nonmated", "n_fm")
    missing = [c for c in needed if c not in counts.columns]
    if missing:
        raise ValueError(f"counts table lacks column(s) {missing}")
    rows = []
    for (threshold_name, attribute), part in counts[counts["attribute"] != ALL].groupby(
        ["threshold_name", "attribute"], sort=False
    ):
        groups = part["group"].astype(str).to_numpy()
        for rate in rates.primary:
            eligible, why = rate_eligibility(part, rate, min_subjects, exclude_groups)
            k_all, n_all = part[rate.errors].to_numpy(), part[rate.trials].to_numpy()
            use = eligible & (n_all > 0)
            excluded = left_out(groups, eligible, why) + [(g, f"no {rates.trials_text}") for g in groups[eligible & (n_all == 0)]]
            k, n = k_all[use], n_all[use]
            row = _test_row(threshold_name, float(part["threshold"].iloc[0]), attribute, rate.name, list(groups[use]), k, n,
                            excluded, "no clustered test: pairs not listed")
            if use.sum() >= 2:
                res = exact_homogeneity_test(k, n, seed=seed)
                row.update(exact_p=res.p_value, exact_method=res.method)
            else:
                row["note"] = f"fewer than 2 groups to compare ({int(use.sum())})"
            rows.append(row)
    return _test_table(rows)
