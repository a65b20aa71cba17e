"""measure_listed(): the threshold policy of a config applied to scored pairs, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.config import validate_config
from frbench.groups import Groups
from frbench.measure.listed import measure_listed

GENDER = Groups.of(["gender"])


def pairs_frame(scores: list[float], mated: list[bool], folds: list[int], genders: list[str]) -> pd.DataFrame:
    n = len(scores)
    return pd.DataFrame(
        {
            "image_a": [f"a{i}" for i in range(n)],
            "image_b": [f"b{i}" for i in range(n)],
            "mated": mated,
            "fold": folds,
            "ok": True,
            "score": scores,
            "subject_a": [f"s{i}" for i in range(n)],
            "subject_b": [f"s{i}" if m else f"t{i}" for i, m in enumerate(mated)],
            "gender_a": genders,
            "gender_b": genders,
        }
    )


def config(**thresholds: object) -> object:
    return validate_config(
        {"name": "t", "dataset": {"name": "x"}, "groups": ["gender"], "thresholds": {"deepface_default": False, **thresholds}}
    )


def test_fold_calibrated_thresholds_come_from_the_other_fold() -> None:
    # fold 1 non-mated: 0.1 0.2 0.3 0.4 ; fold 2 non-mated: 0.5 0.6 0.7 0.8
    # target FMR 0.25 on 4 non-mated scores: k = 1, threshold just above the 2nd highest.
    # fold 1 is decided at nextafter(0.7) (set on fold 2), fold 2 at nextafter(0.3) (set on fold 1).
    nm1, nm2 = [0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]
    m1, m2 = [0.65, 0.75, 0.9], [0.2, 0.35, 0.5]
    scores = nm1 + m1 + nm2 + m2
    mated = [False] * 4 + [True] * 3 + [False] * 4 + [True] * 3
    folds = [1] * 7 + [2] * 7
    pairs = pairs_frame(scores, mated, folds, ["female"] * 14)
    res = measure_listed(config(target_fmr=[0.25], fold_calibrated=True), pairs, GENDER)

    fold_rows = res.threshold_table[res.threshold_table["threshold_name"] == "fold:fmr=2.5e-01"]
    assert fold_rows.set_index("fold")["threshold"].to_dict() == {
        "1": np.nextafter(0.7, 1),
        "2": np.nextafter(0.3, 1),
    }
    row = res.per_group[(res.per_group["threshold_name"] == "fold:fmr=2.5e-01") & (res.per_group["attribute"] == "all")].iloc[0]
    # fold 1 at >0.7: no non-mated match, mated 0.65 misses (0.75, 0.9 match)
    # fold 2 at >0.3: non-mated 0.5 0.6 0.7 0.8 all match; mated 0.2 misses
    assert (row["n_fm"], row["n_nonmated"], row["n_fnm"], row["n_mated"]) == (4, 8, 2, 6)
    assert row["fmr"] == 0.5 and row["fnmr"] == pytest.approx(2 / 6)
    assert np.isnan(row["threshold"])
    # LFW-protocol accuracy is reported per fold.
    assert list(res.fold_accuracy["fold"]) == [1, 2]


def test_global_threshold_and_per_group_thresholds() -> None:
    rng = np.random.default_rng(0)
    n = 400
    mated = rng.random(n) < 0.5
    genders = np.where(rng.random(n) < 0.5, "female", "male")
    scores = np.where(mated, rng.normal(1, 0.5, n), rng.normal(0, 0.5, n)) + (genders == "female") * 0.3
    pairs = pairs_frame(list(scores), list(mated), [1] * n, list(genders))
    res = measure_listed(config(target_fmr=[0.05], per_group=True), pairs, GENDER)
    t = res.thresholds["fmr=5e-02"]
    nonmated = scores[~mated]
    assert (nonmated >= t).sum() <= int(0.05 * nonmated.size) < (nonmated >= np.nextafter(t, -np.inf)).sum()
    own = res.per_group_thresholds.set_index("group")
    for g in ("female", "male"):
        s = scores[(~mated) & (genders == g)]
        assert (s >= own.loc[g, "threshold"]).sum() <= int(0.05 * s.size)
    # the group shifted up needs the higher threshold of its own
    assert own.loc["female", "threshold"] > own.loc["male", "threshold"]
    # one fold only: no fold calibration, and it says so
    assert res.notes == ["Fold-calibrated thresholds need at least two folds; this run has one."]


def test_bootstrap_gives_fairness_intervals_that_repeat_with_the_seed() -> None:
    rng = np.random.default_rng(1)
    n = 300
    mated = rng.random(n) < 0.5
    genders = np.where(rng.random(n) < 0.5, "female", "male")
    scores = np.where(mated, rng.normal(1, 0.6, n), rng.normal(0, 0.6, n))
    pairs = pairs_frame(list(scores), list(mated), [1] * n, list(genders))
    # make subjects shared across pairs, so the subject resampling has clusters to draw
    pairs["subject_a"] = [f"s{i % 40}" for i in range(n)]
    pairs["subject_b"] = [f"s{i % 40}" if m else f"s{(i + 7) % 40}" for i, m in enumerate(mated)]
    cfg = validate_config({"name": "t", "dataset": {"name": "x"}, "groups": ["gender"],
                           "thresholds": {"deepface_default": False, "target_fmr": [0.1]},
                           "stats": {"bootstrap": 200, "seed": 5}})
    a, b = measure_listed(cfg, pairs, GENDER), measure_listed(cfg, pairs, GENDER)
    pd.testing.assert_frame_equal(a.fairness, b.fairness)
    ratio = a.fairness.set_index("measure").loc["fnmr_max_min_ratio"]
    assert ratio["ci_low"] <= ratio["value"] <= ratio["ci_high"] and ratio["ci_low"] < ratio["ci_high"]
    rows = a.per_group
    assert (rows["fnmr_boot_low"] <= rows["fnmr"] + 1e-12).all() and (rows["fnmr"] <= rows["fnmr_boot_high"] + 1e-12).all()
    assert (rows["fnmr_boot_low"] < rows["fnmr_boot_high"]).any()


def test_underpowered_is_judged_against_each_rows_own_target() -> None:
    from frbench.metrics.grouped import rates_from_counts

    # (threshold, group, n_nonmated, n_fm): each threshold has its all row and one group.
    rows = [
        ("fmr=1e-03", "all", 20_000, 20), ("fmr=1e-03", "g", 10_000, 10),
        ("fmr=1e-05", "all", 2_000_000, 20), ("fmr=1e-05", "g", 10_000, 0),
        ("fold:fmr=1e-05", "all", 2_000_000, 20), ("fold:fmr=1e-05", "g", 1_000_000, 10),
        ("deepface_default", "all", 2_000_000, 20_000), ("deepface_default", "g", 100, 1),
    ]
    counts = pd.DataFrame(
        [{"threshold_name": t, "threshold": 0.0, "attribute": "all" if g == "all" else "x", "group": g,
          "n_subjects": 50, "n_mated": 10_000, "n_nonmated": n, "n_fnm": 1_000, "n_fm": k, "n_failed": 0,
          "n_failed_mated": 0} for t, g, n, k in rows]
    )
    out = rates_from_counts(counts, targets={"fmr=1e-03": 1e-3, "fmr=1e-05": 1e-5, "fold:fmr=1e-05": 1e-5})
    # 3/10,000 = 3e-4 resolves 1e-3 but not 1e-5; 3/1e6 = 3e-6 resolves the fold row's 1e-5;
    # deepface's default aims at no target: its reference is the all row's FMR, 1e-2, which
    # 100 non-mated pairs (3/100 = 3e-2) cannot resolve.
    assert out["fmr_reference"].tolist() == [1e-3, 1e-3, 1e-5, 1e-5, 1e-5, 1e-5, 1e-2, 1e-2]
    assert out["fmr_resolves"].tolist() == [True, True, True, False, True, True, True, False]
    assert out["underpowered"].tolist() == [not r for r in out["fmr_resolves"]]  # FNMR resolves everywhere


def test_threshold_uncertainty_widens_the_target_rows_intervals() -> None:
    rng = np.random.default_rng(4)
    n = 400
    mated = rng.random(n) < 0.5
    genders = np.where(rng.random(n) < 0.5, "female", "male")
    scores = np.where(mated, rng.normal(1, 0.6, n), rng.normal(0, 0.6, n))
    pairs = pairs_frame(list(scores), list(mated), [1] * n, list(genders))
    pairs["subject_a"] = [f"s{i % 60}" for i in range(n)]
    pairs["subject_b"] = [f"s{i % 60}" if m else f"s{(i + 7) % 60}" for i, m in enumerate(mated)]
    cfg = validate_config({"name": "t", "dataset": {"name": "x"}, "groups": ["gender"],
                           "thresholds": {"deepface_default": False, "target_fmr": [0.05], "fixed": [0.5]},
                           "stats": {"bootstrap": 300, "seed": 2, "threshold_uncertainty": True}})
    table = measure_listed(cfg, pairs, GENDER).per_group.set_index(["threshold_name", "group"])
    fixed, target = table.loc[("fixed=0.5", "all")], table.loc[("fmr=5e-02", "all")]
    # a fixed threshold is not re-set: its intervals are the plain bootstrap's
    assert (fixed["fnmr_tboot_low"], fixed["fnmr_tboot_high"]) == (fixed["fnmr_boot_low"], fixed["fnmr_boot_high"])
    # re-setting the target threshold per replicate adds the calibration's noise to FNMR
    assert target["fnmr_tboot_high"] - target["fnmr_tboot_low"] > target["fnmr_boot_high"] - target["fnmr_boot_low"]
