"""Thresholds at a target FMR (the ARCHITECTURE.md definition), best accuracy, fold calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frbench.metrics.rates import fmr
from frbench.metrics.thresholds import (
    best_accuracy_threshold,
    fold_accuracy,
    fold_calibrated,
    threshold_at_fmr,
)

NONMATED = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def achieved(scores, t):
    return float(np.mean(np.asarray(scores) >= t))


def test_threshold_at_fmr_by_hand():
    # n = 10. target 0.1: k = 1, s_(2) = 0.8 -> t just above 0.8, only 0.9 matches: FMR 0.1.
    t = threshold_at_fmr(NONMATED, 0.1)
    assert t == np.nextafter(0.8, np.inf)
    assert achieved(NONMATED, t) == 0.1
    # target 0.2: k = 2, s_(3) = 0.8 is tied with s_(2): both rejected, FMR 0.1 <= 0.2.
    assert threshold_at_fmr(NONMATED, 0.2) == np.nextafter(0.8, np.inf)
    # target 0.35: k = 3, s_(4) = 0.7 -> 0.9, 0.8, 0.8 match: FMR 0.3.
    t = threshold_at_fmr(NONMATED, 0.35)
    assert t == np.nextafter(0.7, np.inf) and achieved(NONMATED, t) == 0.3
    # target 0: nothing may match. target 1: k = n, every score may match: t = min.
    assert achieved(NONMATED, threshold_at_fmr(NONMATED, 0.0)) == 0.0
    assert threshold_at_fmr(NONMATED, 1.0) == 0.1


def test_floor_is_taken_in_exact_arithmetic():
    # 0.29 * 100 is 28.999999999999996 in floating point, but floor(f * n) means 29.
    assert math.floor(0.29 * 100) == 28
    scores = np.arange(100, dtype=np.float64)
    t = threshold_at_fmr(scores, 0.29)
    assert achieved(scores, t) == 0.29


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=80),
    st.floats(0.0, 1.0, allow_nan=False),
)
def test_threshold_is_the_lowest_that_meets_the_target(values, target):
    scores = np.array(values, dtype=np.float64) / 7.0  # ties are common
    t = threshold_at_fmr(scores, target)
    assert fmr(scores, np.zeros(scores.size, bool), t) <= target
    k = max(j for j in range(scores.size + 1) if j / scores.size <= target)  # floor(f * n), exactly
    if k < scores.size:
        # One float lower admits the whole tie at s_(k+1): more than k false matches.
        assert np.sum(scores >= np.nextafter(t, -np.inf)) > k


@pytest.mark.parametrize(
    "scores, target, match",
    [([], 0.1, "non-empty"), ([0.1, np.nan], 0.1, "non-finite"), ([0.1], 1.5, r"\[0, 1\]"), ([0.1], -0.1, r"\[0, 1\]")],
)
def test_threshold_at_fmr_rejects_bad_input(scores, target, match):
    with pytest.raises(ValueError, match=match):
        threshold_at_fmr(scores, target)


def test_best_accuracy_threshold_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    mated = np.array([True, False, True, False, False, True])
    # Correct decisions when matching scores >= u: u=0.4: 3, 0.5: 2, 0.6: 3, 0.7: 4, 0.8: 3, 0.9: 4,
    # above 0.9: 3. Best (4) first reached on (0.6, 0.7]: its midpoint is 0.65.
    assert best_accuracy_threshold(scores, mated) == pytest.approx(0.65)


def test_best_accuracy_threshold_is_optimal_on_a_grid():
    rng = np.random.default_rng(1)
    mated = rng.random(300) < 0.5
    scores = np.round(np.where(mated, rng.normal(0.6, 0.15, 300), rng.normal(0.3, 0.15, 300)), 2)
    t = best_accuracy_threshold(scores, mated)
    grid = np.concatenate([np.unique(scores), [np.inf]])
    best = max(np.mean((scores >= g) == mated) for g in grid)
    assert np.mean((scores >= t) == mated) == best


def test_best_accuracy_extremes():
    # Every mated score below every non-mated one: best to match nothing (2 of 3 correct)...
    assert best_accuracy_threshold([0.1, 0.5, 0.6], [True, False, False]) == np.nextafter(0.6, np.inf)
    # ...or, with mated in the majority, to match everything.
    assert best_accuracy_threshold([0.1, 0.2, 0.6], [True, True, False]) == 0.1


def test_fold_calibrated_uses_the_other_folds():
    # Non-mated scores: fold 1 {0.1, 0.5}, fold 2 {0.2, 0.6}, fold 3 {0.3, 0.7}; one mated 0.9 per fold.
    scores = np.array([0.1, 0.5, 0.9, 0.2, 0.6, 0.9, 0.3, 0.7, 0.9])
    mated = np.array([False, False, True] * 3)
    folds = np.repeat([1, 2, 3], 3)
    # target 0.25 on the 4 non-mated scores of the other two folds: k = 1, threshold above s_(2).
    # fold 1 <- {0.2, 0.6, 0.3, 0.7}: s_(2) = 0.6; folds 2 and 3 <- s_(2) = 0.5.
    t = fold_calibrated(scores, mated, folds, 0.25)
    assert list(t.index) == [1, 2, 3]
    assert t.tolist() == [np.nextafter(0.6, np.inf), np.nextafter(0.5, np.inf), np.nextafter(0.5, np.inf)]


def test_fold_calibrated_accuracy_matches_training_folds():
    rng = np.random.default_rng(2)
    mated = rng.random(200) < 0.5
    scores = np.where(mated, rng.normal(0.6, 0.2, 200), rng.normal(0.3, 0.2, 200))
    folds = np.arange(200) % 4 + 1
    t = fold_calibrated(scores, mated, folds, "accuracy")
    for fold in (1, 2, 3, 4):
        assert t[fold] == best_accuracy_threshold(scores[folds != fold], mated[folds != fold])


def test_fold_accuracy_on_separable_scores():
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.95, 0.05])
    mated = np.array([True, False] * 3)
    out = fold_accuracy(scores, mated, [1, 1, 2, 2, 3, 3])
    assert list(out.columns) == ["fold", "threshold", "n_pairs", "accuracy"]
    assert out["accuracy"].tolist() == [1.0, 1.0, 1.0]
    assert out["n_pairs"].tolist() == [2, 2, 2]


def test_fold_calibration_needs_two_folds_and_a_valid_target():
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_calibrated([0.1, 0.2], [True, False], [1, 1], 0.1)
    with pytest.raises(ValueError, match="target"):
        fold_calibrated([0.1, 0.2], [True, False], [1, 2], "eer")
