"""The whole run: a small CSV dataset the test makes, and a small LFW subset with the real Dlib model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frbench.config import validate_config
from frbench.errors import ConfigError, DatasetError
from frbench.workflows.run import run_benchmark
from tests.builders import csv_config, lfw_subset, make_csv_dataset, needs_dlib

OUTPUTS = ("per_group.csv", "scores.csv", "report.md", "manifest.json", "fairness.csv", "cross_group_fmr.csv")



@needs_dlib
def test_synthetic_run_writes_tables_that_agree_with_the_scores(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data")
    config = validate_config(csv_config(root, tmp_path / "cache"))
    result = run_benchmark(config, out_dir=tmp_path / "run", progress=False)

    for name in OUTPUTS:
        assert (tmp_path / "run" / name).is_file(), name
    per_group = pd.read_csv(tmp_path / "run" / "per_group.csv")
    scores = pd.read_csv(tmp_path / "run" / "scores.csv")
    assert list(scores.columns) == [
        "image_a", "image_b", "subject_a", "subject_b", "mated", "score", "distance", "status_a", "status_b", "gender_a",
        "gender_b", *(f"match_{name}" for name in result.thresholds),
    ]

    # The unreadable image is a counted failure and its pairs are excluded, not lost.
    failures = pd.read_csv(tmp_path / "run" / "failures.csv")
    assert failures.to_dict("records") == [
        {"image_id": "broken.jpg", "status": "unreadable", "detail": failures["detail"][0]}
    ]
    broken = (scores["image_a"] == "broken.jpg") | (scores["image_b"] == "broken.jpg")
    assert scores.loc[broken, "score"].isna().all() and scores.loc[~broken, "score"].notna().all()
    side_status = pd.concat([scores.loc[scores["image_a"] == "broken.jpg", "status_a"],
                             scores.loc[scores["image_b"] == "broken.jpg", "status_b"]])
    assert set(side_status) == {"unreadable"}
    # the decision columns are the scores at each threshold; a failed pair has none
    assert (scores.loc[~broken, "match_fixed=0.5"] == (scores.loc[~broken, "score"] >= 0.5)).all()
    assert scores.loc[broken, "match_fixed=0.5"].isna().all()

    # Recount the fixed threshold from scores.csv by hand: FMR over all, FNMR per gender.
    fixed = per_group[per_group["threshold_name"] == "fixed=0.5"].set_index(["attribute", "group"])
    ok = scores[~broken]
    nonmated = ok[~ok["mated"]]
    assert fixed.loc[("all", "all"), "n_nonmated"] == len(nonmated)
    assert fixed.loc[("all", "all"), "fmr"] == pytest.approx((nonmated["score"] >= 0.5).mean())
    assert fixed.loc[("all", "all"), "n_failed"] == broken.sum()
    for gender in ("female", "male"):
        mated = ok[ok["mated"] & (ok["gender_a"] == gender)]
        assert fixed.loc[("gender", gender), "n_mated"] == len(mated)
        assert fixed.loc[("gender", gender), "fnmr"] == pytest.approx((mated["score"] < 0.5).mean())

    # The target-FMR threshold is set on the non-mated scores: at most 10% of them match.
    t = result.thresholds["fmr=1e-01"]
    assert (nonmated["score"] >= t).mean() <= 0.1
    assert (nonmated["score"] >= np.nextafter(t, -np.inf)).mean() > 0.1 or t == nonmated["score"].min()

    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["score"]["metric"] == "cosine" and manifest["thresholds"]["fixed=0.5"] == 0.5
    assert manifest["embedding"]["n_failed"] == 1
    report = (tmp_path / "run" / "report.md").read_text()
    assert "fixed=0.5" in report and "unreadable" in report


@needs_dlib
def test_rerun_uses_the_cache_and_gives_identical_tables(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    config = validate_config(csv_config(root, tmp_path / "cache"))
    first = run_benchmark(config, out_dir=tmp_path / "a", progress=False)
    second = run_benchmark(config, out_dir=tmp_path / "b", progress=False)
    assert first.embed_stats.n_computed == 5 and second.embed_stats.n_computed == 0
    assert second.embed_stats.n_cached == 5
    for name in ("per_group.csv", "scores.csv", "fairness.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    # Only the distance metric changes: nothing is embedded again.
    other = validate_config(csv_config(root, tmp_path / "cache", model={
        "name": "Dlib", "detector": "skip", "align": False, "distance_metric": "euclidean_l2"}))
    third = run_benchmark(other, out_dir=tmp_path / "c", progress=False)
    assert third.embed_stats.n_computed == 0


def test_unknown_group_fails_before_embedding(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    config = validate_config(csv_config(root, tmp_path / "cache", groups=["skin_tone"]))
    with pytest.raises(ConfigError, match="'skin_tone' is not an attribute.*gender"):
        run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "cache").exists()


def test_missing_dataset_names_where_it_looked(tmp_path: Path) -> None:
    config = validate_config({"name": "x", "dataset": {"name": "lfw"}})
    with pytest.raises(DatasetError, match=str(tmp_path / "nowhere" / "lfw")):
        run_benchmark(config, out_dir=tmp_path / "run", data_root=tmp_path / "nowhere", progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_fails_before_any_work(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    config = validate_config({"name": "x", "dataset": {"name": "lfw"}})
    with pytest.raises(ConfigError, match="not writable"):
        run_benchmark(config, out_dir=locked / "run", data_root=tmp_path, progress=False)


@needs_dlib
@pytest.mark.lfw
def test_lfw_subset_with_the_real_dlib_model(lfw: Path, tmp_path: Path) -> None:
    root = lfw_subset(lfw, tmp_path / "lfw", n=15)
    config = validate_config(
        {
            "name": "lfw-subset",
            "dataset": {"name": "lfw", "root": str(root)},
            "model": {"name": "Dlib", "detector": "dlib", "align": True, "distance_metric": "euclidean"},
            "thresholds": {"target_fmr": [0.1]},
            "groups": ["gender", "race"],
            "intersections": [["race", "gender"]],
            "cache": {"dir": str(tmp_path / "cache")},
            "offline": True,
        }
    )
    result = run_benchmark(config, out_dir=tmp_path / "run", workers=1, progress=False)
    pg = result.per_group
    overall = pg[(pg["attribute"] == "all") & (pg["threshold_name"] == "deepface_default")].iloc[0]
    assert overall["n_mated"] + overall["n_nonmated"] + overall["n_failed"] == 30
    # The rates are the counts of scores.csv at deepface's threshold (dlib's euclidean 0.6).
    scores = pd.read_csv(tmp_path / "run" / "scores.csv").dropna(subset=["score"])
    t = result.thresholds["deepface_default"]
    assert t == -0.6
    mated = scores[scores["mated"]]
    nonmated = scores[~scores["mated"]]
    assert overall["fnmr"] == pytest.approx((mated["score"] < t).mean())
    assert overall["fmr"] == pytest.approx((nonmated["score"] >= t).mean())
    # these easy first pairs of fold 1 are separated well, as dlib's published accuracy suggests
    assert overall["fnmr"] <= 0.2 and overall["fmr"] <= 0.2
    assert set(pg["attribute"]) == {"all", "gender", "race", "race+gender"}
    assert (pg.loc[pg["attribute"] == "race+gender", "group"].str.count(r"\+") == 1).all()
    md = (tmp_path / "run" / "report.md").read_text()
    assert "## Dataset composition" in md and "perceived race" in md.lower()


@needs_dlib
def test_generated_protocol_samples_the_requested_pairs(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=4, per_subject=3)
    cfg = validate_config(csv_config(root, tmp_path / "cache", pairs={
        "protocol": "generated", "n_nonmated": 20, "match_on": ["gender"], "seed": 3}))
    result = run_benchmark(cfg, out_dir=tmp_path / "g", progress=False)
    scores = result.scores
    nonmated = scores[~scores["mated"]]
    assert len(nonmated) == 20 and (nonmated["gender_a"] == nonmated["gender_b"]).all()
    assert scores["mated"].sum() == 6 + 3 * 3  # s0 has 4 images (one unreadable): 6 pairs; the others 3 each


def test_ita_annotation_of_faceless_images_is_unknown_not_dropped(tmp_path: Path) -> None:
    pytest.importorskip("dlib")
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    cfg = validate_config(csv_config(root, tmp_path / "cache", groups=["skin_tone", "gender"],
                                     annotate={"skin_tone": "ita"}))
    from frbench.annotate.apply import apply_annotations
    from frbench.datasets import load_dataset

    images = load_dataset(cfg.dataset, tmp_path).images
    annotated, per_image = apply_annotations(cfg.annotate, images, tmp_path / "cache", progress=False)
    assert len(annotated) == len(images)
    assert set(annotated["skin_tone"]) == {"unknown"}
    assert set(per_image["status"]) <= {"no_face", "unreadable"}


@needs_dlib
def test_imported_scores_written_by_frbench_reproduce_per_group(tmp_path: Path) -> None:
    """Auditing a closed system: scores in, same tables out. frbench's own scores.csv (with its
    unscored failed pairs) re-imported gives a byte-identical per_group.csv."""
    root = make_csv_dataset(tmp_path / "data", n_subjects=3, per_subject=3)
    thresholds = {"deepface_default": False, "target_fmr": [0.1], "fixed": [0.9]}
    first = validate_config(csv_config(root, tmp_path / "cache", thresholds=thresholds))
    run_benchmark(first, out_dir=tmp_path / "model", progress=False)
    imported = validate_config(csv_config(root, tmp_path / "cache", thresholds=thresholds, model={
        "name": "scores", "path": str(tmp_path / "model" / "scores.csv"), "direction": "similarity"}))
    result = run_benchmark(imported, out_dir=tmp_path / "imported", progress=False)
    assert (tmp_path / "model" / "per_group.csv").read_bytes() == (tmp_path / "imported" / "per_group.csv").read_bytes()
    summary = result.manifest["imported_scores"]
    assert summary["unscored_pairs"]["count"] == 9  # the unreadable image pairs with the 9 others
    assert summary["unknown_images"]["count"] == 0
    assert "## Imported scores" in (tmp_path / "imported" / "report.md").read_text()


def test_imported_distances_are_negated_and_strangers_counted(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    scores = pd.DataFrame({"image_a": ["s0/img0.png", "s0/img0.png", "s0/img1.png", "nobody.png"],
                           "image_b": ["s0/img1.png", "s1/img0.png", "s1/img1.png", "s0/img0.png"],
                           "score": [0.2, 0.9, 0.8, 0.1]})
    scores.to_csv(tmp_path / "vendor.csv", index=False)
    cfg = validate_config(csv_config(root, tmp_path / "cache", thresholds={"deepface_default": False, "fixed": [-0.5]},
                                     model={"name": "scores", "path": str(tmp_path / "vendor.csv"), "direction": "distance"}))
    result = run_benchmark(cfg, out_dir=tmp_path / "v", progress=False)
    row = result.per_group[(result.per_group["attribute"] == "all")].iloc[0]
    # distance 0.2 (mated) matches at similarity >= -0.5; distances 0.9 and 0.8 (non-mated) do not
    assert (row["n_mated"], row["n_fnm"], row["n_nonmated"], row["n_fm"]) == (1, 0, 2, 0)
    assert result.manifest["imported_scores"]["unknown_images"]["count"] == 1
    # the dataset's pair list has 10 pairs; 7 of them got no score and count as failed
    assert row["n_failed"] == 7


@needs_dlib
def test_statistics_say_what_the_data_cannot_support(tmp_path: Path) -> None:
    """An unresolvable target is named as such, zero rates make ratios unbounded, not clamped, and
    the group tests stand beside the summaries (issue 14)."""
    root = make_csv_dataset(tmp_path / "data")
    config = validate_config(csv_config(
        root, tmp_path / "cache", thresholds={"target_fmr": [0.1, 0.001], "fixed": [0.5]},
        stats={"bootstrap": 50, "min_group_subjects": 1, "permutations": 99},
    ))
    run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    thresholds = pd.read_csv(tmp_path / "run" / "thresholds.csv").set_index("threshold_name")
    n = int(thresholds.loc["fmr=1e-03", "n_nonmated"])
    assert thresholds.loc["fmr=1e-03", "k_allowed"] == 0 and not thresholds.loc["fmr=1e-03", "resolvable"]
    assert thresholds.loc["fmr=1e-03", "label"].startswith("above every impostor score")
    assert thresholds.loc["fmr=1e-01", "k_allowed"] == int(0.1 * n) and thresholds.loc["fmr=1e-01", "resolvable"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "**Unresolvable targets:** fmr=1e-03" in report and "## Tests of group differences" in report

    per_group = pd.read_csv(tmp_path / "run" / "per_group.csv")
    fairness = pd.read_csv(tmp_path / "run" / "fairness.csv")
    for name, part in per_group[per_group["attribute"] == "gender"].groupby("threshold_name"):
        ratio = fairness[(fairness["threshold_name"] == name) & (fairness["attribute"] == "gender")
                         & (fairness["measure"] == "fmr_max_min_ratio")].iloc[0]
        rates = part["fmr"].dropna()
        if (rates == 0).all():
            assert ratio["status"] == "undefined" and np.isnan(ratio["value"])
        elif (rates == 0).any():
            assert ratio["status"] == "unbounded" and ratio["value"] == np.inf
        else:
            assert ratio["value"] == pytest.approx(rates.max() / rates.min())
    tests = pd.read_csv(tmp_path / "run" / "group_tests.csv")
    assert set(tests["rate"]) == {"fmr", "fnmr", "fnmr_subject_weighted"} and set(tests["attribute"]) == {"gender"}
    counted = tests[tests["rate"] != "fnmr_subject_weighted"]  # a mean of subjects' FNMRs has no exact test
    assert counted["exact_p"].between(0, 1).all() and (counted["exact_p_holm"] >= counted["exact_p"]).all()
    assert tests.loc[tests["rate"] == "fnmr_subject_weighted", "exact_p"].isna().all()
