"""Group tests: exact p-values against scipy and brute force, the clustered test's size and power."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, fisher_exact

from frbench.groups import Groups
from frbench.metrics.group_tests import (
    GROUP_TEST_COLUMNS,
    cluster_permutation_test,
    clustered_test_for_pairs,
    exact_homogeneity_test,
    exact_tests_from_counts,
    group_tests,
    holm,
    pair_clusters,
    subject_rate_permutation_test,
    subject_test_for_pairs,
)


def test_two_groups_match_scipy_fisher_exact():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = rng.integers(1, 60, 2)
        k = np.array([rng.integers(0, m + 1) for m in n])
        ours = exact_homogeneity_test(k, n).p_value
        theirs = fisher_exact([[k[0], n[0] - k[0]], [k[1], n[1] - k[1]]]).pvalue
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (k, n)
    # Issue 14: 1 false match in 11 female pairs, 0 in 163 male: p = 11/174 = 0.063.
    assert exact_homogeneity_test([1, 0], [11, 163]).p_value == pytest.approx(11 / 174)


def _brute_force_p(k: list[int], n: list[int]) -> float:
    """Freeman-Halton p by listing every placement of the K errors among the N trials (all equally likely)."""
    owner = np.repeat(np.arange(len(n)), n)
    big_k = sum(k)
    def table_of(chosen): return tuple(np.bincount(owner[list(chosen)], minlength=len(n)))
    counts: dict[tuple, int] = {}
    for chosen in itertools.combinations(range(len(owner)), big_k):
        t = table_of(chosen)
        counts[t] = counts.get(t, 0) + 1
    total = math.comb(len(owner), big_k)
    p_obs = counts[tuple(k)] / total
    return sum(c for c in counts.values() if c / total <= p_obs * (1 + 1e-7)) / total


@pytest.mark.parametrize("k, n", [([1, 0, 2], [3, 4, 5]), ([0, 0, 3], [4, 4, 4]), ([2, 1, 1, 0], [3, 3, 2, 4]), ([1, 1, 1], [3, 3, 3])])
def test_more_groups_match_brute_force_enumeration(k, n):
    assert exact_homogeneity_test(k, n).p_value == pytest.approx(_brute_force_p(k, n), rel=1e-9)


def test_monte_carlo_exact_test_agrees_with_enumeration():
    k, n = [12, 30, 5, 9], [200, 300, 150, 120]
    exact = exact_homogeneity_test(k, n)
    mc = exact_homogeneity_test(k, n, max_tables=0, monte_carlo=40_000, seed=3)
    assert "enumerated" in exact.method and "Monte Carlo" in mc.method
    assert mc.p_value == pytest.approx(exact.p_value, abs=4 * math.sqrt(exact.p_value * (1 - exact.p_value) / 40_000) + 1e-4)


def test_exact_test_edge_cases():
    assert exact_homogeneity_test([0, 0], [5, 7]).p_value == 1.0  # no error anywhere: nothing to test
    assert exact_homogeneity_test([5, 7], [5, 7]).p_value == 1.0  # every trial an error
    with pytest.raises(ValueError, match="at least one trial"):
        exact_homogeneity_test([0, 0], [0, 4])
    with pytest.raises(ValueError, match="errors <= trials"):
        exact_homogeneity_test([3, 0], [2, 4])
    with pytest.raises(ValueError, match="at least 2 groups"):
        exact_homogeneity_test([1], [4])


def test_holm_matches_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.04])
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    with_nan = holm([0.01, np.nan, 0.04])  # NaN rows are not in the family
    np.testing.assert_allclose(with_nan[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
    assert np.isnan(with_nan[1])


def test_pair_clusters_are_connected_components():
    # s1-s2-s3 chain, s4 alone (a mated pair), s5-s6.
    a = ["s1", "s2", "s4", "s5", "s1"]
    b = ["s2", "s3", "s4", "s6", "s3"]
    c = pair_clusters(a, b)
    assert c[0] == c[1] == c[4] and len({c[0], c[2], c[3]}) == 3


def _wald(k, n, g) -> float:
    """T of the module docstring, written out group by group."""
    k, n, g = (np.asarray(x, dtype=float) for x in (k, n, g))
    pooled = k.sum() / n.sum()
    r, w = [], []
    for grp in np.unique(g):
        kc, nc = k[g == grp], n[g == grp]
        rate = kc.sum() / nc.sum()
        c = kc.size
        robust = (c / (c - 1) if c > 1 else 1.0) * np.sum((kc - rate * nc) ** 2) / nc.sum() ** 2
        r.append(rate)
        w.append(1 / max(robust, pooled * (1 - pooled) / nc.sum()))
    r, w = np.array(r), np.array(w)
    return float(np.sum(w * (r - np.sum(w * r) / np.sum(w)) ** 2))


def _brute_force_permutation_p(k, n, g) -> float:
    """Over all C! permutations of the clusters, those that only swap clusters of equal size."""
    k, n, g = map(np.asarray, (k, n, g))
    t_obs = _wald(k, n, g)
    perms = [np.array(p) for p in itertools.permutations(range(g.size))]
    stats = [_wald(k, n, g[p]) for p in perms if np.array_equal(n[p], n)]
    return float(np.mean(np.array(stats) >= t_obs - 1e-9))


def test_clustered_test_matches_brute_force_over_all_permutations():
    k, n, g = [2, 0, 1, 0, 0, 1, 3, 1], [3, 2, 2, 1, 1, 2, 3, 2], [0, 0, 0, 0, 1, 1, 1, 1]
    res = cluster_permutation_test(k, n, g)
    # all 24 relabellings are enumerated, but half tie at the top: p can never fall below 0.5, so the
    # test is not called exact and says so
    assert "all 24 relabellings" in res.method and "too few to test: smallest attainable p 0.5" in res.method
    assert res.statistic == pytest.approx(_wald(k, n, g))
    assert res.p_value == pytest.approx(_brute_force_permutation_p(k, n, g))
    # Three groups.
    k3, n3, g3 = [2, 0, 1, 0, 0, 1, 3, 1], [3, 2, 2, 1, 1, 2, 3, 2], [0, 0, 1, 1, 2, 2, 2, 0]
    assert cluster_permutation_test(k3, n3, g3).p_value == pytest.approx(_brute_force_permutation_p(k3, n3, g3))


def test_the_statistic_by_hand():
    # Group 0: clusters (1 of 2), (0 of 2): r = 1/4, sum (k - r n)^2 = 0.25 + 0.25, V = 2 * 0.5 / 16 = 1/16.
    # Group 1: clusters (0 of 2), (0 of 2): r = 0, robust V = 0, floored at p(1-p)/4 = (1/8)(7/8)/4.
    res = cluster_permutation_test([1, 0, 0, 0], [2, 2, 2, 2], [0, 0, 1, 1])
    assert res.statistic == pytest.approx((1 / 4) ** 2 / (1 / 16 + 7 / 256))
    # All 6 relabellings put the error's cluster with a clean one: every T equals the observed.
    assert res.p_value == pytest.approx(1.0)


def test_monte_carlo_permutations_agree_with_enumeration():
    rng = np.random.default_rng(5)
    n = np.full(14, 3)  # one stratum, so C(14, 7) = 3432 relabellings
    k = rng.binomial(n, np.where(np.arange(14) < 7, 0.15, 0.4))
    g = np.repeat([0, 1], 7)
    exact = cluster_permutation_test(k, n, g, n_permutations=5000)
    mc = cluster_permutation_test(k, n, g, n_permutations=3000, seed=1)
    assert "exact" in exact.method and "Monte Carlo" in mc.method
    assert mc.p_value == pytest.approx(exact.p_value, abs=4 * math.sqrt(exact.p_value * (1 - exact.p_value) / 3000) + 2e-3)


def test_clustered_test_edge_cases():
    assert math.isnan(cluster_permutation_test([1, 0], [3, 2], [0, 0]).p_value)  # one group
    assert cluster_permutation_test([0, 0, 0], [2, 3, 1], [0, 1, 1]).p_value == 1.0  # no errors
    # Group 0's clusters have 1 pair, group 1's have 2: no stratum mixes groups, nothing to test.
    res = cluster_permutation_test([1, 0, 0, 1], [1, 1, 2, 2], [0, 0, 1, 1])
    assert math.isnan(res.p_value) and "no stratum" in res.method
    with pytest.raises(ValueError, match="one code per cluster"):
        cluster_permutation_test([0, 1], [2, 3], [0])


def test_unequal_cluster_sizes_do_not_create_evidence():
    """LFW quick, gender at fmr=1e-2: 1 false match in 11 female impostor pairs, 0 in 163 male."""
    female = [(1, 1), (0, 1), (0, 1), (0, 1), (0, 1), (0, 2), (0, 2), (0, 2)]  # (errors, pairs) per cluster
    male = [(0, 1)] * 38 + [(0, 2)] * 13 + [(0, 3)] * 10 + [(0, 4)] * 8 + [(0, 6)] * 5 + [(0, 7)]
    k = [e for e, _ in female + male]
    n = [m for _, m in female + male]
    g = [0] * len(female) + [1] * len(male)
    assert sum(n[: len(female)]) == 11 and sum(n[len(female) :]) == 163
    fisher = exact_homogeneity_test([1, 0], [11, 163]).p_value
    res = cluster_permutation_test(k, n, g, n_permutations=20_000, seed=0)
    # Only the 1-pair clusters can trade the error: 5 of those 43 are female. A relabelling is as
    # extreme as the observed one when the error stays in a female cluster: p = 5/43 up to Monte Carlo.
    assert res.p_value == pytest.approx(5 / 43, abs=0.01)
    assert res.p_value > fisher


def test_clusters_spanning_groups_stay_in_place():
    # Image-level labels: subject s1 has mated pairs in group x and in group y. Its cluster cannot
    # move; the other subjects are permuted around it.
    errors = np.array([1, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
    group = np.array(["x", "y", "x", "x", "y", "y", "x", "y"])
    sa = np.array(["s1", "s1", "s2", "s3", "s4", "s5", "s6", "s7"])
    res, movable, fixed = clustered_test_for_pairs(errors, group, sa, sa)
    assert (movable, fixed) == (6, 1)
    # By hand: s1's parts x 1/1 and y 0/1, each alone in a stratum; s2..s7 one pair each.
    direct = cluster_permutation_test(
        [1, 0, 1, 0, 0, 1, 0, 0], [1] * 8, [0, 1, 0, 0, 1, 1, 0, 1], strata=[-1, -2, 1, 1, 1, 1, 1, 1]
    )
    assert res.p_value == pytest.approx(direct.p_value) and res.statistic == pytest.approx(direct.statistic)


def _toy_pairs() -> pd.DataFrame:
    """Two genders of 12 subjects, 2 mated pairs each, and within- and cross-gender impostor pairs."""
    rows = []
    rng = np.random.default_rng(0)
    female = [f"f{i}" for i in range(12)]
    male = [f"m{i}" for i in range(12)]
    for subj, g in [(s, "female") for s in female] + [(s, "male") for s in male]:
        for _ in range(2):
            rows.append((subj, subj, True, rng.uniform(0.4, 1.0), g, g))
    for group, names in (("female", female), ("male", male)):
        for i in range(0, 12, 2):
            rows.append((names[i], names[i + 1], False, rng.uniform(0.0, 0.6), group, group))
    for i in range(6):
        rows.append((female[i], male[i], False, rng.uniform(0.0, 0.6), "female", "male"))
    rows.append(("u0", "u0", True, 0.9, "unknown", "unknown"))
    pairs = pd.DataFrame(rows, columns=["subject_a", "subject_b", "mated", "score", "gender_a", "gender_b"])
    pairs["ok"] = True
    return pairs


def test_group_tests_table():
    pairs = _toy_pairs()
    out = group_tests(pairs, Groups.of(["gender"]), thresholds={"t": 0.5}, min_subjects=10, n_permutations=999)
    assert list(out.columns) == list(GROUP_TEST_COLUMNS)
    assert out["rate"].tolist() == ["fmr", "fnmr", "fnmr_subject_weighted"]
    fmr = out.iloc[0]
    s, m = pairs["score"].to_numpy(), pairs["mated"].to_numpy()
    within = (pairs["gender_a"] == pairs["gender_b"]).to_numpy() & ~m
    kf = int(np.sum(within & (pairs["gender_a"] == "female").to_numpy() & (s >= 0.5)))
    km = int(np.sum(within & (pairs["gender_a"] == "male").to_numpy() & (s >= 0.5)))
    assert fmr["errors"] == f"female {kf}/6; male {km}/6"  # cross-gender pairs are in no group
    assert fmr["exact_p"] == pytest.approx(fisher_exact([[kf, 6 - kf], [km, 6 - km]]).pvalue)
    assert fmr["n_clusters"] == 12  # each within-group impostor pair is its own component here
    assert fmr["excluded_groups"] == "unknown (label unknown)"
    fnmr = out.iloc[1]
    assert fnmr["n_clusters"] == 24 and "Monte Carlo" in fnmr["clustered_method"]
    np.testing.assert_allclose(out["exact_p_holm"], holm(out["exact_p"].to_numpy()))
    # With min_subjects above the groups' 12 subjects nothing is compared, and the note says why.
    none = group_tests(pairs, Groups.of(["gender"]), thresholds={"t": 0.5}, min_subjects=13)
    assert none["note"].str.startswith("fewer than 2 groups").all() and none["exact_p"].isna().all()


def test_zero_permutations_run_the_exact_test_alone_and_say_so():
    # stats.permutations: 0 means "exact test only": no clustered test, the exact one Holm-corrected as usual.
    pairs = _toy_pairs()
    out = group_tests(pairs, Groups.of(["gender"]), thresholds={"t": 0.5, "u": 0.55}, min_subjects=10, n_permutations=0)
    pair_rows = out[out["rate"].isin(["fmr", "fnmr"])]
    assert pair_rows["exact_p"].notna().all() and pair_rows["clustered_p"].isna().all()
    assert pair_rows["clustered_p_holm"].isna().all() and (pair_rows["n_clusters"] == 0).all()
    assert pair_rows["note"].str.contains("no clustered test: permutations set to 0 (exact test only)", regex=False).all()
    subject_rows = out[out["rate"] == "fnmr_subject_weighted"]
    assert subject_rows["clustered_p"].isna().all() and subject_rows["note"].str.contains("permutations set to 0").all()
    np.testing.assert_allclose(out["exact_p_holm"], holm(out["exact_p"].to_numpy()))
    full = group_tests(pairs, Groups.of(["gender"]), thresholds={"t": 0.5, "u": 0.55}, min_subjects=10, n_permutations=99)
    np.testing.assert_array_equal(out["exact_p"], full["exact_p"])


def test_exact_tests_from_counts():
    counts = pd.DataFrame(
        {
            "threshold_name": ["t"] * 3, "threshold": [0.5] * 3, "attribute": ["all", "gender", "gender"],
            "group": ["all", "female", "male"], "n_subjects": [343, 57, 286], "n_mated": [297, 70, 227],
            "n_fnm": [20, 5, 15], "n_nonmated": [174, 11, 163], "n_fm": [1, 1, 0],
        }
    )
    out = exact_tests_from_counts(counts)
    assert out["exact_p"].iloc[0] == pytest.approx(fisher_exact([[1, 10], [0, 163]]).pvalue)
    assert out["exact_p"].iloc[1] == pytest.approx(fisher_exact([[5, 65], [15, 212]]).pvalue)
    assert out["note"].iloc[0] == "no clustered test: pairs not listed"


# Size and power of the clustered test by simulation, where pairs are not independent and the
# groups differ in structure (the case unrestricted relabelling gets wrong).
N_SIM, ALPHA, B = 600, 0.05, 199


def _simulate_fnmr(rng: np.random.Generator, mean_b: float) -> tuple[np.ndarray, ...]:
    """FNMR: 30 subjects per group, each with its own FNMR from a Beta of mean 0.1 (group b:
    ``mean_b``) and concentration 2, so errors cluster by subject; group a's subjects have 1-3
    mated pairs, group b's 1-6."""
    group = np.repeat([0, 1], 30)
    means = np.where(group == 0, 0.1, mean_b)
    p = rng.beta(means * 2.0, (1 - means) * 2.0)
    pairs = np.where(group == 0, rng.integers(1, 4, group.size), rng.integers(1, 7, group.size))
    subject = np.repeat(np.arange(group.size), pairs)
    errors = rng.random(subject.size) < p[subject]
    return errors, group[subject], subject, subject


