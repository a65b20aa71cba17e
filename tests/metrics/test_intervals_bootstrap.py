"""Bootstrap intervals that say how many replicates were undefined, and when not to report one."""

from __future__ import annotations

import numpy as np
import pytest

from frbench.metrics.intervals import bootstrap_interval, bootstrap_subjects, clopper_pearson, percentile_interval


def test_finite_replicates_give_numpys_linear_percentiles():
    r = np.random.default_rng(0).uniform(size=(200, 4))
    out = bootstrap_interval(r)
    np.testing.assert_allclose(out["ci_low"], np.quantile(r, 0.025, axis=0))
    np.testing.assert_allclose(out["ci_high"], np.quantile(r, 0.975, axis=0))
    assert (out["ci_status"] == "two_sided").all() and (out["undefined_share"] == 0).all()
    np.testing.assert_allclose(out["ci_low"], percentile_interval(r)[0])


def test_undefined_replicates_are_counted_and_past_five_percent_withhold_the_interval():
    r = np.random.default_rng(1).uniform(size=(200, 3))
    r[:10, 1] = np.nan  # exactly 5%: reported, from the 190 defined replicates
    r[:11, 2] = np.nan  # 5.5%: not reported
    out = bootstrap_interval(r)
    assert out["undefined_share"].tolist() == pytest.approx([0.0, 0.05, 0.055])
    assert out["ci_status"].tolist() == ["two_sided", "two_sided", "not_reported"]
    assert out["ci_low"].iloc[1] == pytest.approx(np.quantile(r[10:, 1], 0.025))
    assert np.isnan(out["ci_low"].iloc[2]) and np.isnan(out["ci_high"].iloc[2])
    # The limit is an option: at 10% the third column is reported too.
    assert bootstrap_interval(r, max_undefined_share=0.10)["ci_status"].iloc[2] == "two_sided"


def test_unbounded_replicates_sort_above_every_value():
    # [1, 2, 3, inf]: the median interpolates 2 and 3; the 90% quantile touches inf.
    out = bootstrap_interval(np.array([1.0, 2.0, 3.0, np.inf]), level=0.8)
    assert out["ci_low"].iloc[0] == pytest.approx(1.3) and out["ci_high"].iloc[0] == np.inf
    assert out["ci_status"].iloc[0] == "one_sided" and out["unbounded_share"].iloc[0] == 0.25
    all_inf = bootstrap_interval(np.r_[np.full(98, np.inf), 1.0, 2.0])
    assert all_inf["ci_status"].iloc[0] == "unbounded" and all_inf["ci_low"].iloc[0] == np.inf
    with pytest.raises(ValueError, match="-inf"):
        bootstrap_interval(np.array([1.0, -np.inf]))


def test_a_one_subject_group_collapses_to_a_flagged_point():
    """Issue 14: FNMR 1/3 from one subject's 3 mated pairs: every resample is 1/3."""
    subjects = np.array(["s1", "s1", "s1", "s2", "s3"])
    other = np.array(["s1", "s1", "s1", "s3", "s2"])
    in_group = np.array([1, 1, 1, 0, 0], dtype=float)  # the group: s1's mated pairs
    errors = np.array([1, 0, 0, 0, 0], dtype=float)
    reps = bootstrap_subjects(subjects, other, errors * in_group, in_group, replicates=200, seed=0)
    out = bootstrap_interval(reps)
    defined = ~np.isnan(reps[:, 0])
    assert np.allclose(reps[defined, 0], 1 / 3)
    # s1 is left out of some resamples (the group is then undefined): (2/3)^3 = 30% of them here.
    assert out["undefined_share"].iloc[0] == pytest.approx(np.mean(~defined))
    assert out["undefined_share"].iloc[0] > 0.05 and out["ci_status"].iloc[0] == "not_reported"
    # Where it is reported, the point is flagged: the exact interval is the honest one.
    point = bootstrap_interval(reps[defined])
    assert point["ci_status"].iloc[0] == "point" and point["ci_low"].iloc[0] == pytest.approx(1 / 3)
    low, high = clopper_pearson(1, 3)
    assert low == pytest.approx(0.0084, abs=1e-4) and high == pytest.approx(0.9057, abs=1e-4)
