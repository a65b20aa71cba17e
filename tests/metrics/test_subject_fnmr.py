"""FNMR decomposition intervals: a hand case, the withheld rule, coverage of a known decomposition, a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm

from frbench.config import validate_config
from frbench.groups import Groups
from frbench.metrics.subject_fnmr import DECOMPOSITION_PARTS, fnmr_decomposition
from frbench.workflows.run import run_benchmark
from tests.synthetic_scores import imported_run_config

GENDER = Groups(["gender"])


def _mated(subject: np.ndarray, score: np.ndarray, group: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"score": score, "mated": True, "ok": True, "subject_a": subject, "subject_b": subject,
                         "gender_a": group, "gender_b": group})


def test_a_group_that_is_everyone_has_all_three_parts_zero_in_every_resample():
    # One group holding every subject: its distribution is everyone's in each resample too (the same
    # resampled subjects make both), so location = spread = shape = 0 and each interval is [0, 0].
    rng = np.random.default_rng(0)
    subject = np.repeat([f"s{i}" for i in range(30)], rng.integers(1, 4, 30))
    pairs = _mated(subject, rng.normal(0.7, 0.1, subject.size), np.full(subject.size, "female"))
    row = fnmr_decomposition(pairs, GENDER, {"t": 0.65}, replicates=200, seed=1).iloc[0]
    for part in DECOMPOSITION_PARTS:
        assert row[part] == 0 and row[f"{part}_ci_low"] == 0 and row[f"{part}_ci_high"] == 0
    assert row["replicates"] == 200 and row["ci_note"] == ""


def test_intervals_are_withheld_with_the_reason_when_a_part_is_often_undefined():
    # Group x has two one-pair subjects: a resample draws the same one twice with probability 1/2,
    # and its interquartile range is then 0, leaving spread and shape undefined (> 5% of resamples).
    rng = np.random.default_rng(2)
    subject = np.array(["x1", "x2", *[f"y{i}" for i in range(40)]])
    group = np.array(["x", "x", *["y"] * 40])
    pairs = _mated(subject, np.r_[0.6, 0.8, rng.normal(0.7, 0.1, 40)], group)
    row = fnmr_decomposition(pairs, GENDER, {"t": 0.65}, replicates=400, seed=3).set_index("group").loc["x"]
    assert np.isnan(row["spread_ci_low"]) and np.isnan(row["shape_ci_high"])
    assert row["location_ci_low"] <= row["location"] <= row["location_ci_high"]
    assert row["ci_note"].startswith("interval withheld for spread (undefined in ")
    share = float(row["ci_note"].split("undefined in ")[1].split("%")[0]) / 100
    assert 0.4 <= share <= 0.6 and "more than 5% undefined" in row["ci_note"]
    # without replicates the columns stay empty
    plain = fnmr_decomposition(pairs, GENDER, {"t": 0.65})
    assert plain["location_ci_low"].isna().all() and (plain["replicates"] == 0).all()


# A known decomposition: 100 subjects per group with 1-4 mated pairs each; a subject's scores are its
# own level u_s ~ N(mu_g, sd_u) plus N(0, sd_e) noise, so every pair of group g scores N(mu_g, sd_g)
# and everyone's subject-weighted distribution is the half-half mixture of the two groups.
MU, SD_U, SD_E, T = {"a": 0.70, "b": 0.64}, {"a": 0.04, "b": 0.07}, 0.04, 0.60
SD = {g: float(np.hypot(SD_U[g], SD_E)) for g in MU}


def _everyone(x: float) -> float:
    return 0.5 * norm.cdf(x, MU["a"], SD["a"]) + 0.5 * norm.cdf(x, MU["b"], SD["b"])


def _true_parts(g: str) -> dict[str, float]:
    def q(p: float) -> float:
        return brentq(lambda x: _everyone(x) - p, 0.0, 1.5, xtol=1e-12)

    m0, q0 = q(0.5), q(0.75) - q(0.25)
    mg, qg = MU[g], 2 * norm.ppf(0.75) * SD[g]
    moved, scaled = _everyone(T - (mg - m0)), _everyone(m0 + (T - mg) * q0 / qg)
    return {"location": moved - _everyone(T), "spread": scaled - moved, "shape": norm.cdf(T, MU[g], SD[g]) - scaled}


def test_the_decomposition_intervals_cover_the_true_parts_about_95_percent_of_the_time():
    truth = _true_parts("b")
    assert truth["location"] > 0.05 and truth["spread"] > 0.01  # group b's FNMR differs in both ways
    n_sim, covered = 200, {part: 0 for part in DECOMPOSITION_PARTS}
    for seed in range(n_sim):
        rng = np.random.default_rng(seed)
        group = np.repeat(["a", "b"], 100)
        n_pairs = rng.integers(1, 5, group.size)
        level = np.array([rng.normal(MU[g], SD_U[g]) for g in group])
        subject = np.repeat(np.arange(group.size), n_pairs)
        score = level[subject] + rng.normal(0.0, SD_E, subject.size)
        dec = fnmr_decomposition(_mated(subject, score, group[subject]), GENDER, {"t": T}, replicates=200, seed=seed)
        row = dec.set_index("group").loc["b"]
        for part in DECOMPOSITION_PARTS:
            covered[part] += row[f"{part}_ci_low"] <= truth[part] <= row[f"{part}_ci_high"]
    # nominal 95%; 200 simulations give a binomial standard error of 1.5 points: accept 89% to 99%
    for part, hits in covered.items():
        assert 0.89 <= hits / n_sim <= 0.99, (part, hits / n_sim, truth)


def test_a_run_writes_decomposition_intervals_and_with_permutations_0_tests_exactly_alone(tmp_path: Path) -> None:
    # stats.permutations: 0 is "exact test only" in the config; a run with it used to stop in the group tests.
    cfg = validate_config(imported_run_config(tmp_path / "data", n_subjects=48, shift=-0.1,
                                              stats={"permutations": 0, "bootstrap": 200, "min_group_subjects": 5}))
    run_benchmark(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "run"
    tests = pd.read_csv(out / "group_tests.csv")
    counted = tests[tests["rate"].isin(["fmr", "fnmr"]) & (tests["n_groups"] >= 2)]
    assert len(counted) and counted["exact_p"].between(0, 1).all() and counted["exact_p_holm"].notna().all()
    assert tests["clustered_p"].isna().all() and counted["note"].str.contains("permutations set to 0").all()
    dec = pd.read_csv(out / "fnmr_decomposition.csv")
    female = dec[dec["group"] == "female"].iloc[0]
    assert female["replicates"] == 200
    for part in DECOMPOSITION_PARTS:
        assert female[f"{part}_ci_low"] <= female[part] <= female[f"{part}_ci_high"]
    report = (out / "report.md").read_text()
    assert f"{female['location']:+.4f} [{female['location_ci_low']:+.4f}, {female['location_ci_high']:+.4f}]" in report