def _simulate_fmr(rng: np.random.Generator, shift: float) -> tuple[np.ndarray, ...]:
    """FMR: within-group impostor pairs drawn at random among 200 subjects per group, 40 pairs in
    group a (mostly isolated pairs) and 120 in group b (larger components); a pair's
    false-match probability is expit(-2 + u_s + u_t) with a subject effect u ~ N(0, 1.2)
    (group b: plus ``shift``)."""
    errors, group, sa, sb = [], [], [], []
    for g, n_pairs in ((0, 40), (1, 120)):
        u = rng.normal(0.0, 1.2, 200)
        a = rng.integers(0, 200, n_pairs)
        b = (a + rng.integers(1, 200, n_pairs)) % 200
        p = 1.0 / (1.0 + np.exp(-(-2.0 + shift * g + u[a] + u[b])))
        errors.append(rng.random(n_pairs) < p)
        group.append(np.full(n_pairs, g))
        sa.append(a + 1000 * g)
        sb.append(b + 1000 * g)
    return tuple(np.concatenate(x) for x in (errors, group, sa, sb))


def _rejection_rates(simulate, effect: float, seed: int) -> tuple[float, float]:
    """Share of N_SIM datasets where the clustered test and the pair-level exact test reject at ALPHA."""
    rng = np.random.default_rng(seed)
    clustered = exact = 0
    for i in range(N_SIM):
        errors, group, sa, sb = simulate(rng, effect)
        res, _, _ = clustered_test_for_pairs(errors, group, sa, sb, n_permutations=B, seed=i)
        clustered += res.p_value <= ALPHA
        k = np.bincount(group, weights=errors, minlength=2)
        n = np.bincount(group, minlength=2)
        exact += exact_homogeneity_test(k, n).p_value <= ALPHA
    return clustered / N_SIM, exact / N_SIM


