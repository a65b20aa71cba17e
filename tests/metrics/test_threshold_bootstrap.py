"""Bootstrap with the threshold re-set in every replicate: its thresholds, rates and intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.groups import Groups
from frbench.metrics.grouped import bootstrap_replicates, per_group_rates
from frbench.metrics.intervals import bootstrap_interval, subject_draws
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.metrics.threshold_bootstrap import threshold_bootstrap_rates, threshold_bootstrap_replicates


GENDER = Groups.of(["gender"])


def _pairs(seed: int = 0, n: int = 600, n_subjects: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_subjects, n)
    mated = rng.random(n) < 0.4
    b = np.where(mated, a, (a + rng.integers(1, n_subjects, n)) % n_subjects)
    ok = rng.random(n) > 0.03
    score = np.where(ok, rng.normal(size=n) + 2.5 * mated, np.nan)
    gender = np.where(np.arange(n_subjects) % 3 == 0, "female", "male")
    return pd.DataFrame({"subject_a": a, "subject_b": b, "mated": mated, "ok": ok, "score": score,
                         "gender_a": gender[a], "gender_b": gender[b]})


def _multiplicities(pairs: pd.DataFrame, replicates: int, seed: int) -> np.ndarray:
    """Each pair's weight per replicate, written out: c(s) for s-s pairs, c(s) c(t) otherwise."""
    subjects = np.unique(np.concatenate([pairs.subject_a, pairs.subject_b]))
    draws = subject_draws(len(subjects), replicates, seed)
    pos = {s: i for i, s in enumerate(subjects)}
    w = np.empty((replicates, len(pairs)))
    for j, (sa, sb) in enumerate(zip(pairs.subject_a, pairs.subject_b)):
        ca, cb = draws[:, pos[sa]], draws[:, pos[sb]]
        w[:, j] = ca if sa == sb else ca * cb
    return w


def test_without_targets_it_is_the_fixed_threshold_bootstrap():
    pairs = _pairs()
    th = {"a": 0.5, "b": 1.2}
    fmr, fnmr = bootstrap_replicates(pairs, GENDER, th, 60, seed=4)
    out = threshold_bootstrap_replicates(pairs, GENDER, th, {}, 60, seed=4)
    np.testing.assert_allclose(out.fmr, fmr, equal_nan=True)
    np.testing.assert_allclose(out.fnmr, fnmr, equal_nan=True)
    assert (out.thresholds == [0.5, 1.2]).all()


def test_each_replicate_resets_the_threshold_on_its_own_impostors():
    pairs = _pairs()
    th = {"fixed": 0.5, "fmr=5e-02": threshold_at_fmr(pairs.score[pairs.ok & ~pairs.mated], 0.05)}
    out = threshold_bootstrap_replicates(pairs, GENDER, th, {"fmr=5e-02": 0.05}, 40, seed=1)
    w = _multiplicities(pairs, 40, seed=1)
    nonmated = (pairs.ok & ~pairs.mated).to_numpy()
    s = pairs.score.to_numpy()
    for r in range(40):
        pool = np.repeat(s[nonmated], w[r, nonmated].astype(int))
        assert out.thresholds[r, 1] == threshold_at_fmr(pool, 0.05)
    assert (out.thresholds[:, 0] == 0.5).all()  # a threshold without target stays fixed
    assert np.unique(out.thresholds[:, 1]).size > 1
    # Columns: thresholds in order, each with the all row then female, male (per_group_rates order).
    table = per_group_rates(pairs, GENDER, thresholds=th)
    assert out.fmr.shape == (40, len(table))
    all_rows = (table["attribute"] == "all").to_numpy() & (table["threshold_name"] == "fmr=5e-02").to_numpy()
    assert np.all(out.fmr[:, all_rows] <= 0.05)  # the replicate's own calibration holds
    # One replicate's female FNMR at its own threshold, by hand.
    r = 7
    female = ((pairs.gender_a == "female") & (pairs.gender_b == "female") & pairs.ok & pairs.mated).to_numpy()
    expected = np.sum(w[r, female] * (s[female] < out.thresholds[r, 1])) / np.sum(w[r, female])
    col = np.flatnonzero((table["threshold_name"] == "fmr=5e-02").to_numpy() & (table["group"] == "female").to_numpy())[0]
    assert out.fnmr[r, col] == pytest.approx(expected)


def test_intervals_include_the_calibrations_noise():
    pairs = _pairs(seed=2, n=400, n_subjects=80)
    t = threshold_at_fmr(pairs.score[pairs.ok & ~pairs.mated], 0.02)
    th = {"fmr=2e-02": t}
    fixed = bootstrap_replicates(pairs, GENDER, th, 400, seed=0)[1]
    moving = threshold_bootstrap_replicates(pairs, GENDER, th, {"fmr=2e-02": 0.02}, 400, seed=0).fnmr
    a, b = bootstrap_interval(fixed), bootstrap_interval(moving)
    width_fixed = (a.ci_high - a.ci_low).to_numpy()
    width_moving = (b.ci_high - b.ci_low).to_numpy()
    assert width_moving[0] > width_fixed[0]  # the all row's FNMR at FMR 2e-2


def test_a_replicate_without_impostors_has_no_threshold():
    # The only non-mated pair is s1-s2: a replicate missing s1 or s2 has no impostor to calibrate on.
    score = np.array([0.9, 0.8, 0.7, 0.2])
    mated = np.array([True, True, True, False])
    ok = np.ones(4, dtype=bool)
    sa, sb = np.array(["s1", "s2", "s3", "s1"]), np.array(["s1", "s2", "s3", "s2"])
    out = threshold_bootstrap_rates(score, mated, ok, sa, sb, [ok], [0.5, 0.95], [None, 0.1], replicates=50, seed=0)
    none = (subject_draws(3, 50, 0)[:, :2] == 0).any(axis=1)
    assert none.any() and (~none).any()
    assert np.isnan(out.thresholds[none, 1]).all() and np.isnan(out.fnmr[none, 1]).all()
    assert not np.isnan(out.fnmr[:, 0]).any()  # the fixed threshold still counts mated pairs
    with pytest.raises(ValueError, match="one target"):
        threshold_bootstrap_rates(score, mated, ok, sa, sb, [ok], [0.5], [None, 0.1])
