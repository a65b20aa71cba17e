"""Score-shift differentials, subject-weighted FNMR and its decomposition, FMR(T)/FNMR(T) bands."""

from __future__ import annotations

import json

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from frbench.config import validate_config
from frbench.groups import Groups
from frbench.metrics.curves import det_points
from frbench.metrics.score_shift import cliffs_delta, d_prime, score_shift_table, weighted_median
from frbench.metrics.subject_fnmr import fnmr_decomposition, subject_weighted_fnmr
from frbench.metrics.threshold_curves import rates_against_threshold
from frbench.workflows.run import run_benchmark
from tests.synthetic_scores import imported_run_config


def test_weighted_median_is_the_lower_median_and_integer_weights_repeat_scores() -> None:
    assert weighted_median([3.0, 1.0, 2.0, 4.0]) == 2.0  # lower median of 1 2 3 4
    rng = np.random.default_rng(0)
    x = rng.normal(size=51)
    w = rng.integers(0, 5, size=51)
    w[0] = 1
    assert weighted_median(x, w) == np.quantile(np.repeat(x, w), 0.5, method="inverted_cdf")


def test_cliffs_delta_matches_the_mann_whitney_statistic_with_ties() -> None:
    x = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    y = np.array([2.0, 2.0, 4.0])
    # by hand: pairs (x>y) - (x<y): 1: 0-3, 2: 0-1 (twice), 3: 2-1, 5: 3-0 -> (-3 -1 -1 +1 +3) / 15
    assert cliffs_delta(x, y) == pytest.approx(-1 / 15)
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.3, 1, 40).round(1), rng.normal(0, 1, 30).round(1)
    u = mannwhitneyu(a, b, alternative="two-sided").statistic
    assert cliffs_delta(a, b) == pytest.approx(2 * u / (a.size * b.size) - 1)
    assert cliffs_delta(a, b, np.full(40, 2.0)) == pytest.approx(cliffs_delta(a, b))


def test_d_prime_by_hand() -> None:
    # means 2 and 0, population variances 2/3 and 2/3 -> d' = 2 / sqrt(2/3)
    assert d_prime([1, 2, 3], [-1, 0, 1]) == pytest.approx(2 / np.sqrt(2 / 3))


def mated_pairs(per_subject: dict[str, list[float]], gender: dict[str, str]) -> pd.DataFrame:
    rows = [{"score": s, "mated": True, "ok": True, "subject_a": subj, "subject_b": subj,
             "gender_a": gender[subj], "gender_b": gender[subj]} for subj, scores in per_subject.items() for s in scores]
    return pd.DataFrame(rows)


def test_mated_shift_and_fnmr_are_subject_weighted_so_one_prolific_subject_counts_once() -> None:
    # m1 has 8 pairs all failing at T = 0.5; m2, m3 one passing pair each; f1, f2 one each.
    pairs = mated_pairs({"m1": [0.1] * 8, "m2": [0.9], "m3": [0.8], "f1": [0.7], "f2": [0.6]},
                        {"m1": "male", "m2": "male", "m3": "male", "f1": "female", "f2": "female"})
    fn = subject_weighted_fnmr(pairs, Groups(["gender"]), {"t": 0.5}, replicates=0).set_index("group")
    assert fn.loc["male", "fnmr_pair_weighted"] == pytest.approx(8 / 10)
    assert fn.loc["male", "fnmr_subject_weighted"] == pytest.approx(1 / 3)
    assert fn.loc["male", "largest_subject_share"] == pytest.approx(0.8)
    shift = score_shift_table(pairs, Groups(["gender"]), replicates=0)
    male = shift[(shift["group"] == "male") & (shift["reference"] == "female")].iloc[0]
    # subject-weighted lower median of male: weights m1 1 (spread over 8), m2 1, m3 1 -> 0.8; female 0.6
    assert male["median"] == pytest.approx(0.8) and male["shift"] == pytest.approx(0.2)


def test_fnmr_decomposition_terms_sum_to_the_difference_and_a_pure_shift_is_location() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(0.7, 0.05, 400)
    per_subject = {f"s{i}": [float(base[i])] for i in range(400)}
    gender = {f"s{i}": ("female" if i % 2 else "male") for i in range(400)}
    for i in range(1, 400, 2):  # move the female scores down by 0.05
        per_subject[f"s{i}"] = [float(base[i] - 0.05)]
    dec = fnmr_decomposition(mated_pairs(per_subject, gender), Groups(["gender"]), {"t": 0.68})
    total = dec["location"] + dec["spread"] + dec["shape"]
    assert np.allclose(total, dec["fnmr_group"] - dec["fnmr_all"])
    female = dec.set_index("group").loc["female"]
    assert female["location"] > 0.1 and abs(female["location"]) > 3 * abs(female["spread"])


def test_subject_bootstrap_interval_of_a_median_shift_covers_about_95_percent() -> None:
    # 200 simulated studies with no true shift: the 95% interval should hold 0 in about 95% of them.
    covered = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        subjects = [f"s{i}" for i in range(60)]
        gender = {s: ("female" if i % 2 else "male") for i, s in enumerate(subjects)}
        per_subject = {s: list(rng.normal(rng.normal(0.7, 0.05), 0.03, rng.integers(1, 4))) for s in subjects}
        table = score_shift_table(mated_pairs(per_subject, gender), Groups(["gender"]), replicates=300, seed=seed)
        row = table[(table["group"] == "female") & (table["reference"] == "male")].iloc[0]
        covered += row["shift_ci_low"] <= 0 <= row["shift_ci_high"]
    assert 0.89 <= covered / 200 <= 0.99