# Under no difference a test at level 5% rejects in about 5% of datasets: the rejection rate of
# N_SIM datasets must lie within the 99.9% binomial band around 0.05.
BAND = binom.ppf([0.0005, 0.9995], N_SIM, ALPHA) / N_SIM


def test_clustered_fnmr_test_holds_its_size_where_pairs_are_not_independent():
    size, exact_size = _rejection_rates(_simulate_fnmr, 0.1, seed=11)
    assert BAND[0] <= size <= BAND[1], (size, BAND)
    # The pair-level exact test does not: errors cluster by subject in these data.
    assert exact_size > BAND[1], exact_size


def test_clustered_fmr_test_holds_its_size_with_groups_of_different_structure():
    size, _ = _rejection_rates(_simulate_fmr, 0.0, seed=21)
    # Exact under its null, and conservative where few clusters can trade labels: the upper
    # end of the band is the requirement.
    assert size <= BAND[1], (size, BAND)


def test_clustered_test_has_power_against_a_real_difference():
    power, _ = _rejection_rates(_simulate_fnmr, 0.3, seed=12)  # FNMR 0.1 against 0.3
    assert power >= 0.4, power
    power, _ = _rejection_rates(_simulate_fmr, 1.5, seed=22)  # false-match log-odds +1.5 in group b
    assert power >= 0.25, power


