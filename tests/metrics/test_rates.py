"""FMR / FNMR counts at thresholds: hand cases, ties, brute force."""

from __future__ import annotations

import numpy as np
import pytest

from frbench.metrics.rates import error_counts, fmr, fnmr

SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
MATED = np.array([True, False, True, False, False, True])
# mated scores {0.9, 0.7, 0.4}; non-mated {0.8, 0.6, 0.5}


def test_counts_by_hand_with_ties_at_the_threshold():
    n_fm, n_nm, n_fnm, n_m = error_counts(SCORES, MATED, [0.6, 0.65, 0.8])
    assert (n_nm, n_m) == (3, 3)
    # t=0.6: non-mated >= 0.6 are 0.8 and 0.6 (a tie is a match) -> 2; mated < 0.6: 0.4 -> 1
    # t=0.65: non-mated 0.8 -> 1; mated 0.4 -> 1
    # t=0.8: non-mated 0.8 (tie) -> 1; mated 0.7, 0.4 -> 2
    np.testing.assert_array_equal(n_fm, [2, 1, 1])
    np.testing.assert_array_equal(n_fnm, [1, 1, 2])
    np.testing.assert_allclose(fmr(SCORES, MATED, [0.6, 0.65, 0.8]), [2 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(fnmr(SCORES, MATED, [0.6, 0.65, 0.8]), [1 / 3, 1 / 3, 2 / 3])


def test_infinite_thresholds():
    np.testing.assert_array_equal(fmr(SCORES, MATED, [-np.inf, np.inf]), [1.0, 0.0])
    np.testing.assert_array_equal(fnmr(SCORES, MATED, [-np.inf, np.inf]), [0.0, 1.0])


def test_matches_brute_force_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, size=500) / 20  # many ties
    mated = rng.random(500) < 0.3
    thresholds = np.concatenate([np.unique(scores), rng.random(30)])
    n_fm, n_nm, n_fnm, n_m = error_counts(scores, mated, thresholds)
    for t, fm, fnm in zip(thresholds, n_fm, n_fnm):
        assert fm == sum(1 for s, y in zip(scores, mated) if not y and s >= t)
        assert fnm == sum(1 for s, y in zip(scores, mated) if y and s < t)
    assert n_nm == int((~mated).sum()) and n_m == int(mated.sum())


def test_scalar_threshold_and_integer_labels():
    n_fm, _, n_fnm, _ = error_counts(SCORES, MATED.astype(int), 0.6)
    assert int(n_fm) == 2 and int(n_fnm) == 1


def test_missing_class_gives_nan_rate():
    assert np.isnan(fmr([0.1, 0.2], [True, True], 0.5))
    assert np.isnan(fnmr([0.1, 0.2], [False, False], 0.5))


@pytest.mark.parametrize(
    "scores, mated, match",
    [
        ([0.1, np.nan], [True, False], "non-finite"),
        ([0.1, 0.2], [True], "differ in length"),
        ([0.1, 0.2], [1, 2], "boolean"),
        ([[0.1, 0.2]], [[True, False]], "1-D"),
    ],
)
def test_invalid_inputs(scores, mated, match):
    with pytest.raises(ValueError, match=match):
        error_counts(scores, mated, 0.5)


def test_nan_threshold_rejected():
    with pytest.raises(ValueError, match="NaN"):
        fmr(SCORES, MATED, [0.5, np.nan])


def test_rate_is_k_over_n_and_undefined_without_comparisons():
    from frbench.metrics.rates import rate

    got = rate([0, 3, 2, 0], [4, 4, 0, 0])
    assert got[:2].tolist() == [0.0, 0.75]
    assert np.isnan(got[2]) and np.isnan(got[3])  # no comparisons: undefined, not 0
