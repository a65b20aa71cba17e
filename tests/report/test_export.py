"""frbench export: a run's scores as bob, pyeer and BFW files, read back by frbench and by the tools themselves."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from frbench.cli import main
from frbench.config import load_config, validate_config
from frbench.errors import DatasetError
from frbench.report.export import export_run
from frbench.workflows.run import run_benchmark
from tests.conftest import REPO

RATES = ["threshold_name", "attribute", "group", "n_mated", "n_nonmated", "n_fnm", "n_fm", "fnmr", "fmr"]


@pytest.fixture(scope="module")
def bfw_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "bfw"
    config = load_config(REPO / "configs" / "example-bfw-scores.yaml",
                         overrides=[f"dataset.root={REPO / 'tests' / 'data' / 'score_files'}"])
    run_benchmark(config, out_dir=out, progress=False)
    return out


def _reimport(tmp_path: Path, folder: Path, scores: str, **extra) -> pd.DataFrame:
    cfg = validate_config({
        "name": "reimported", "dataset": {"name": "x", "format": "scores", "root": str(folder), "scores": scores,
                                          **extra},
        "model": {"name": "scores"}, "thresholds": {"deepface_default": False, "target_fmr": [1e-2]},
        "groups": ["gender", "race"], "intersections": [["race", "gender"]],
    })
    return run_benchmark(cfg, out_dir=tmp_path / "reimported", progress=False).per_group


@pytest.mark.parametrize("fmt, scores, extra", [
    ("bob", "scores-dev.csv", {"score_format": "bob-csv"}),
    ("bfw", "datatable.csv", {"score_format": "bfw", "score_column": "scores"}),
])
def test_exported_files_read_back_give_the_same_per_group_rates(tmp_path, bfw_run, fmt, scores, extra):
    export_run(bfw_run, fmt, tmp_path / fmt)
    again = _reimport(tmp_path, tmp_path / fmt, scores, **extra)
    original = pd.read_csv(bfw_run / "per_group.csv")
    original = original[~original["threshold_name"].str.startswith("fold:")]
    merged = original[RATES].merge(again[RATES], on=RATES[:3], suffixes=("", "_again"))
    assert len(merged) == len(original)
    for col in RATES[3:]:
        np.testing.assert_allclose(merged[col].astype(float), merged[f"{col}_again"].astype(float), err_msg=col)


def test_bob_five_column_file_has_one_line_per_pair_in_bobs_field_order(tmp_path, bfw_run):
    text, _ = export_run(bfw_run, "bob", tmp_path)
    lines = text.read_text().splitlines()
    scores = pd.read_csv(bfw_run / "scores.csv")
    assert len(lines) == len(scores)
    claimed, model, real, probe, score = lines[0].split(" ")
    first = scores.iloc[0]
    assert (claimed, model, real, probe) == (first["subject_a"], first["image_a"], first["subject_b"], first["image_b"])
    assert float(score) == first["score"]


def test_pyeer_reads_the_export_and_finds_frbenchs_eer_and_fmr100(tmp_path, bfw_run):
    pytest.importorskip("pyeer", reason="pyeer not installed (extra 'formats')")
    from pyeer.eer_info import get_eer_stats

    genuine, impostor = export_run(bfw_run, "pyeer", tmp_path)
    g = [float(x.split(" ")[-1]) for x in genuine.read_text().splitlines()]   # pyeer's own line rule
    i = [float(x.split(" ")[-1]) for x in impostor.read_text().splitlines()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = get_eer_stats(g, i)
    ours = pd.read_csv(bfw_run / "eer.csv").iloc[0]
    assert ours["group"] == "all" and len(i) == 300   # 1 % of 300 is reachable exactly: FMR100 definitions agree
    assert ours["eer"] == pytest.approx(stats.eer, abs=1e-12)
    assert ours["fmr100"] == pytest.approx(stats.fmr100, abs=1e-12)
    assert ours["zero_fmr"] == pytest.approx(stats.fmr0, abs=1e-12)


def test_bob_measure_reads_the_export_and_finds_frbenchs_eer(tmp_path, bfw_run):
    measure = pytest.importorskip(
        "bob.measure", reason="bob.measure not installed: its wheels pin numpy ~= 1.26 and numba (data/README.md)"
    )
    txt, _ = export_run(bfw_run, "bob", tmp_path)
    lines = [x.split(" ") for x in txt.read_text().splitlines()]
    pos = np.array([float(x[4]) for x in lines if x[0] == x[2]])
    neg = np.array([float(x[4]) for x in lines if x[0] != x[2]])
    far, frr = measure.farfrr(neg, pos, measure.eer_threshold(neg, pos))
    ours = pd.read_csv(bfw_run / "eer.csv").iloc[0]
    assert ours["eer_low"] <= (far + frr) / 2 <= ours["eer_high"]


def test_bfw_export_of_a_run_without_bfw_codes_says_which_values(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    pd.DataFrame({"image_a": ["a"], "image_b": ["b"], "subject_a": ["s"], "subject_b": ["t"], "mated": [False],
                  "score": [0.1], "gender_a": ["f"], "gender_b": ["f"], "race_a": ["white"],
                  "race_b": ["white"]}).to_csv(run / "scores.csv", index=False)
    with pytest.raises(DatasetError, match=r"gender values \['f'\] have no BFW code"):
        export_run(run, "bfw")


def test_export_command_prints_the_files_and_refuses_ids_with_spaces(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    pd.DataFrame({"image_a": ["a 1"], "image_b": ["b"], "subject_a": ["s"], "subject_b": ["t"], "mated": [False],
                  "score": [0.1]}).to_csv(run / "scores.csv", index=False)
    ok = CliRunner().invoke(main, ["export", str(run), "--format", "pyeer"])
    assert ok.exit_code == 0 and ok.output.splitlines() == [str(run / "export-pyeer" / "genuine.txt"),
                                                            str(run / "export-pyeer" / "impostor.txt")]
    bad = CliRunner().invoke(main, ["export", str(run), "--format", "bob"])
    assert bad.exit_code == 2
    assert bad.output.strip() == (f"frbench: error: {run / 'scores.csv'}:2: image_a 'a 1' contains white space, "
                                  "which bob's space-separated score files cannot hold")