# The subject-weighted FNMR test: subjects' own FNMRs, group labels permuted among subjects.
def _welch(f, n, g) -> float:
    """The statistic of subject_rate_permutation_test written out plainly, group by group."""
    f, n, g = (np.asarray(x, dtype=float) for x in (f, n, g))
    p = f.mean()
    w, means = [], []
    for code in np.unique(g):
        fg, ng = f[g == code], n[g == code]
        m = fg.size
        var = fg.var(ddof=1) if m > 1 else 0.0
        w.append(1.0 / max(var / m, p * (1 - p) * np.sum(1.0 / ng) / m**2))
        means.append(fg.mean())
    w, means = np.array(w), np.array(means)
    centre = np.sum(w * means) / np.sum(w)
    return float(np.sum(w * (means - centre) ** 2))


def test_subject_weighted_test_enumerates_a_tiny_table_by_hand():
    # 5 subjects: group 0 has own FNMRs 1/2 (2 pairs) and 0 (1 pair); group 1 has 1 (1 pair), 1/3 (3 pairs)
    # and 1 (2 pairs). C(5, 2) = 10 relabellings, each scored by the plain formula.
    f, n, g = [0.5, 0.0, 1.0, 1 / 3, 1.0], [2, 1, 1, 3, 2], [0, 0, 1, 1, 1]
    observed = _welch(f, n, g)
    stats = []
    for zero in itertools.combinations(range(5), 2):
        labels = [0 if i in zero else 1 for i in range(5)]
        stats.append(_welch(f, n, labels))
    stats = np.array(stats)
    res = subject_rate_permutation_test(f, n, g, n_permutations=99)
    assert res.statistic == pytest.approx(observed)
    assert res.p_value == pytest.approx(np.mean(stats >= observed - 1e-9))
    top = np.mean(stats >= stats.max() - 1e-9)
    assert "all 10 relabellings" in res.method and f"smallest attainable p {top:.3g}" in res.method


