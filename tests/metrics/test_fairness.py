"""Equitability measures: one hand-worked case per measure, the undefined/unbounded rules, the tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from frbench.groups import Groups
from frbench.metrics.fairness import (
    BOOTSTRAP_SUMMARY_COLUMNS,
    SUMMARY_COLUMNS,
    balanced_error_ratio,
    fairness_bootstrap,
    fairness_discrepancy_rate,
    fairness_summary,
    fte_differentials,
    garbe,
    gini,
    inequity_rate,
    max_geomean_ratio,
    max_min_ratio,
    own_threshold_errors,
    skewed_error_ratio,
    skewed_error_ratio_summary,
)

# Three groups; rates chosen so every measure works out by hand.
FMR = np.array([0.01, 0.02, 0.04])
FNMR = np.array([0.10, 0.05, 0.05])


def test_max_min_ratio_by_hand():
    assert max_min_ratio(FMR) == pytest.approx(0.04 / 0.01)  # 4
    assert max_min_ratio(FNMR) == pytest.approx(0.10 / 0.05)  # 2


def test_max_geomean_ratio_by_hand():
    # FMR: geometric mean (0.01 * 0.02 * 0.04)^(1/3) = (8e-6)^(1/3) = 0.02 -> 0.04 / 0.02 = 2.
    assert max_geomean_ratio(FMR) == pytest.approx(2.0)
    # FNMR: (0.1 * 0.05^2)^(1/3) = 0.05 * 2^(1/3) -> 0.1 / that = 2^(2/3).
    assert max_geomean_ratio(FNMR) == pytest.approx(2 ** (2 / 3))


def test_fdr_by_hand_and_by_definition():
    # A = 0.04 - 0.01 = 0.03, B = 0.10 - 0.05 = 0.05: 1 - (0.5 * 0.03 + 0.5 * 0.05) = 0.96.
    assert fairness_discrepancy_rate(FMR, FNMR) == pytest.approx(0.96)
    # alpha = 0.9: 1 - (0.027 + 0.005) = 0.968.
    assert fairness_discrepancy_rate(FMR, FNMR, alpha=0.9) == pytest.approx(0.968)
    # The paper's max over all pairs |FMR_i - FMR_j|, written out.
    a = max(abs(x - y) for x, y in itertools.product(FMR, FMR))
    b = max(abs(x - y) for x, y in itertools.product(FNMR, FNMR))
    assert fairness_discrepancy_rate(FMR, FNMR, 0.3) == pytest.approx(1 - (0.3 * a + 0.7 * b))


def test_inequity_rate_by_hand():
    # (4)^0.5 * (2)^0.5 = sqrt(8); alpha = 1 keeps only the FMR ratio.
    assert inequity_rate(FMR, FNMR) == pytest.approx(np.sqrt(8))
    assert inequity_rate(FMR, FNMR, alpha=1.0) == pytest.approx(4.0)


def test_gini_by_hand():
    # FMR: sum over ordered pairs of |x_i - x_j| = 2 * (0.01 + 0.03 + 0.02) = 0.12, mean 0.07/3:
    # 3/2 * 0.12 / (2 * 9 * 0.07/3) = 3/7.
    assert gini(FMR) == pytest.approx(3 / 7)
    # FNMR: 2 * (0.05 + 0.05 + 0) = 0.2, mean 0.2/3: 3/2 * 0.2 / 1.2 = 0.25.
    assert gini(FNMR) == pytest.approx(0.25)
    assert gini([0.0, 0.0, 0.3]) == pytest.approx(1.0)  # one group holds every error
    assert gini([0.2, 0.2]) == 0.0
    assert np.isnan(gini([0.0, 0.0]))  # 0/0: no errors is not "equal", it is unknown
    assert np.isnan(gini([0.1]))


def test_garbe_by_hand():
    # 0.25 * 3/7 + 0.75 * 0.25
    assert garbe(FMR, FNMR) == pytest.approx(0.25 * 3 / 7 + 0.75 * 0.25)
    assert garbe(FMR, FNMR, alpha=0.5) == pytest.approx(0.5 * 3 / 7 + 0.5 * 0.25)


def test_balanced_error_ratio_by_hand():
    # Balanced errors (0.01+0.10)/2 = 0.055, (0.02+0.05)/2 = 0.035, (0.04+0.05)/2 = 0.045: 0.055/0.035.
    assert balanced_error_ratio(FMR, FNMR) == pytest.approx(11 / 7)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="one value per group"):
        fairness_discrepancy_rate([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="alpha"):
        garbe(FMR, FNMR, alpha=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        max_min_ratio([0.1, np.nan])




def test_a_zero_in_the_denominator_is_unbounded_never_floored_or_clamped():
    # Issue 14, gender at fmr=1e-2: 1 false match in 11 female pairs, 0 in 163 male ones. The old
    # 3/n floor made this 4.94; the ratio is in fact unbounded.
    assert max_min_ratio([1 / 11, 0.0]) == np.inf
    assert max_geomean_ratio([1 / 11, 0.0]) == np.inf
    # A zero next to a small rate: formerly floored then clamped to 1.0 ("equal"); it is unbounded.
    assert max_min_ratio([0.0, 0.001]) == np.inf
    assert max_geomean_ratio([0.0, 0.001, 0.002]) == np.inf
    # Nothing observed anywhere (0/0) and a single group: undefined.
    assert np.isnan(max_min_ratio([0.0, 0.0]))
    assert np.isnan(max_geomean_ratio([0.0, 0.0, 0.0]))
    assert np.isnan(max_min_ratio([0.01]))
    # Ratios of equal rates are 1, and nothing is ever below 1.
    assert max_min_ratio([0.2, 0.2]) == 1.0


def test_combined_measures_follow_their_components():
    # IR: an unbounded FMR ratio makes IR unbounded; an undefined FNMR ratio makes it undefined,
    assert inequity_rate([0.0, 0.01], [0.1, 0.2]) == np.inf
    assert np.isnan(inequity_rate([0.01, 0.02], [0.0, 0.0]))
    # unless its weight is 0: then only the FMR ratio counts, (0.02/0.01)^1.
    assert inequity_rate([0.01, 0.02], [0.0, 0.0], alpha=1.0) == pytest.approx(2.0)
    # GARBE: Gini of all-zero FMR is 0/0, so GARBE is undefined; with FMR weight 0 it is Gini(FNMR).
    assert np.isnan(garbe([0.0, 0.0], [0.1, 0.2]))
    assert garbe([0.0, 0.0], [0.1, 0.2], alpha=0.0) == pytest.approx(1 / 3)  # Gini([0.1, 0.2]) = 2 * 0.2 / 1.2
    # FDR is a difference: defined with zeros.
    assert fairness_discrepancy_rate([0.0, 0.0], [0.0, 0.1]) == pytest.approx(0.95)
    assert np.isnan(fairness_discrepancy_rate([0.1], [0.1]))


def test_skewed_error_ratio_sets_each_group_at_its_own_threshold():
    # g1: mated 0.9 0.8 0.3, non-mated 0.1 0.2 0.5: the best threshold errs once in 6 (1/6).
    # g2: mated 0.9 0.4 0.6 0.7, non-mated 0.5 0.1 0.2 0.3: once in 8 (1/8). SER = (1/6)/(1/8) = 4/3.
    scores = [0.9, 0.8, 0.3, 0.1, 0.2, 0.5, 0.9, 0.4, 0.6, 0.7, 0.5, 0.1, 0.2, 0.3]
    mated = [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    groups = ["g1"] * 6 + ["g2"] * 8
    errors = own_threshold_errors(scores, mated, groups)
    assert errors["error"].tolist() == pytest.approx([1 / 6, 1 / 8])
    assert skewed_error_ratio(errors["error"]) == pytest.approx(4 / 3)
    # At one global threshold of 0.35 instead, g1 errs twice (0.3 rejected, 0.5 accepted): 1/3
    # against g2's 1/8, a ratio of 8/3. That is what SER at a global threshold would have said.
    s, y = np.array(scores), np.array(mated, dtype=bool)
    assert 1 - np.mean((s[:6] >= 0.35) == y[:6]) == pytest.approx(1 / 3)
    assert 1 - np.mean((s[6:] >= 0.35) == y[6:]) == pytest.approx(1 / 8)


def test_skewed_error_ratio_summary_from_pairs():
    scores = [0.9, 0.8, 0.3, 0.1, 0.2, 0.5, 0.9, 0.4, 0.6, 0.7, 0.5, 0.1, 0.2, 0.3]
    mated = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    sa = [f"s{i}" for i in range(14)]
    sb = [a if m else f"t{i}" for i, (a, m) in enumerate(zip(sa, mated))]
    gender = ["female"] * 6 + ["male"] * 8
    pairs = pd.DataFrame({"score": scores, "mated": mated, "ok": True, "subject_a": sa, "subject_b": sb,
                          "gender_a": gender, "gender_b": gender})
    errors, summary = skewed_error_ratio_summary(pairs, Groups.of(["gender"]), min_subjects=0)
    assert errors["error"].tolist() == pytest.approx([1 / 6, 1 / 8])
    row = summary.iloc[0]
    assert row["measure"] == "ser" and row["threshold_name"] == "own" and row["value"] == pytest.approx(4 / 3)
    assert "own threshold" in row["definition"] and "optimistic" in row["definition"]


def per_group_table() -> pd.DataFrame:
    rows = []
    for name in ("fmr=1e-03", "deepface_default"):
        rows.append((name, "all", "all", 400, 400, 4000, 0.06, 0.02))
        for group, fmr_, fnmr_ in zip(("a", "b", "c"), FMR, FNMR):
            rows.append((name, "race", group, 100, 100, 1000, fnmr_, fmr_))
        rows.append((name, "race", "unknown", 100, 100, 1000, 0.9, 0.9))  # excluded by label
        rows.append((name, "race", "d", 4, 10, 100, 0.5, 0.5))  # 4 subjects < 10: shown, not compared
        rows.append((name, "race+gender", "a+f", 50, 50, 500, 0.1, 0.0))
        rows.append((name, "race+gender", "b+f", 50, 50, 500, 0.2, 0.012))
        rows.append((name, "race+gender", "unknown+f", 50, 50, 500, 0.5, 0.5))
        rows.append((name, "race+gender", "c+f", 20, 0, 0, np.nan, np.nan))  # no scored pairs
    return pd.DataFrame(
        rows, columns=["threshold_name", "attribute", "group", "n_subjects", "n_mated", "n_nonmated", "fnmr", "fmr"]
    )


MEASURES = [
    "fmr_max_min_ratio",
    "fmr_max_geomean_ratio",
    "fmr_difference",
    "fmr_ratio",
    "fnmr_max_min_ratio",
    "fnmr_max_geomean_ratio",
    "fnmr_difference",
    "fnmr_ratio",
    "fdr",
    "inequity_rate",
    "garbe",
    "balanced_error_ratio",
]


def test_summary_table():
    out = fairness_summary(per_group_table())
    assert list(out.columns) == list(SUMMARY_COLUMNS)
    assert out.measure.tolist() == MEASURES * 4
    assert out.threshold_name.tolist() == ["fmr=1e-03"] * 24 + ["deepface_default"] * 24
    race = out[(out.threshold_name == "fmr=1e-03") & (out.attribute == "race")].set_index("measure")
    expected = {
        "fmr_max_min_ratio": 4.0,
        "fnmr_max_min_ratio": 2.0,
        "fmr_max_geomean_ratio": 2.0,
        "fmr_ratio": 0.25,
        "fnmr_ratio": 0.5,
        "fdr": 0.96,
        "inequity_rate": np.sqrt(8),
        "garbe": 0.25 * 3 / 7 + 0.75 * 0.25,
        "balanced_error_ratio": 11 / 7,
    }
    for measure, value in expected.items():
        assert race.loc[measure, "value"] == pytest.approx(value), measure
    assert (race["status"] == "defined").all() and (race["reason"] == "").all()
    assert (race["groups"] == "a;b;c").all() and (race["n_groups"] == 3).all()
    # each measure names the rate whose subjects are too few (the subjects behind that rate)
    assert race["excluded_groups"].str.fullmatch(r"unknown \(label unknown\); d \(FN?MR: 4 subjects < 10\)").all()
    inter = out[(out.threshold_name == "fmr=1e-03") & (out.attribute == "race+gender")].set_index("measure")
    # a+f has no false match in 500 pairs: every FMR ratio is unbounded, with the reason.
    for measure in ("fmr_max_min_ratio", "fmr_max_geomean_ratio", "inequity_rate"):
        assert inter.loc[measure, "value"] == np.inf and inter.loc[measure, "status"] == "unbounded"
        assert "FMR is 0 in a+f (0 of 500)" in inter.loc[measure, "reason"]
    # Fairlearn's ratio of the same groups is 0, defined: min/max has no zero denominator
    assert inter.loc["fmr_ratio", "value"] == 0 and inter.loc["fmr_ratio", "status"] == "defined"
    assert inter.loc["fmr_max_min_ratio", "zero_groups"] == "a+f"
    assert inter.loc["fmr_max_min_ratio", "groups"] == "a+f;b+f"
    assert inter.loc["fmr_max_min_ratio", "excluded_groups"] == "unknown+f (label unknown); c+f (no FMR: no scored pairs)"
    assert inter.loc["fnmr_max_min_ratio", "value"] == pytest.approx(2.0)
    assert inter.loc["fdr", "value"] == pytest.approx(1 - (0.5 * 0.012 + 0.5 * 0.1))
    # Gini([0, 0.012]) = 1 (one group has every error), Gini([0.1, 0.2]) = 1/3.
    assert inter.loc["garbe", "value"] == pytest.approx(0.25 * 1 + 0.75 / 3)
    assert inter.loc["balanced_error_ratio", "value"] == pytest.approx(0.106 / 0.05)


def test_min_subjects_and_exclusions_are_options():
    out = fairness_summary(per_group_table(), exclude_groups=(), min_subjects=0)
    race = out[(out.threshold_name == "fmr=1e-03") & (out.attribute == "race")].set_index("measure")
    assert race.loc["fmr_max_min_ratio", "value"] == pytest.approx(0.9 / 0.01)
    assert race.loc["fmr_max_min_ratio", "n_groups"] == 5
    with pytest.raises(ValueError, match="n_subjects"):
        fairness_summary(per_group_table().drop(columns="n_subjects"))


def test_a_zero_fmr_in_one_gender_makes_the_fmr_ratio_unbounded_with_its_reason():
    table = pd.DataFrame(
        {
            "threshold_name": ["fmr=1e-02"] * 3,
            "attribute": ["all", "gender", "gender"],
            "group": ["all", "female", "male"],
            "n_subjects": [433, 57, 286],
            "n_mated": [297, 70, 227],
            "n_nonmated": [297, 11, 163],
            "fmr": [2 / 297, 1 / 11, 0.0],
            "fnmr": [20 / 297, 5 / 70, 15 / 227],
        }
    )
    row = fairness_summary(table).set_index("measure").loc["fmr_max_min_ratio"]
    assert row["value"] == np.inf and row["status"] == "unbounded"
    assert row["reason"] == "FMR is 0 in male (0 of 163): unbounded"


def test_a_group_whose_pairs_all_failed_stays_in_the_generalised_measures():
    table = pd.DataFrame(
        {
            "threshold_name": ["t"] * 3,
            "attribute": ["all", "g", "g"],
            "group": ["all", "x", "y"],
            "n_subjects": [24, 12, 12],  # subjects over all the group's pairs, failed ones included
            "n_mated": [50, 0, 50],
            "n_nonmated": [500, 0, 500],
            "fmr": [0.01, np.nan, 0.01],
            "fnmr": [0.1, np.nan, 0.1],
            # x: 40 non-mated and 30 mated pairs, all failed: GFAR 0/40 = 0, GFRR 30/30 = 1.
            "gfar": [0.005, 0.0, 0.009],
            "gfrr": [0.2, 1.0, 0.2],
        }
    )
    out = fairness_summary(table).set_index("measure")
    assert out.loc["fnmr_max_min_ratio", "status"] == "undefined"
    assert out.loc["fnmr_max_min_ratio", "reason"] == "fewer than 2 groups (1)"
    assert out.loc["fnmr_max_min_ratio", "excluded_groups"] == "x (no FNMR: no scored pairs)"
    assert out.loc["gfrr_max_min_ratio", "value"] == pytest.approx(5.0) and out.loc["gfrr_max_min_ratio", "groups"] == "x;y"
    assert out.loc["gfar_max_min_ratio", "value"] == np.inf
    assert out.loc["gfar_max_min_ratio", "reason"] == "GFAR is 0 in x: unbounded"


def _two_group_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "threshold_name": ["t"] * 3,
            "attribute": ["all", "gender", "gender"],
            "group": ["all", "female", "male"],
            "n_subjects": [200, 100, 100],
            "n_mated": [200, 100, 100],
            "n_nonmated": [2000, 1000, 1000],
            "fmr": [0.015, 0.02, 0.01],
            "fnmr": [0.075, 0.1, 0.05],
        }
    )


def test_fairness_bootstrap_of_unchanged_replicates_collapses_to_a_flagged_point() -> None:
    table = _two_group_table()
    reps = np.tile(table["fmr"].to_numpy(), (5, 1)), np.tile(table["fnmr"].to_numpy(), (5, 1))
    out = fairness_bootstrap(table, *reps)
    assert list(out.columns) == [*SUMMARY_COLUMNS, *BOOTSTRAP_SUMMARY_COLUMNS]
    assert (out["ci_low"] == out["value"]).all() and (out["ci_high"] == out["value"]).all()
    assert (out["ci_status"] == "point").all() and (out["undefined_share"] == 0).all()
    assert out.set_index("measure").loc["fmr_max_min_ratio", "value"] == pytest.approx(2.0)


def test_fairness_bootstrap_interval_spans_the_replicate_ratios() -> None:
    table = _two_group_table()
    # Replicates where the FMR ratio female/male takes the values 1.0, 1.5, ..., 3.0 (male fixed at 0.01).
    ratios = np.linspace(1.0, 3.0, 5)
    fmr = np.column_stack([np.full(5, 0.015), 0.01 * ratios, np.full(5, 0.01)])
    fnmr = np.tile(table["fnmr"].to_numpy(), (5, 1))
    out = fairness_bootstrap(table, fmr, fnmr, level=0.5).set_index("measure")
    # 25% and 75% quantiles of [1, 1.5, 2, 2.5, 3] by linear interpolation: 1.5 and 2.5
    assert out.loc["fmr_max_min_ratio", "ci_low"] == pytest.approx(1.5)
    assert out.loc["fmr_max_min_ratio", "ci_high"] == pytest.approx(2.5)
    assert out.loc["fmr_max_min_ratio", "ci_status"] == "two_sided"


def test_a_replicate_missing_a_group_is_undefined_not_computed_over_fewer_groups() -> None:
    table = _two_group_table()
    fmr = np.tile(table["fmr"].to_numpy(), (20, 1))
    fnmr = np.tile(table["fnmr"].to_numpy(), (20, 1))
    fmr[0, 2] = np.nan  # male drew no non-mated pair in replicate 0: 1 of 20 = 5%, still reported
    out = fairness_bootstrap(table, fmr, fnmr).set_index("measure")
    assert out.loc["fmr_max_min_ratio", "undefined_share"] == pytest.approx(0.05)
    assert out.loc["fmr_max_min_ratio", "ci_low"] == pytest.approx(2.0)
    assert out.loc["fnmr_max_min_ratio", "undefined_share"] == 0.0  # FNMR measures do not use FMR
    assert out.loc["fdr", "undefined_share"] == pytest.approx(0.05)
    fmr[1, 1] = np.nan  # 2 of 20 = 10% > 5%: no interval
    out = fairness_bootstrap(table, fmr, fnmr).set_index("measure")
    assert out.loc["fmr_max_min_ratio", "ci_status"] == "not_reported"
    assert np.isnan(out.loc["fmr_max_min_ratio", "ci_low"]) and np.isnan(out.loc["fmr_max_min_ratio", "ci_high"])
    assert out.loc["fmr_max_min_ratio", "undefined_share"] == pytest.approx(0.10)


def test_unbounded_replicates_make_the_interval_one_sided() -> None:
    table = _two_group_table()
    fmr = np.tile(table["fmr"].to_numpy(), (40, 1))
    fmr[:10, 2] = 0.0  # male without false match in 10 of 40 replicates: ratio inf there
    fnmr = np.tile(table["fnmr"].to_numpy(), (40, 1))
    row = fairness_bootstrap(table, fmr, fnmr).set_index("measure").loc["fmr_max_min_ratio"]
    assert row["unbounded_share"] == pytest.approx(0.25) and row["undefined_share"] == 0.0
    assert row["ci_low"] == pytest.approx(2.0) and row["ci_high"] == np.inf and row["ci_status"] == "one_sided"


def test_a_ratio_undefined_in_most_replicates_gets_no_bootstrap_interval() -> None:
    """Male has 0 false matches in every replicate; female has some in 30% of them, none in 70%."""
    table = pd.DataFrame(
        {
            "threshold_name": ["t"] * 3, "attribute": ["all", "gender", "gender"], "group": ["all", "female", "male"],
            "n_subjects": [343, 57, 286], "n_mated": [297, 70, 227], "n_nonmated": [174, 11, 163],
            "fmr": [1 / 174, 1 / 11, 0.0], "fnmr": [0.07, 0.07, 0.066],
        }
    )
    fmr = np.zeros((200, 3))
    fmr[:60, 1] = 1 / 11
    fnmr = np.tile(table["fnmr"].to_numpy(), (200, 1))
    row = fairness_bootstrap(table, fmr, fnmr).set_index("measure").loc["fmr_max_min_ratio"]
    assert row["value"] == np.inf
    assert row["undefined_share"] == pytest.approx(0.7) and row["unbounded_share"] == pytest.approx(0.3)
    assert row["ci_status"] == "not_reported" and np.isnan(row["ci_low"])


def test_fairness_bootstrap_replicate_equals_summary_of_that_replicate() -> None:
    """One replicate in, its interval collapses to fairness_summary of the replicate table."""
    rng = np.random.default_rng(3)
    groups = ["a", "b", "c", "unknown"]
    table = pd.DataFrame(
        {
            "threshold_name": ["t"] * 5,
            "attribute": ["all"] + ["g"] * 4,
            "group": ["all", *groups],
            "n_subjects": [400, 100, 100, 100, 100],
            "n_mated": [400, 100, 100, 100, 100],
            "n_nonmated": [4000, 1000, 1000, 1000, 1000],
            "fmr": rng.uniform(0.001, 0.02, 5),
            "fnmr": rng.uniform(0.01, 0.2, 5),
        }
    )
    fmr_rep = rng.uniform(0.001, 0.02, (1, 5))
    fnmr_rep = rng.uniform(0.01, 0.2, (1, 5))
    replicate = table.copy()
    replicate["fmr"], replicate["fnmr"] = fmr_rep[0], fnmr_rep[0]
    expected = fairness_summary(replicate)["value"].to_numpy()
    got = fairness_bootstrap(table, fmr_rep, fnmr_rep)
    np.testing.assert_allclose(got["ci_low"].to_numpy(), expected)
    np.testing.assert_allclose(got["ci_high"].to_numpy(), expected)


def test_measures_without_replicates_say_so() -> None:
    table = _two_group_table().assign(gfar=[0.015, 0.02, 0.01], gfrr=[0.08, 0.1, 0.06])
    reps = np.tile(table["fmr"].to_numpy(), (5, 1)), np.tile(table["fnmr"].to_numpy(), (5, 1))
    out = fairness_bootstrap(table, *reps).set_index("measure")
    assert out.loc["gfar_max_min_ratio", "ci_status"] == "no_replicates"
    out = fairness_bootstrap(table, *reps, other_replicates={"gfar": reps[0], "gfrr": reps[1]}).set_index("measure")
    assert out.loc["gfar_max_min_ratio", "ci_status"] == "point"


def test_fte_differentials_by_hand():
    fte = pd.DataFrame(
        {
            "attribute": ["all", "gender", "gender", "gender", "race", "race"],
            "group": ["all", "female", "male", "unknown", "x", "y"],
            "n_images": [400, 100, 200, 100, 300, 5],
            "n_subjects": [60, 20, 30, 10, 55, 3],
            "n_failed": [6, 2, 2, 2, 0, 1],
            "fte": [0.015, 0.02, 0.01, 0.02, 0.0, 0.2],
        }
    )
    out = fte_differentials(fte)
    g = out[out.attribute == "gender"].set_index("measure")
    assert g.loc["fte_max_min_ratio", "value"] == pytest.approx(2.0)
    assert g.loc["fte_max_geomean_ratio", "value"] == pytest.approx(0.02 / np.sqrt(0.02 * 0.01))
    assert g.loc["fte_range", "value"] == pytest.approx(0.01)
    assert (g["threshold_name"] == "none").all() and (g["excluded_groups"] == "unknown (label unknown)").all()
    r = out[out.attribute == "race"].set_index("measure")  # y has 3 subjects: one group left, undefined
    assert r.loc["fte_range", "status"] == "undefined" and r.loc["fte_range", "excluded_groups"] == "y (3 subjects < 10)"
    both = fte_differentials(fte, min_subjects=0)
    r = both[both.attribute == "race"].set_index("measure")
    assert r.loc["fte_max_min_ratio", "value"] == np.inf and r.loc["fte_max_min_ratio", "reason"] == "FTE is 0 in x (0 of 300): unbounded"
    assert r.loc["fte_range", "value"] == pytest.approx(0.2)


def test_fairlearn_difference_and_ratio_equal_fairlearns_definitions_by_hand():
    from frbench.metrics.fairness import difference, min_max_ratio

    rates = [0.02, 0.05, 0.04]
    assert difference(rates) == pytest.approx(0.03)
    assert min_max_ratio(rates) == pytest.approx(0.4)
    assert min_max_ratio(rates) == pytest.approx(1 / max_min_ratio(rates))
    # a zero rate: Fairlearn's ratio is 0 (defined) where frbench's max/min is unbounded
    assert min_max_ratio([0.0, 0.1]) == 0.0 and np.isinf(max_min_ratio([0.0, 0.1]))
    assert np.isnan(min_max_ratio([0.0, 0.0])) and difference([0.0, 0.0]) == 0.0
    assert np.isnan(difference([0.1])) and np.isnan(min_max_ratio([0.1]))


def test_a_gfar_resting_on_few_false_matches_says_gfar_and_false_matches():
    # GFAR = n_fm / (n_nonmated + failed non-mated pairs): its errors are FMR's false matches
    # (failed pairs only enlarge its denominator), so its "not estimable" reason counts false matches.
    table = pd.DataFrame(
        {
            "threshold_name": ["t"] * 3,
            "attribute": ["all", "gender", "gender"],
            "group": ["all", "female", "male"],
            "n_subjects": [343, 57, 286],
            "n_mated": [297, 70, 227],
            "n_fnm": [20, 5, 15],
            "n_nonmated": [174, 11, 163],
            "n_fm": [1, 1, 0],
            "fmr": [1 / 174, 1 / 11, 0.0],
            "fnmr": [20 / 297, 5 / 70, 15 / 227],
            "gfar": [1 / 180, 1 / 12, 0.0],
            "gfrr": [21 / 300, 6 / 71, 15 / 229],
        }
    )
    out = fairness_summary(table).set_index("measure")
    assert out.loc["fmr_max_min_ratio", "reason"] == "not estimable: FMR rests on 1 false match (1/11 female, 0/163 male) < 3"
    gfar = out.loc["gfar_max_min_ratio"]
    assert gfar["status"] == "not_estimable"
    assert gfar["reason"] == "not estimable: GFAR rests on 1 false match (FMR's: 1/11 female, 0/163 male) < 3"
