"""What a number may claim: tests, headline, agreement, caveats, SER reasons, replicates, few errors, GFAR."""

from __future__ import annotations


import numpy as np
import pandas as pd
import yaml

from frbench.groups import Groups
from frbench.metrics.fairness import fairness_summary, skewed_error_ratio_summary
from frbench.metrics.group_tests import cluster_permutation_test
from frbench.metrics.grouped import per_group_rates
from frbench.metrics.power import MIN_BOOTSTRAP_REPLICATES
from frbench.report.markdown import agreement_text, interval_caveat
from frbench.workflows.summary import worst_group
from tests.conftest import REPO

CONFIGS = REPO / "configs"


def test_a_permutation_test_with_two_relabellings_is_not_called_exact_and_gives_its_smallest_p() -> None:
    # two clusters of equal size, one per group: the only relabellings are the observed one and the swap
    res = cluster_permutation_test([1, 0], [5, 5], [0, 1], n_permutations=999)
    assert "(exact" not in res.method and "too few to test" in res.method
    assert "smallest attainable p 1" in res.method or "smallest attainable p 0.5" in res.method


def rows_all_zero_fmr() -> pd.DataFrame:
    return pd.DataFrame({
        "attribute": ["all", "gender", "gender"], "group": ["all", "female", "male"],
        "n_mated": [20, 10, 10], "n_fnm": [2, 1, 1], "n_nonmated": [200, 100, 100], "n_fm": [0, 0, 0],
        "fnmr": [0.1, 0.1, 0.1], "fmr": [0.0, 0.0, 0.0], "in_summaries": [False, True, True],
    })


def test_the_headline_names_no_worst_group_when_every_group_rate_is_zero() -> None:
    assert worst_group(rows_all_zero_fmr(), "fmr") is None
    assert worst_group(rows_all_zero_fmr(), "fnmr")["group"] in ("female", "male")


def test_a_zero_width_agreement_interval_is_not_printed_as_an_interval() -> None:
    text = agreement_text({"value": 1.0, "ci_low": 1.0, "ci_high": 1.0})
    assert "[1.000, 1.000]" not in text and "no interval is reported" in text
    assert agreement_text({"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}) == "0.800 [0.700, 0.900]"


def test_the_interval_caveat_asks_for_the_bootstrap_only_where_it_did_not_run() -> None:
    assert "set stats.bootstrap" in interval_caveat(0, "file")
    ran = interval_caveat(1000, "file")
    assert "set stats.bootstrap" not in ran and "use the subject bootstrap" not in ran and "1,000 replicates" in ran


def test_ser_with_one_fold_gives_that_reason() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for g in ("female", "male"):
        for i in range(12):
            rows.append({"subject_a": f"{g}{i}", "subject_b": f"{g}{i}", "mated": True, "fold": 1})
            rows.append({"subject_a": f"{g}{i}", "subject_b": f"{g}{(i + 1) % 12}", "mated": False, "fold": 1})
    pairs = pd.DataFrame(rows).assign(ok=True)
    pairs["score"] = np.where(pairs["mated"], rng.normal(0.8, 0.1, len(pairs)), rng.normal(0.3, 0.1, len(pairs)))
    pairs["gender_a"] = pairs["gender_b"] = pairs["subject_a"].str.rstrip("0123456789")
    _, ser = skewed_error_ratio_summary(pairs, Groups(["gender"]))
    excluded = ser["excluded_groups"].iloc[0]
    assert "fewer than 2 folds (1)" in excluded and "lacks mated or non-mated" not in excluded


def test_shipped_configs_bootstrap_at_least_a_thousand_replicates_where_they_bootstrap() -> None:
    for path in sorted(CONFIGS.glob("*.yaml")):
        stats = (yaml.safe_load(path.read_text()) or {}).get("stats") or {}
        assert stats.get("bootstrap", 0) in (0, None) or stats["bootstrap"] >= MIN_BOOTSTRAP_REPLICATES, path.name


def test_a_ratio_resting_on_one_false_match_is_not_estimable_and_gives_the_counts() -> None:
    # female: 1 false match in 11 non-mated pairs; male 0 in 163 (the quick run's shape)
    rows = []
    for g, n, k, subjects in (("female", 11, 1, 19), ("male", 163, 0, 60)):
        rows.append({"threshold_name": "t", "attribute": "gender", "group": g, "n_subjects": subjects,
                     "n_mated": 100, "n_fnm": 10, "n_nonmated": n, "n_fm": k, "fnmr": 0.1, "fmr": k / n})
    rows.append({"threshold_name": "t", "attribute": "all", "group": "all", "n_subjects": 79, "n_mated": 200,
                 "n_fnm": 20, "n_nonmated": 174, "n_fm": 1, "fnmr": 0.1, "fmr": 1 / 174})
    out = fairness_summary(pd.DataFrame(rows)).set_index("measure")
    assert out.loc["fmr_max_min_ratio", "status"] == "not_estimable"
    assert "1 false match" in out.loc["fmr_max_min_ratio", "reason"] and "1/11 female" in out.loc["fmr_max_min_ratio", "reason"]
    assert out.loc["fnmr_max_min_ratio", "status"] == "defined"  # 20 false non-matches


def test_gfar_and_gfrr_are_named_as_an_adaptation_of_the_standard() -> None:
    rng = np.random.default_rng(1)
    pairs = pd.DataFrame({
        "subject_a": [f"s{i}" for i in range(40)], "subject_b": [f"s{i}" if i < 20 else f"s{i - 1}" for i in range(40)],
        "mated": [i < 20 for i in range(40)], "ok": [i % 7 != 0 for i in range(40)],
    })
    pairs["score"] = np.where(pairs["ok"], rng.normal(0.5, 0.2, 40), np.nan)
    pairs["gender_a"] = pairs["gender_b"] = np.where(np.arange(40) % 2, "female", "male")
    fairness = fairness_summary(per_group_rates(pairs, Groups(["gender"]), thresholds={"t": 0.5}), min_subjects=0)
    for measure in ("gfar_max_min_ratio", "gfrr_max_min_ratio"):
        definition = fairness.loc[fairness["measure"] == measure, "definition"].iloc[0]
        assert "adapted from ISO/IEC 19795-1" in definition
