"""Equitability measures: one hand-worked case per measure, the zero rule, the summary table."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from frbench.metrics.fairness import (
    SUMMARY_COLUMNS,
    fairness_discrepancy_rate,
    fairness_summary,
    garbe,
    gini,
    inequity_rate,
    max_geomean_ratio,
    max_min_ratio,
    skewed_error_ratio,
)

# Three groups; rates chosen so every measure works out by hand.
FMR = np.array([0.01, 0.02, 0.04])
FNMR = np.array([0.10, 0.05, 0.05])
FMR_FLOOR = 3 / np.array([1000.0, 1000.0, 1000.0])
FNMR_FLOOR = 3 / np.array([100.0, 100.0, 100.0])


def test_max_min_ratio_by_hand():
    assert max_min_ratio(FMR, FMR_FLOOR) == pytest.approx(0.04 / 0.01)  # 4
    assert max_min_ratio(FNMR, FNMR_FLOOR) == pytest.approx(0.10 / 0.05)  # 2


def test_max_geomean_ratio_by_hand():
    # FMR: geometric mean (0.01 * 0.02 * 0.04)^(1/3) = (8e-6)^(1/3) = 0.02 -> 0.04 / 0.02 = 2.
    assert max_geomean_ratio(FMR, FMR_FLOOR) == pytest.approx(2.0)
    # FNMR: (0.1 * 0.05^2)^(1/3) = 0.05 * 2^(1/3) -> 0.1 / that = 2^(2/3).
    assert max_geomean_ratio(FNMR, FNMR_FLOOR) == pytest.approx(2 ** (2 / 3))


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
    assert inequity_rate(FMR, FNMR, FMR_FLOOR, FNMR_FLOOR) == pytest.approx(np.sqrt(8))
    assert inequity_rate(FMR, FNMR, FMR_FLOOR, FNMR_FLOOR, alpha=1.0) == pytest.approx(4.0)


def test_gini_by_hand():
    # FMR: sum over ordered pairs of |x_i - x_j| = 2 * (0.01 + 0.03 + 0.02) = 0.12, mean 0.07/3:
    # 3/2 * 0.12 / (2 * 9 * 0.07/3) = 3/7.
    assert gini(FMR) == pytest.approx(3 / 7)
    # FNMR: 2 * (0.05 + 0.05 + 0) = 0.2, mean 0.2/3: 3/2 * 0.2 / 1.2 = 0.25.
    assert gini(FNMR) == pytest.approx(0.25)
    assert gini([0.0, 0.0, 0.3]) == pytest.approx(1.0)  # one group holds every error
    assert gini([0.2, 0.2]) == 0.0 and gini([0.0, 0.0]) == 0.0
    assert np.isnan(gini([0.1]))


def test_garbe_by_hand():
    # 0.25 * 3/7 + 0.75 * 0.25
    assert garbe(FMR, FNMR) == pytest.approx(0.25 * 3 / 7 + 0.75 * 0.25)
    assert garbe(FMR, FNMR, alpha=0.5) == pytest.approx(0.5 * 3 / 7 + 0.5 * 0.25)


def test_ser_by_hand():
    # Balanced errors (0.01+0.10)/2 = 0.055, (0.02+0.05)/2 = 0.035, (0.04+0.05)/2 = 0.045: 0.055/0.035.
    assert skewed_error_ratio(FMR, FNMR, FMR_FLOOR, FNMR_FLOOR) == pytest.approx(11 / 7)


def test_zero_rates_are_floored_only_in_the_denominator():
    # Group 1 has no false match in 1000 pairs: floor 3/1000; group 2 has 0.006. Ratio 0.006/0.003.
    assert max_min_ratio([0.0, 0.006], [0.003, 0.006]) == pytest.approx(2.0)
    # A zero in a small group (floor 3/100 = 0.03) cannot make a disparity: the ratio stays 1.
    assert max_min_ratio([0.0, 0.001], [0.03, 0.0003]) == 1.0
    assert max_geomean_ratio([0.0, 0.001], [0.03, 0.0003]) == 1.0
    # Nothing observed anywhere: undefined.
    assert np.isnan(max_min_ratio([0.0, 0.0], [0.003, 0.003]))
    assert np.isnan(max_min_ratio([0.01], [0.003]))


def test_invalid_inputs():
    with pytest.raises(ValueError, match="one value per group"):
        fairness_discrepancy_rate([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="alpha"):
        garbe(FMR, FNMR, alpha=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        max_min_ratio([0.1, np.nan], [0.1, 0.1])


def per_group_table() -> pd.DataFrame:
    rows = []
    for name in ("fmr=1e-03", "deepface_default"):
        rows.append((name, "all", "all", 400, 4000, 0.06, 0.02))
        for group, fmr_, fnmr_ in zip(("a", "b", "c"), FMR, FNMR):
            rows.append((name, "race", group, 100, 1000, fnmr_, fmr_))
        rows.append((name, "race", "unknown", 100, 1000, 0.9, 0.9))  # excluded by default
        rows.append((name, "race+gender", "a+f", 50, 500, 0.1, 0.0))
        rows.append((name, "race+gender", "b+f", 50, 500, 0.2, 0.012))
        rows.append((name, "race+gender", "unknown+f", 50, 500, 0.5, 0.5))
        rows.append((name, "race+gender", "c+f", 0, 0, np.nan, np.nan))  # no pairs: left out
    return pd.DataFrame(rows, columns=["threshold_name", "attribute", "group", "n_mated", "n_nonmated", "fnmr", "fmr"])


def test_summary_table():
    out = fairness_summary(per_group_table())
    assert list(out.columns) == list(SUMMARY_COLUMNS)
    measures = [
        "fmr_max_min_ratio",
        "fmr_max_geomean_ratio",
        "fnmr_max_min_ratio",
        "fnmr_max_geomean_ratio",
        "fdr",
        "inequity_rate",
        "garbe",
        "ser",
    ]
    assert out.measure.tolist() == measures * 4
    assert out.threshold_name.tolist() == ["fmr=1e-03"] * 16 + ["deepface_default"] * 16
    assert out.attribute.tolist()[:16] == ["race"] * 8 + ["race+gender"] * 8
    race = out[(out.threshold_name == "fmr=1e-03") & (out.attribute == "race")].set_index("measure")
    expected = {
        "fmr_max_min_ratio": 4.0,
        "fnmr_max_min_ratio": 2.0,
        "fmr_max_geomean_ratio": 2.0,
        "fdr": 0.96,
        "inequity_rate": np.sqrt(8),
        "garbe": 0.25 * 3 / 7 + 0.75 * 0.25,
        "ser": 11 / 7,
    }
    for measure, value in expected.items():
        assert race.loc[measure, "value"] == pytest.approx(value), measure
    assert (race["groups"] == "a;b;c").all() and (race["n_groups"] == 3).all()
    assert (race["floored_groups"] == "").all()
    inter = out[(out.threshold_name == "fmr=1e-03") & (out.attribute == "race+gender")].set_index("measure")
    # a+f has FMR 0 in 500 pairs: floored at 3/500 = 0.006 -> 0.012 / 0.006 = 2; unknown+f and c+f out.
    assert inter.loc["fmr_max_min_ratio", "value"] == pytest.approx(2.0)
    assert inter.loc["fmr_max_min_ratio", "floored_groups"] == "a+f"
    assert inter.loc["fmr_max_min_ratio", "groups"] == "a+f;b+f"
    assert inter.loc["fdr", "value"] == pytest.approx(1 - (0.5 * 0.012 + 0.5 * 0.1))


def test_summary_can_keep_unknown():
    out = fairness_summary(per_group_table(), exclude_groups=())
    race = out[(out.threshold_name == "fmr=1e-03") & (out.attribute == "race")].set_index("measure")
    assert race.loc["fmr_max_min_ratio", "value"] == pytest.approx(0.9 / 0.01)
    assert race.loc["fmr_max_min_ratio", "n_groups"] == 4


def _two_group_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "threshold_name": ["t"] * 3,
            "attribute": ["all", "gender", "gender"],
            "group": ["all", "female", "male"],
            "n_mated": [200, 100, 100],
            "n_nonmated": [2000, 1000, 1000],
            "fmr": [0.015, 0.02, 0.01],
            "fnmr": [0.075, 0.1, 0.05],
        }
    )


def test_fairness_bootstrap_of_unchanged_replicates_collapses_to_the_value() -> None:
    from frbench.metrics.fairness import fairness_bootstrap

    table = _two_group_table()
    reps = np.tile(table["fmr"].to_numpy(), (5, 1)), np.tile(table["fnmr"].to_numpy(), (5, 1))
    out = fairness_bootstrap(table, *reps)
    finite = out["value"].notna()
    assert (out.loc[finite, "ci_low"] == out.loc[finite, "value"]).all()
    assert (out.loc[finite, "ci_high"] == out.loc[finite, "value"]).all()
    # e.g. the FMR ratio of the observed table: 0.02 / 0.01
    assert out.set_index("measure").loc["fmr_max_min_ratio", "value"] == pytest.approx(2.0)


def test_fairness_bootstrap_interval_spans_the_replicate_ratios() -> None:
    from frbench.metrics.fairness import fairness_bootstrap

    table = _two_group_table()
    # Replicates where the FMR ratio female/male takes the values 1.0, 1.5, ..., 3.0 (male fixed at 0.01).
    ratios = np.linspace(1.0, 3.0, 5)
    fmr = np.column_stack([np.full(5, 0.015), 0.01 * ratios, np.full(5, 0.01)])
    fnmr = np.tile(table["fnmr"].to_numpy(), (5, 1))
    out = fairness_bootstrap(table, fmr, fnmr, level=0.5).set_index("measure")
    # 25% and 75% quantiles of [1, 1.5, 2, 2.5, 3] by linear interpolation: 1.5 and 2.5
    assert out.loc["fmr_max_min_ratio", "ci_low"] == pytest.approx(1.5)
    assert out.loc["fmr_max_min_ratio", "ci_high"] == pytest.approx(2.5)


def test_fairness_bootstrap_replicate_equals_summary_of_that_replicate() -> None:
    """One replicate in, its interval collapses to fairness_summary of the replicate table."""
    from frbench.metrics.fairness import fairness_bootstrap

    rng = np.random.default_rng(3)
    groups = ["a", "b", "c", "unknown"]
    table = pd.DataFrame(
        {
            "threshold_name": ["t"] * 5,
            "attribute": ["all"] + ["g"] * 4,
            "group": ["all", *groups],
            "n_mated": [400, 100, 100, 100, 100],
            "n_nonmated": [4000, 1000, 1000, 1000, 1000],
            "fmr": rng.uniform(0.001, 0.02, 5),
            "fnmr": rng.uniform(0.01, 0.2, 5),
        }
    )
    fmr_rep = rng.uniform(0.001, 0.02, (1, 5))
    fnmr_rep = rng.uniform(0.01, 0.2, (1, 5))
    fmr_rep[0, 2] = np.nan  # group b drew no non-mated pair in this replicate
    replicate = table.copy()
    replicate["fmr"], replicate["fnmr"] = fmr_rep[0], fnmr_rep[0]
    replicate["n_nonmated"] = np.where(np.isnan(fmr_rep[0]), 0, table["n_nonmated"])
    expected = fairness_summary(replicate)["value"].to_numpy()
    got = fairness_bootstrap(table, fmr_rep, fnmr_rep)
    np.testing.assert_allclose(got["ci_low"].to_numpy(), expected, equal_nan=True)
    np.testing.assert_allclose(got["ci_high"].to_numpy(), expected, equal_nan=True)