def test_subject_weighted_test_from_pairs_uses_each_subjects_own_fnmr():
    # s1 misses 1 of 2, s2 0 of 1 (group a); s3 1 of 1, s4 1 of 3, s5 2 of 2 (group b): the tiny table above.
    misses = [1, 0, 0, 1, 1, 0, 0, 1, 1]
    subject = ["s1", "s1", "s2", "s3", "s4", "s4", "s4", "s5", "s5"]
    group = ["a"] * 3 + ["b"] * 6
    res, movable, fixed = subject_test_for_pairs(misses, group, subject, n_permutations=99)
    direct = subject_rate_permutation_test([0.5, 0.0, 1.0, 1 / 3, 1.0], [2, 1, 1, 3, 2], [0, 0, 1, 1, 1], n_permutations=99)
    assert (res.p_value, movable, fixed) == (pytest.approx(direct.p_value), 5, 0)
    # a subject with pairs in both groups (image-level labels) stays in place, each part in its group
    res, movable, fixed = subject_test_for_pairs([*misses, 0], [*group, "b"], [*subject, "s1"], n_permutations=99)
    assert (movable, fixed) == (4, 1)


def test_group_tests_add_a_subject_weighted_fnmr_row_in_the_clustered_holm_family():
    from frbench.metrics.subject_fnmr import subject_weighted_fnmr

    pairs = _toy_pairs()
    out = group_tests(pairs, Groups.of(["gender"]), thresholds={"t": 0.5, "u": 0.7}, min_subjects=10, n_permutations=199)
    assert out["rate"].tolist() == ["fmr", "fnmr", "fnmr_subject_weighted"] * 2
    sw = out[out["rate"] == "fnmr_subject_weighted"].set_index("threshold_name")
    per_subject = subject_weighted_fnmr(pairs, Groups.of(["gender"]), {"t": 0.5, "u": 0.7}, replicates=0)
    for t in ("t", "u"):
        rows = per_subject[(per_subject["threshold_name"] == t) & (per_subject["attribute"] == "gender")]
        rows = rows.set_index("group")
        expected = "; ".join(f"{g} {rows.loc[g, 'fnmr_subject_weighted']:.4g} (12 subjects)" for g in ("female", "male"))
        assert sw.loc[t, "errors"] == expected
    assert sw["exact_p"].isna().all() and sw["note"].str.startswith("no exact test").all()
    assert sw["clustered_p"].between(1 / 200, 1).all() and (sw["n_clusters"] == 24).all()
    assert sw["clustered_method"].str.contains("Monte Carlo (199; smallest attainable p 0.005)", regex=False).all()
    # one Holm family per test column, across the table: the subject-weighted rows join the clustered one
    np.testing.assert_allclose(out["clustered_p_holm"], holm(out["clustered_p"].to_numpy()))
    np.testing.assert_allclose(out["exact_p_holm"], holm(out["exact_p"].to_numpy()))


