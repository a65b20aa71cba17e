"""Clopper-Pearson against scipy's exact binomial test; the subject bootstrap against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from frbench.metrics.intervals import (
    bootstrap_subjects,
    clopper_pearson,
    percentile_interval,
    subject_draws,
)


@pytest.mark.parametrize("level", [0.95, 0.9, 0.99])
def test_clopper_pearson_matches_scipy_exact(level):
    ks, ns = zip(*[(k, n) for n in (1, 2, 7, 30, 300, 6000) for k in sorted({0, 1, n // 3, n - 1, n})])
    low, high = clopper_pearson(np.array(ks), np.array(ns), level)
    for k, n, lo, hi in zip(ks, ns, low, high):
        ci = binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
        assert lo == pytest.approx(ci.low, abs=1e-12)
        assert hi == pytest.approx(ci.high, abs=1e-12)


def test_clopper_pearson_closed_forms():
    # k = 0: Beta(1, n) has cdf 1 - (1-p)^n, so high = 1 - (a/2)^(1/n); k = n mirrors it.
    n, a = 10, 0.05
    low, high = clopper_pearson(0, n)
    assert low == 0.0 and high == pytest.approx(1 - (a / 2) ** (1 / n), abs=1e-12)
    low, high = clopper_pearson(n, n)
    assert high == 1.0 and low == pytest.approx((a / 2) ** (1 / n), abs=1e-12)


def test_clopper_pearson_empty_and_invalid():
    low, high = clopper_pearson([0, 3], [0, 5])
    assert np.isnan(low[0]) and np.isnan(high[0]) and 0 < low[1] < 0.6 < high[1] < 1
    with pytest.raises(ValueError, match="0 <= k <= n"):
        clopper_pearson(4, 3)
    with pytest.raises(ValueError, match="whole"):
        clopper_pearson(1.5, 3)
    with pytest.raises(ValueError, match="level"):
        clopper_pearson(1, 3, level=95)


def test_subject_draws_resample_all_subjects():
    counts = subject_draws(50, 20, seed=1)
    assert counts.shape == (20, 50)
    assert (counts.sum(axis=1) == 50).all()
    np.testing.assert_array_equal(counts, subject_draws(50, 20, seed=1))
    assert not np.array_equal(counts, subject_draws(50, 20, seed=2))


def expanded_rate(subject_a, subject_b, num, den, counts, order):
    """The definition, by explicit expansion: clone each subject once per draw, then list every pair
    between clones (mated pairs once per clone of their subject)."""
    copies = {s: int(c) for s, c in zip(order, counts)}
    total_num = total_den = 0.0
    for a, b, x, y in zip(subject_a, subject_b, num, den):
        if a == b:
            instances = [(i,) for i in range(copies[a])]
        else:
            instances = [(i, j) for i in range(copies[a]) for j in range(copies[b])]
        for _ in instances:
            total_num += x
            total_den += y
    return total_num / total_den if total_den else np.nan


def test_bootstrap_multiplicities_follow_the_definition():
    subject_a = np.array(["A", "A", "B", "C", "A", "D", "B"])
    subject_b = np.array(["A", "B", "B", "A", "C", "D", "D"])
    num = np.array([[1, 0], [1, 1], [0, 0], [0, 1], [1, 0], [0, 0], [1, 1]], dtype=float)
    den = np.ones_like(num)
    reps = bootstrap_subjects(subject_a, subject_b, num, den, replicates=40, seed=5)
    counts = subject_draws(4, 40, seed=5)  # subjects sorted: A, B, C, D
    for r in range(40):
        for col in range(2):
            expected = expanded_rate(subject_a, subject_b, num[:, col], den[:, col], counts[r], "ABCD")
            np.testing.assert_allclose(reps[r, col], expected, equal_nan=True)


def test_bootstrap_is_reproducible_by_seed():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 100, 500).astype(str)
    b = rng.integers(0, 100, 500).astype(str)
    num = (rng.random((500, 3)) < 0.2).astype(float)
    den = np.ones((500, 3))
    first = bootstrap_subjects(a, b, num, den, replicates=50, seed=11)
    np.testing.assert_array_equal(first, bootstrap_subjects(a, b, num, den, replicates=50, seed=11))
    assert not np.array_equal(first, bootstrap_subjects(a, b, num, den, replicates=50, seed=12))


def test_bootstrap_error_of_independent_pairs_is_binomial():
    # 2000 subjects with one mated pair each, 200 errors: FNMR 0.1, SE sqrt(0.1 * 0.9 / 2000).
    subjects = np.arange(2000).astype(str)
    errors = (np.arange(2000) < 200).astype(float)
    reps = bootstrap_subjects(subjects, subjects, errors[:, None], np.ones((2000, 1)), replicates=1000, seed=3)
    assert reps.std() == pytest.approx(np.sqrt(0.1 * 0.9 / 2000), rel=0.1)


def test_bootstrap_widens_for_errors_clustered_by_subject():
    # 200 subjects x 10 mated pairs; 20 subjects fail all their pairs. FNMR is still 0.1, but the
    # information is in 200 subjects, not 2000 pairs: SE sqrt(0.1 * 0.9 / 200), ~3x the binomial.
    subjects = np.repeat(np.arange(200), 10).astype(str)
    errors = (np.repeat(np.arange(200), 10) < 20).astype(float)
    reps = bootstrap_subjects(subjects, subjects, errors[:, None], np.ones((2000, 1)), replicates=1000, seed=4)
    assert reps.std() == pytest.approx(np.sqrt(0.1 * 0.9 / 200), rel=0.15)


def test_bootstrap_undrawn_group_gives_nan():
    # A group made of one subject's pair is absent from a replicate with probability (1 - 1/S)^S.
    a = np.array(["s0", "s1", "s2", "s3"])
    num = np.array([[0.0], [0.0], [0.0], [1.0]])
    den = np.array([[0.0], [0.0], [0.0], [1.0]])
    reps = bootstrap_subjects(a, a, num, den, replicates=200, seed=0)
    assert np.isnan(reps).any()
    assert (reps[~np.isnan(reps)] == 1.0).all()


def test_bootstrap_accepts_sparse_input_and_checks_shapes():
    import scipy.sparse as sp

    a = np.array(["x", "y", "z"])
    num = np.array([[1.0], [0.0], [1.0]])
    dense = bootstrap_subjects(a, a, num, np.ones((3, 1)), replicates=10, seed=0)
    sparse = bootstrap_subjects(a, a, sp.csr_matrix(num), sp.csr_matrix(np.ones((3, 1))), replicates=10, seed=0)
    np.testing.assert_array_equal(dense, sparse)
    with pytest.raises(ValueError, match="one row per pair"):
        bootstrap_subjects(a, a, np.ones((2, 1)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="equal length"):
        bootstrap_subjects(a, a[:2], num, num)


def test_percentile_interval_by_hand():
    reps = np.arange(101, dtype=float)  # quantiles of 0..100 are the percentages themselves
    assert percentile_interval(reps, 0.9) == pytest.approx((5.0, 95.0))
    # One interval per column; NaN replicates are left out.
    two = np.column_stack([np.append(reps, [np.nan] * 10), np.append(2 * reps, [np.nan] * 10)])
    low, high = percentile_interval(two, 0.9)
    np.testing.assert_allclose(low, [5.0, 10.0])
    np.testing.assert_allclose(high, [95.0, 190.0])
    low, high = percentile_interval(np.full((5, 1), np.nan), 0.9)
    assert np.isnan(low[0]) and np.isnan(high[0])