def test_rates_against_threshold_recovers_counts_and_brackets_them() -> None:
    rng = np.random.default_rng(2)
    s = np.r_[rng.normal(0.7, 0.1, 50), rng.normal(0.2, 0.1, 80)]
    y = np.r_[np.ones(50, bool), np.zeros(80, bool)]
    det = det_points(s, y).assign(attribute="all", group="all")
    sizes = pd.DataFrame({"attribute": ["all"], "group": ["all"], "n_mated": [50], "n_nonmated": [80]})
    curves = rates_against_threshold(det, sizes)
    at = curves.iloc[len(curves) // 2]
    t = at["threshold"]
    assert at["n_fm"] == int((s[~y] >= t).sum()) and at["n_fnm"] == int((s[y] < t).sum())
    assert (curves["fmr_ci_low"] <= curves["fmr"]).all() and (curves["fmr"] <= curves["fmr_ci_high"]).all()


def test_a_run_writes_the_differentials_the_iso_map_and_the_threshold_plots(tmp_path: Path) -> None:
    cfg = validate_config(imported_run_config(tmp_path / "data", shift=-0.1))
    run_benchmark(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "run"
    shift = pd.read_csv(out / "score_shift.csv")
    female = shift[(shift["kind"] == "mated") & (shift["group"] == "female") & (shift["reference"] == "male")].iloc[0]
    assert female["shift_ci_low"] <= -0.1 <= female["shift_ci_high"] and female["shift_ci_high"] < 0
    iso = pd.read_csv(out / "iso19795_10.csv").set_index("term")
    assert iso.loc["non-mated comparison score differential", "status"] == "reported"
    assert iso.loc["failure to acquire (FTA) per group", "status"] == "not reported"
    assert "supplied with the dataset" in iso.loc["demographic label provenance: gender", "how_computed"]
    report = (out / "report.md").read_text()
    assert "## ISO/IEC 19795-10 terms" in report and "## Why rates differ" in report
    assert (out / "plots" / "rates_vs_threshold_gender.png").stat().st_size > 0
    # the mated-pair cap and its seed are in the manifest, as in score_shift.csv
    record = json.loads((out / "manifest.json").read_text())["score_shift"]
    assert record["mated_pairs_per_subject_cap"] == shift["mated_cap"].iloc[0]
    assert record["seed"] == shift["seed"].iloc[0] == cfg.stats.seed


def test_a_prolific_subjects_mated_pairs_are_capped_reproducibly_and_others_kept() -> None:
    from frbench.metrics.score_shift import cap_mated_pairs

    pairs = mated_pairs({"big": list(np.linspace(0, 1, 300)), "small": [0.5, 0.6]}, {"big": "male", "small": "female"})
    capped = cap_mated_pairs(pairs, 100, seed=3)
    assert (capped["subject_a"] == "big").sum() == 100 and (capped["subject_a"] == "small").sum() == 2
    assert capped.equals(cap_mated_pairs(pairs, 100, seed=3))


def test_fairness_summaries_compare_subject_weighted_fnmr_beside_the_pair_weighted_one() -> None:
    from frbench.measure.differentials import add_subject_weighted_fnmr
    from frbench.metrics.fairness import fairness_summary
    from frbench.metrics.grouped import per_group_rates

    # male: one subject with 40 failing pairs among 12 subjects; female: 12 subjects, one failing pair each for 3
    scores = {"m0": [0.1] * 40, **{f"m{i}": [0.9] for i in range(1, 12)},
              **{f"f{i}": [0.1 if i < 3 else 0.9] for i in range(12)}}
    gender = {s: ("male" if s.startswith("m") else "female") for s in scores}
    pairs = mated_pairs(scores, gender)
    groups = Groups(["gender"])
    table = add_subject_weighted_fnmr(per_group_rates(pairs, groups, thresholds={"t": 0.5}), pairs, groups)
    rows = table.set_index("group")
    assert rows.loc["male", "fnmr"] == pytest.approx(40 / 51) and rows.loc["male", "fnmr_subject_weighted"] == pytest.approx(1 / 12)
    fairness = fairness_summary(table).set_index("measure")
    assert fairness.loc["fnmr_max_min_ratio", "value"] == pytest.approx((40 / 51) / (3 / 12))
    assert fairness.loc["fnmr_subject_weighted_max_min_ratio", "value"] == pytest.approx((3 / 12) / (1 / 12))


def test_threshold_plots_zoom_to_where_the_rates_move() -> None:
    from frbench.report.threshold_plots import informative_range

    t = np.linspace(-1, 1, 201)
    curves = pd.DataFrame({"threshold": t, "fmr": np.where(t < 0.8, 1.0, np.where(t < 0.9, 0.5, 0.0)),
                           "fnmr": np.where(t < 0.85, 0.0, np.where(t < 0.95, 0.5, 1.0))})
    low, high = informative_range(curves, pad=0)
    assert low == pytest.approx(0.8) and high == pytest.approx(0.94)