def _simulate_subject_fnmr(rng: np.random.Generator, mean_b: float) -> tuple[np.ndarray, ...]:
    """Subjects' own FNMRs: group a 20 subjects with 1-3 mated pairs, group b 60 with 1-8; each
    subject's miss probability from a Beta of mean 0.1 (group b: ``mean_b``), concentration 2."""
    group = np.repeat([0, 1], [20, 60])
    means = np.where(group == 0, 0.1, mean_b)
    p = rng.beta(means * 2.0, (1 - means) * 2.0)
    pairs = np.where(group == 0, rng.integers(1, 4, group.size), rng.integers(1, 9, group.size))
    subject = np.repeat(np.arange(group.size), pairs)
    misses = rng.random(subject.size) < p[subject]
    return misses, group[subject], subject


N_SUBJECT_SIM = 400
SUBJECT_BAND = binom.ppf([0.0005, 0.9995], N_SUBJECT_SIM, ALPHA) / N_SUBJECT_SIM


def _subject_rejection_rate(mean_b: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    rejected = 0
    for i in range(N_SUBJECT_SIM):
        misses, group, subject = _simulate_subject_fnmr(rng, mean_b)
        res, _, _ = subject_test_for_pairs(misses, group, subject, n_permutations=99, seed=i)
        rejected += res.p_value <= ALPHA
    return rejected / N_SUBJECT_SIM


def test_subject_weighted_test_holds_its_size_with_groups_of_different_pair_counts():
    # Equal subject-weighted FNMRs (0.1), unequal group sizes and numbers of pairs per subject: the
    # rejection rate at 5% lies in the 99.9% binomial band of 400 datasets around 0.05.
    size = _subject_rejection_rate(0.1, seed=31)
    assert SUBJECT_BAND[0] <= size <= SUBJECT_BAND[1], (size, SUBJECT_BAND)


def test_subject_weighted_test_has_power_against_a_real_difference():
    assert _subject_rejection_rate(0.3, seed=32) >= 0.5  # subject-weighted FNMR 0.1 against 0.3
