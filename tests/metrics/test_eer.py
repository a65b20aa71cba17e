"""EER, FMR100, FMR1000 and ZeroFMR: hand-computed cases, and pyeer's own functions on the same scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.groups import Groups
from frbench.measure.operating_points import eer_table
from frbench.metrics.eer import equal_error_rate, error_curve, fnmr_at_fmr, zero_fmr


def test_eer_where_the_curves_meet_exactly_is_that_rate():
    # thresholds 0.1 0.2 0.3 0.5 0.8 0.9: at 0.5 FMR = FNMR = 1/3
    e = equal_error_rate([0.9, 0.8, 0.3], [0.1, 0.2, 0.5])
    assert (e.eer, e.low, e.high, e.threshold) == (pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(1 / 3), 0.5)


def test_eer_between_two_thresholds_is_the_midpoint_of_the_better_one():
    # genuine 0.4 0.6 0.9 0.95, impostor 0.1 0.5 0.7: at t=0.6 FMR 1/3, FNMR 1/4 (t1: FMR > FNMR);
    # at t=0.7 FMR 1/3, FNMR 1/2 (t2). t1's sum 7/12 < t2's 10/12, so [1/4, 1/3], EER 7/24.
    e = equal_error_rate([0.4, 0.6, 0.9, 0.95], [0.1, 0.5, 0.7])
    assert e.low == pytest.approx(1 / 4) and e.high == pytest.approx(1 / 3)
    assert e.eer == pytest.approx(7 / 24) and e.threshold == 0.6


def test_fmr100_is_fnmr_at_the_threshold_that_lets_at_most_one_percent_of_impostors_match():
    impostor = np.arange(200) / 200.0        # k = floor(0.01 * 200) = 2: 0.995 and 0.99 may match
    genuine = np.array([0.985, 0.99, 0.5, 0.999])
    # threshold just above 0.985: 0.985 and 0.5 are non-matches
    assert fnmr_at_fmr(genuine, impostor, 0.01) == pytest.approx(2 / 4)
    assert zero_fmr(genuine, impostor) == pytest.approx(3 / 4)   # only 0.999 > 0.995


def _pyeer_stats(genuine, impostor):
    eer_stats = pytest.importorskip("pyeer.eer_stats", reason="pyeer not installed (extra 'formats')")
    import warnings
    from pyeer.eer_info import get_eer_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_eer_stats(list(genuine), list(impostor)), eer_stats


@pytest.mark.parametrize("seed", range(8))
def test_eer_and_its_interval_equal_pyeers_on_random_scores_with_ties(seed):
    rng = np.random.default_rng(seed)
    # rounded to 2 decimals: many ties between and within the classes
    genuine = np.round(rng.normal(0.6, 0.15, 120 + seed), 2)
    impostor = np.round(rng.normal(0.3, 0.15, 400), 2)
    stats, _ = _pyeer_stats(genuine, impostor)
    e = equal_error_rate(genuine, impostor)
    assert e.eer == pytest.approx(stats.eer, abs=1e-12)
    assert (e.low, e.high) == (pytest.approx(min(stats.eer_low, stats.eer_high)), pytest.approx(max(stats.eer_low, stats.eer_high)))


def test_error_curve_equals_pyeers_roc():
    rng = np.random.default_rng(3)
    genuine, impostor = np.round(rng.random(50), 1), np.round(rng.random(70), 1)
    _, eer_stats = _pyeer_stats(genuine, impostor)
    t_ref, fmr_ref, fnmr_ref = eer_stats.calculate_roc(genuine, impostor)
    t, fmr, fnmr = error_curve(np.concatenate([genuine, impostor]), np.r_[np.ones(50, bool), np.zeros(70, bool)])
    np.testing.assert_allclose(t, t_ref)
    np.testing.assert_allclose(fmr, fmr_ref)
    np.testing.assert_allclose(fnmr, fnmr_ref)


def test_fmr100_and_fmr1000_equal_pyeers_when_the_target_is_reachable_exactly():
    rng = np.random.default_rng(5)
    genuine, impostor = rng.normal(0.7, 0.2, 300), rng.normal(0.2, 0.2, 3000)   # 3000: 1 % and 0.1 % exact
    stats, _ = _pyeer_stats(genuine, impostor)
    assert fnmr_at_fmr(genuine, impostor, 0.01) == pytest.approx(stats.fmr100)
    assert fnmr_at_fmr(genuine, impostor, 0.001) == pytest.approx(stats.fmr1000)
    assert zero_fmr(genuine, impostor) == pytest.approx(stats.fmr0)


def _pairs(rng, n_subjects=40):
    rows = []
    for s in range(n_subjects):
        g = "f" if s % 2 else "m"
        rows.append((f"s{s}", f"s{s}", True, rng.normal(0.7 if g == "m" else 0.6, 0.1), g, g))
    for _ in range(600):
        a, b = rng.choice(n_subjects, 2, replace=False)
        ga, gb = ("f" if a % 2 else "m"), ("f" if b % 2 else "m")
        rows.append((f"s{a}", f"s{b}", False, rng.normal(0.3, 0.1), ga, gb))
    out = pd.DataFrame(rows, columns=["subject_a", "subject_b", "mated", "score", "gender_a", "gender_b"])
    out["ok"] = True
    return out


def test_eer_table_has_a_row_per_group_each_equal_to_the_eer_of_that_groups_own_scores():
    pairs = _pairs(np.random.default_rng(0))
    table = eer_table(pairs, Groups.of(["gender"]), replicates=200, seed=1)
    assert list(table["group"]) == ["all", "f", "m"]
    female = pairs[(pairs["gender_a"] == "f") & (pairs["gender_b"] == "f")]
    expected = equal_error_rate(female.loc[female["mated"], "score"], female.loc[~female["mated"], "score"]).eer
    row = table.set_index("group").loc["f"]
    assert row["eer"] == pytest.approx(expected)
    assert row["eer_ci_low"] <= row["eer"] <= row["eer_ci_high"]
    assert row["eer_ci_status"] in ("two_sided", "point")


def test_eer_table_without_bootstrap_says_the_interval_was_not_computed():
    table = eer_table(_pairs(np.random.default_rng(1)), Groups.of([]))
    assert table.loc[0, "eer_ci_status"] == "not_computed" and np.isnan(table.loc[0, "eer_ci_low"])
