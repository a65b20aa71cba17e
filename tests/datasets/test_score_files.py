"""Score-only audits: bob, pyeer and BFW score files read with no image, and runs made from them."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from frbench.config import load_config, validate_config
from frbench.datasets.score_files import load_score_dataset
from frbench.errors import ConfigError, DatasetError
from frbench.workflows.run import run_benchmark
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "data" / "score_files"


def _read(fmt: str, **kw):
    files = {"bob4": "bob4-dev.txt", "bob5": "bob5-dev.txt", "bob-csv": "bob-dev.csv",
             "pyeer": "pyeer-genuine.txt", "bfw": "bfw-datatable.csv"}
    extra = {"impostors": "pyeer-impostor.txt"} if fmt == "pyeer" else {}
    if fmt == "bfw":
        extra["score_column"] = "vgg16"
    return load_score_dataset(FIXTURES, "fixture", files[fmt], fmt, **extra, **kw)


@pytest.mark.parametrize("fmt", ["bob4", "bob5", "bob-csv", "pyeer", "bfw"])
def test_every_format_of_the_same_comparisons_gives_the_same_mated_and_non_mated_scores(fmt):
    # the fixtures hold one set of 48 mated and 300 non-mated comparisons in each format
    d = _read(fmt)
    pairs = d.pairs
    assert (int(pairs["mated"].sum()), int((~pairs["mated"]).sum())) == (48, 300)
    reference = _read("bob5").pairs
    for mated in (True, False):
        np.testing.assert_allclose(np.sort(pairs.loc[pairs["mated"] == mated, "score"]),
                                   np.sort(reference.loc[reference["mated"] == mated, "score"]))
    assert (d.images["path"] == "").all()


def test_bob_csv_and_bfw_bring_their_own_demographics():
    assert set(_read("bob-csv").images["gender"]) == {"female", "male"}
    bfw = _read("bfw").images
    assert set(bfw["race"]) == {"asian", "black", "indian", "white"}
    assert set(bfw["gender_source"]) == {"dataset"}


def test_bfw_table_with_several_score_columns_asks_which_one():
    with pytest.raises(DatasetError, match=r"bfw-datatable.csv:1: several score columns \(vgg16, resnet50\)"):
        load_score_dataset(FIXTURES, "x", "bfw-datatable.csv", "bfw")


@pytest.mark.parametrize(
    "fmt, lines, message",
    [
        ("bob5", "s1 m1 s1 p1 0.9\ns1 m1 s2 p2\n", r"scores.txt:2: 4 fields, expected 5"),
        ("bob4", "s1 s1 p1 0.9\n\ns1 s2 p2 high\n", r"scores.txt:3: score 'high' is not a finite number"),
        ("bob4", "s1 s1 p1 0.9\ns2 s2 p1 0.8\n", r"scores.txt:2: 'p1' is subject 's2' here, but 's1' on line 1"),
        ("bob5", "s1 m1 s1 p1 inf\n", r"scores.txt:1: score 'inf' is not a finite number"),
        ("bob-csv", "probe_key,probe_subject_id,score\np1,s1,0.5\n", r"scores.txt:1: missing column\(s\) \['bio_ref_subject_id'\]"),
    ],
)
def test_a_malformed_score_file_is_refused_naming_file_and_line(tmp_path, fmt, lines, message):
    (tmp_path / "scores.txt").write_text(lines)
    with pytest.raises(DatasetError, match=message):
        load_score_dataset(tmp_path, "x", "scores.txt", fmt)


def test_a_nan_score_is_an_unscored_comparison_counted_as_failed(tmp_path):
    (tmp_path / "scores.txt").write_text("s1 m1 s1 p1 0.9\ns1 m1 s2 p2 nan\ns2 m2 s2 p3 0.8\ns2 m2 s1 p4 0.1\n")
    cfg = validate_config({
        "name": "nan", "dataset": {"name": "x", "format": "scores", "root": str(tmp_path), "scores": "scores.txt",
                                   "score_format": "bob5"},
        "model": {"name": "scores"}, "thresholds": {"deepface_default": False, "target_fmr": [0.5]},
    })
    result = run_benchmark(cfg, out_dir=tmp_path / "run", progress=False)
    overall = result.per_group.iloc[0]
    assert (overall["n_nonmated"], overall["n_failed"]) == (1, 1)


def test_score_only_dataset_with_a_model_to_run_is_a_config_error():
    raw = {"name": "x", "dataset": {"name": "x", "format": "scores", "scores": "s.txt", "score_format": "bob5"}}
    with pytest.raises(ConfigError, match="carries its own scores: set model.name: scores"):
        validate_config(raw)
    with pytest.raises(ConfigError, match="'impostors'"):
        validate_config({**raw, "model": {"name": "scores"},
                         "dataset": {**raw["dataset"], "score_format": "pyeer"}})


@pytest.mark.parametrize("config", ["configs/example-bob-scores.yaml", "configs/example-bfw-scores.yaml"])
def test_example_score_only_audit_runs_end_to_end_with_no_image(tmp_path, config, monkeypatch):
    monkeypatch.chdir(REPO)
    result = run_benchmark(load_config(config, overrides=["stats.bootstrap=50"]), out_dir=tmp_path / "run",
                           progress=False)
    per_group = result.per_group
    assert {"female", "male"} <= set(per_group.loc[per_group["attribute"] == "gender", "group"])
    overall = per_group[(per_group["attribute"] == "all") & (per_group["threshold_name"] == "fmr=1e-02")].iloc[0]
    assert (overall["n_mated"], overall["n_nonmated"], overall["n_failed"]) == (48, 300, 0)
    assert overall["fmr"] <= 0.01
    for name in ("report.md", "eer.csv", "fairness.csv", "plots/det_gender.png", "manifest.json"):
        assert (tmp_path / "run" / name).is_file(), name
    eer = pd.read_csv(tmp_path / "run" / "eer.csv")
    assert eer.loc[0, "group"] == "all" and 0 < eer.loc[0, "eer"] < 0.2
    assert "no image was read" in (tmp_path / "run" / "report.md").read_text()
