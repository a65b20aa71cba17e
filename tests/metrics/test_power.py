"""Power rules by hand: k allowed false matches, resolvable targets, rule of three, rule of 30, group sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.metrics.power import (
    POWER_COLUMNS,
    allowed_false_matches,
    estimates,
    group_power,
    resolves,
    rule_of_three_bound,
    summary_eligibility,
    threshold_label,
    threshold_resolution,
    trials_needed,
)
from frbench.metrics.rates import error_counts
from frbench.metrics.thresholds import threshold_at_fmr


def test_allowed_false_matches_by_hand():
    # Issue 14: 297 impostors, target 1e-3: floor(0.297) = 0; at 1e-2: floor(2.97) = 2.
    assert allowed_false_matches(297, 1e-3) == 0
    assert allowed_false_matches(297, 1e-2) == 2
    # 0.29 * 100 is 28.999999999999996 in floating point; the rule still allows 29.
    assert allowed_false_matches(100, 0.29) == 29
    np.testing.assert_array_equal(allowed_false_matches([297, 87_000_000], [1e-3, 1e-6]), [0, 87])


def test_k_zero_is_above_every_impostor_score():
    scores = np.linspace(0.0, 1.0, 297)
    t = threshold_at_fmr(scores, 1e-3)
    assert t > scores.max()  # k = 0: nothing may match
    label = threshold_label("fmr=1e-03", 1e-3, 297)
    assert label.startswith("above every impostor score")
    assert "unresolvable" in label and "297" in label and "= 0 false matches" in label
    assert "FMR <=" not in label


def test_labels_of_resolvable_and_other_thresholds():
    assert threshold_label("fmr=1e-02", 1e-2, 297) == "FMR <= 1e-02 (2 of 297 non-mated pairs may match)"
    assert threshold_label("deepface_default", float("nan"), 297) == "deepface_default"
    assert threshold_label("fmr=1e+00", 1.0, 10) == "at the lowest impostor score (every non-mated pair matches)"
    assert "no non-mated pairs" in threshold_label("fmr=1e-03", 1e-3, 0)


def test_ties_at_the_threshold_reject_every_tied_score():
    # 10 impostors, target 0.1: k = 1 may match, but the two highest scores tie at 0.9, so the
    # threshold rejects both and the achieved count (0) is below k. Power flags use the counts.
    scores = np.array([0.9, 0.9, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1, 0.05, 0.0])
    assert allowed_false_matches(10, 0.1) == 1
    t = threshold_at_fmr(scores, 0.1)
    n_fm, n, _, _ = error_counts(scores, np.zeros(10, dtype=bool), t)
    assert int(n_fm) == 0 and n == 10
    assert threshold_label("fmr=1e-01", 0.1, 10) == "FMR <= 1e-01 (1 of 10 non-mated pairs may match)"


def test_threshold_resolution_table():
    out = threshold_resolution(["deepface_default", "fmr=1e-02", "fmr=1e-03"], [np.nan, 1e-2, 1e-3], [297, 297, 297])
    assert list(out.columns) == [
        "threshold_name", "target_fmr", "n_nonmated", "k_allowed", "n_fm_achieved", "resolvable",
        "min_resolvable_target", "label",
    ]
    assert out["k_allowed"].isna().tolist() == [True, False, False]
    assert out["k_allowed"].iloc[1:].tolist() == [2, 0]
    assert out["resolvable"].iloc[1:].tolist() == [True, False] and pd.isna(out["resolvable"].iloc[0])
    assert out["min_resolvable_target"].iloc[0] == pytest.approx(1 / 297)
    with pytest.raises(ValueError, match="one target"):
        threshold_resolution(["a"], [0.1, 0.2], [10])


def test_rule_of_three_and_rule_of_thirty():
    np.testing.assert_allclose(rule_of_three_bound([3, 300, 3000]), [1.0, 0.01, 0.001])
    assert np.isnan(rule_of_three_bound(0))
    # 3000 pairs resolve 1e-3 exactly at the bound; 2999 do not; no pairs or a zero reference never.
    assert resolves([3000, 2999, 0, 3000], [1e-3, 1e-3, 1e-3, 0.0]).tolist() == [True, False, False, False]
    assert estimates([29, 30, 0]).tolist() == [False, True, False]
    np.testing.assert_array_equal(trials_needed([1e-3, 1e-6]), [30_000, 30_000_000])
    assert trials_needed(1e-3, errors=3) == 3000 and trials_needed(0.0) == np.inf
    with pytest.raises(ValueError, match="whole numbers"):
        rule_of_three_bound([1.5])


def test_summary_eligibility_reasons():
    ok, why = summary_eligibility(["female", "unknown+male", "asianindian", "x"], [57, 36, 3, 1])
    assert ok.tolist() == [True, False, False, False]
    assert why.tolist() == ["", "label unknown", "3 subjects < 10", "1 subject < 10"]
    ok, _ = summary_eligibility(["asianindian"], [3], min_subjects=3)
    assert ok.tolist() == [True]


def _counts() -> pd.DataFrame:
    """Issue 14's LFW quick rows: 297 pairs of each kind overall, race asianindian with 3 mated pairs."""
    rows = []
    for name, n_fm_all, n_fnm_all in (("deepface_default", 3, 20), ("fmr=1e-03", 0, 46)):
        rows.append((name, "all", "all", 433, 297, n_fnm_all, 297, n_fm_all))
        rows.append((name, "race", "asianindian", 3, 3, 1, 0, 0))
        rows.append((name, "race", "caucasian", 202, 221, 13, 93, 0))
        rows.append((name, "race", "unknown", 63, 43, 6, 21, 2))
    return pd.DataFrame(
        rows, columns=["threshold_name", "attribute", "group", "n_subjects", "n_mated", "n_fnm", "n_nonmated", "n_fm"]
    )


