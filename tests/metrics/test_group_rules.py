"""The group rules, on a pair table whose membership and eligibility are known by construction.

Race groups of 12 subjects each, two images per subject, every pair scored:

* ``a``: 6 non-mated pairs within ``a`` covering all 12 subjects (1 false match), but mated pairs
  for only 3 subjects: eligible for FMR, not for FNMR (3 subjects behind it);
* ``b``: 12 mated pairs (1 miss) and 6 non-mated pairs within ``b`` (2 false matches): eligible for both;
* ``c``: 12 mated pairs (3 misses) and no non-mated pair within ``c`` (its subjects are only in
  12 cross-group pairs with ``b``): 12 subjects, yet 0 behind FMR, so out of FMR comparisons;
* ``unknown``: like ``b``, but its label is not a demographic group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.groups import ALL, Groups
from frbench.metrics.counts import pair_arrays, pair_counts
from frbench.metrics.fairness import fairness_summary
from frbench.metrics.group_rules import (
    SEARCH_RATES,
    SUMMARY_COLUMNS,
    VERIFICATION_RATES,
    count_subjects,
    excluded_text,
    left_out,
    measure_eligibility,
    pair_eligibility,
    rate_eligibility,
    summary_row,
)
from frbench.metrics.group_tests import exact_tests_from_counts, group_tests
from frbench.metrics.grouped import per_group_rates

GROUPS = Groups.of(["race"])
FMR, FNMR = VERIFICATION_RATES.primary


def _pairs() -> pd.DataFrame:
    images = pd.DataFrame(
        [{"image_id": f"{race}{s:02d}_{i}", "subject_id": f"{race}{s:02d}", "race": race}
         for race in ("a", "b", "c", "unknown") for s in range(12) for i in range(2)]
    )
    rows = []

    def add(a: str, b: str, mated: bool, score: float) -> None:
        rows.append({"image_a": a, "image_b": b, "mated": mated, "score": score})

    for race, mated_subjects, misses in (("a", 3, 0), ("b", 12, 1), ("c", 12, 3), ("unknown", 12, 0)):
        for s in range(mated_subjects):
            add(f"{race}{s:02d}_0", f"{race}{s:02d}_1", True, 0.2 if s < misses else 0.9)
    for race, false_matches in (("a", 1), ("b", 2), ("unknown", 0)):
        for s in range(0, 12, 2):
            add(f"{race}{s:02d}_0", f"{race}{s + 1:02d}_0", False, 0.8 if s // 2 < false_matches else 0.1)
    for s in range(12):
        add(f"c{s:02d}_1", f"b{s:02d}_1", False, 0.1)
    pairs = GROUPS.join_sides(pd.DataFrame(rows), images)
    pairs["ok"] = True
    return pairs


THRESHOLDS = {"t": 0.5}


def test_a_pair_is_in_a_group_only_when_both_sides_are() -> None:
    pairs = _pairs()
    label, within = GROUPS.pair_group(pairs, "race")
    cross = (pairs["race_a"] != pairs["race_b"]).to_numpy()
    assert cross.sum() == 12 and not within[cross].any() and within[~cross].all()
    assert set(label[cross]) == {"c"}  # side a's label, but the pair is in no group
    listed = dict(GROUPS.pair_groups(pairs, "race"))
    assert list(listed) == ["a", "b", "c", "unknown"]
    assert [int(listed[g].sum()) for g in listed] == [3 + 6, 12 + 6, 12, 12 + 6]


def test_pair_groups_among_a_mask_lists_only_groups_with_such_pairs() -> None:
    pairs = _pairs()
    nonmated = ~pairs["mated"].to_numpy()
    listed = dict(GROUPS.pair_groups(pairs, "race", among=nonmated))
    assert list(listed) == ["a", "b", "unknown"]  # c has no non-mated pair of its own
    assert int(listed["b"].sum()) == 6 and not (listed["b"] & ~nonmated).any()


def test_pair_units_start_with_the_all_row() -> None:
    units = GROUPS.pair_units(_pairs())
    assert units[0][:2] == (ALL, ALL) and units[0][2].all()
    assert [u[1] for u in units[1:]] == ["a", "b", "c", "unknown"]


def test_subjects_are_counted_on_both_sides_once() -> None:
    assert count_subjects(["x", "y", "x"], ["y", "z", "w"], [True, True, False]) == 3
    assert count_subjects(["x"], ["y"], [False]) == 0


def test_eligibility_counts_the_subjects_behind_each_rate() -> None:
    pairs = _pairs()
    _, mated, ok = pair_arrays(pairs)
    members = GROUPS.pair_groups(pairs, "race")
    sa, sb = pairs["subject_a"].to_numpy(), pairs["subject_b"].to_numpy()
    fmr_ok, fmr_why = pair_eligibility(members, ok & ~mated, sa, sb, 10)
    fnmr_ok, fnmr_why = pair_eligibility(members, ok & mated, sa, sb, 10)
    assert fmr_ok.tolist() == [True, True, False, False]
    assert fmr_why.tolist() == ["", "", "0 subjects < 10", "label unknown"]
    assert fnmr_ok.tolist() == [False, True, True, False]
    assert fnmr_why.tolist() == ["3 subjects < 10", "", "", "label unknown"]


def test_table_eligibility_agrees_with_the_pairs_and_names_the_rate() -> None:
    counts = pair_counts(_pairs(), GROUPS, THRESHOLDS)
    part = counts[counts["attribute"] == "race"].reset_index(drop=True)
    by_rate = {r.name: rate_eligibility(part, r, 10) for r in VERIFICATION_RATES.primary}
    assert by_rate["fmr"][1].tolist() == ["", "", "0 subjects < 10", "label unknown"]
    # GFAR rests on FMR's subjects, the subject-weighted FNMR on FNMR's
    gfar, _, fnmr_sw = VERIFICATION_RATES.derived
    eligible, why = measure_eligibility(by_rate, [gfar], VERIFICATION_RATES, len(part))
    assert eligible.tolist() == [True, True, False, False]
    assert why.tolist() == ["", "", "FMR: 0 subjects < 10", "label unknown"]
    eligible, why = measure_eligibility(by_rate, [FMR, fnmr_sw], VERIFICATION_RATES, len(part))
    assert eligible.tolist() == [False, True, False, False]
    assert why.tolist() == ["FNMR: 3 subjects < 10", "", "FMR: 0 subjects < 10", "label unknown"]


def test_a_group_with_subjects_but_no_nonmated_pair_is_out_of_fmr_summaries_only() -> None:
    per_group = per_group_rates(_pairs(), GROUPS, THRESHOLDS)
    out = fairness_summary(per_group, min_subjects=10).set_index("measure")
    fmr = out.loc["fmr_max_min_ratio"]
    assert fmr["groups"] == "a;b" and fmr["value"] == pytest.approx((2 / 6) / (1 / 6))
    assert fmr["excluded_groups"] == "c (FMR: 0 subjects < 10); unknown (label unknown)"
    fnmr = out.loc["fnmr_max_min_ratio"]
    assert fnmr["groups"] == "b;c" and fnmr["value"] == pytest.approx((3 / 12) / (1 / 12))
    assert fnmr["excluded_groups"] == "a (FNMR: 3 subjects < 10); unknown (label unknown)"
    fdr = out.loc["fdr"]
    assert fdr["groups"] == "b" and fdr["status"] == "undefined"
    assert fdr["excluded_groups"] == "a (FNMR: 3 subjects < 10); c (FMR: 0 subjects < 10); unknown (label unknown)"


def test_group_tests_compare_the_groups_eligible_for_the_rate() -> None:
    out = group_tests(_pairs(), GROUPS, THRESHOLDS, min_subjects=10, n_permutations=99).set_index("rate")
    assert out.loc["fmr", "groups"] == "a;b" and out.loc["fmr", "errors"] == "a 1/6; b 2/6"
    assert out.loc["fmr", "excluded_groups"] == "c (0 subjects < 10); unknown (label unknown)"
    assert out.loc["fnmr", "groups"] == "b;c" and out.loc["fnmr", "errors"] == "b 1/12; c 3/12"
    assert out.loc["fnmr", "excluded_groups"] == "a (3 subjects < 10); unknown (label unknown)"


def test_summary_row_has_the_summary_columns_and_its_status_from_the_value() -> None:
    row = summary_row("t", "race", "fmr_max_min_ratio", float("inf"), ["a", "b"], [("c", "label unknown")], "def",
                      reason="FMR is 0 in a")
    assert list(row) == list(SUMMARY_COLUMNS)
    assert (row["n_groups"], row["groups"], row["status"]) == (2, "a;b", "unbounded")
    assert row["excluded_groups"] == "c (label unknown)"
    assert summary_row("t", "race", "m", float("nan"), [], [], "def")["status"] == "undefined"
    assert summary_row("t", "race", "m", 1.5, ["a"], [], "def", status="not_estimable")["status"] == "not_estimable"


def test_excluded_text_lists_each_group_with_its_reason() -> None:
    entries = left_out(["a", "b", "c"], [True, False, False], ["", "label unknown", "2 subjects < 10"])
    assert entries == [("b", "label unknown"), ("c", "2 subjects < 10")]
    assert excluded_text(entries) == "b (label unknown); c (2 subjects < 10)"
    assert excluded_text([]) == ""


def _search_names(text: str) -> str:
    return text.replace("fnmr", "fnir").replace("fmr", "fpir").replace("FNMR", "FNIR").replace("FMR", "FPIR")


def test_search_rates_get_the_same_summaries_under_their_own_names() -> None:
    per_group = per_group_rates(_pairs(), GROUPS, THRESHOLDS)
    keep = ["threshold_name", "attribute", "group", "n_subjects", "n_subjects_mated", "n_subjects_nonmated",
            "n_mated", "n_nonmated", "n_fnm", "n_fm", "fmr", "fnmr"]
    verification = fairness_summary(per_group[keep], min_subjects=10)
    search = fairness_summary(per_group[keep].rename(columns={"fmr": "fpir", "fnmr": "fnir"}), min_subjects=10,
                              rates=SEARCH_RATES)
    assert search["measure"].tolist() == [_search_names(m) for m in verification["measure"]]
    assert "fpir_max_min_ratio" in set(search["measure"]) and "fdr" in set(search["measure"])
    np.testing.assert_array_equal(search["value"].to_numpy(), verification["value"].to_numpy())
    for column in ("status", "reason", "groups", "excluded_groups", "definition"):
        assert search[column].tolist() == [_search_names(v) for v in verification[column]], column


def test_exact_tests_name_the_search_rates() -> None:
    counts = pair_counts(_pairs(), GROUPS, THRESHOLDS)
    verification = exact_tests_from_counts(counts, min_subjects=10)
    search = exact_tests_from_counts(counts, min_subjects=10, rates=SEARCH_RATES)
    assert verification["rate"].tolist() == ["fmr", "fnmr"] and search["rate"].tolist() == ["fpir", "fnir"]
    assert search["groups"].tolist() == ["a;b", "b;c"]
    np.testing.assert_array_equal(search["exact_p"].to_numpy(), verification["exact_p"].to_numpy())