def test_group_power_by_hand():
    out = group_power(_counts(), targets={"fmr=1e-03": 1e-3})
    assert list(out.columns) == list(POWER_COLUMNS)
    c = _counts()
    row = lambda name, group: out[(c.threshold_name == name) & (c.group == group)].iloc[0]  # noqa: E731
    # deepface_default has no target: FMR reference is the all row's FMR 3/297, FNMR's is 20/297.
    dd_all = row("deepface_default", "all")
    assert np.isnan(dd_all["target_fmr"]) and dd_all["fmr_reference"] == pytest.approx(3 / 297)
    assert dd_all["fnmr_reference"] == pytest.approx(20 / 297)
    # The all row itself: 3/297 <= 3/297 resolves its own rate; 3 false matches are not 30.
    assert dd_all["fmr_resolves"] and not dd_all["fmr_estimable"]
    assert dd_all["fnmr_resolves"] and not dd_all["fnmr_estimable"]
    assert not dd_all["in_summaries"] and dd_all["excluded_because"] == "all"
    # asianindian: FNMR 1/3 from 3 mated pairs; 3/3 = 1 > 20/297: cannot resolve, cannot estimate.
    ai = row("deepface_default", "asianindian")
    assert ai["fnmr_rule3_bound"] == pytest.approx(1.0) and not ai["fnmr_resolves"] and not ai["fnmr_estimable"]
    assert np.isnan(ai["fmr_rule3_bound"]) and not ai["fmr_resolves"]  # no non-mated pairs
    assert not ai["in_summaries"] and ai["excluded_because"] == "3 subjects < 10"
    # At fmr=1e-03 no impostor of 297 matches (k = 0): the threshold achieved FMR 0, which is the
    # reference, and nothing resolves it.
    t_all = row("fmr=1e-03", "all")
    assert t_all["target_fmr"] == 1e-3 and t_all["fmr_reference"] == 0 and not t_all["fmr_resolves"]
    cau = row("fmr=1e-03", "caucasian")
    assert cau["fnmr_reference"] == pytest.approx(46 / 297) and cau["fnmr_resolves"] and cau["in_summaries"]
    assert row("fmr=1e-03", "unknown")["excluded_because"] == "label unknown"


def test_group_power_needs_the_all_row():
    counts = _counts()
    with pytest.raises(ValueError, match="no 'all' row"):
        group_power(counts[counts.attribute != "all"])
    with pytest.raises(ValueError, match="lacks column"):
        group_power(counts.drop(columns="n_fm"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        group_power(counts, targets={"fmr=1e-03": 2.0})


def test_an_abstained_estimate_is_no_group_to_compare():
    from frbench.metrics.power import summary_eligibility

    ok, why = summary_eligibility(["darker", "uncertain", "uncertain+female", "lighter"], [50, 50, 50, 50])
    assert ok.tolist() == [True, False, False, True]
    assert why.tolist() == ["", "label uncertain", "label uncertain", ""]


def test_a_target_whose_tied_impostors_leave_no_false_match_is_not_resolvable():
    # 152 impostors, 5 tied at the top at 0.7, target 2e-2: k = 3 may match, but every tied score is
    # rejected, so 0 match: the same threshold as an unresolvable 1e-3, and it must say so.
    scores = np.r_[np.full(5, 0.7), np.linspace(0.0, 0.6, 147)]
    t2, t3 = threshold_at_fmr(scores, 2e-2), threshold_at_fmr(scores, 1e-3)
    assert t2 == t3 and t2 > 0.7
    achieved = int((scores >= t2).sum())
    out = threshold_resolution(["fmr=2e-02", "fmr=1e-03", "fixed=0.7"], [2e-2, 1e-3, np.nan], [152] * 3,
                               [achieved, achieved, 5])
    assert out["k_allowed"].iloc[:2].tolist() == [3, 0] and out["n_fm_achieved"].tolist() == [0, 0, 5]
    assert out["resolvable"].iloc[:2].tolist() == [False, False]
    assert out["label"].iloc[0].startswith("above every impostor score") and "0 achieved" in out["label"].iloc[0]


def test_the_all_row_of_a_target_achieving_no_false_match_resolves_no_fmr():
    counts = pd.DataFrame({
        "threshold_name": ["fmr=2e-02", "fmr=2e-02"], "attribute": ["all", "gender"], "group": ["all", "female"],
        "n_subjects": [40, 20], "n_mated": [100, 50], "n_fnm": [3, 2], "n_nonmated": [152, 80], "n_fm": [0, 0],
    })
    power = group_power(counts, {"fmr=2e-02": 2e-2})
    assert not power["fmr_resolves"].any()
