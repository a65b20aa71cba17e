"""What a script calling frbench relies on: exit statuses, the resume command, output paths checked first."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from frbench.cli import main
from frbench.embed import EmbeddingInterrupted
from tests.conftest import REPO
from tests.builders import csv_config, make_csv_dataset


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    path = tmp_path / "my config.yaml"
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache")))
    return path


def test_the_resume_hint_repeats_the_command_exactly(config_file: Path, tmp_path: Path, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise EmbeddingInterrupted("interrupted: 3 of 9 images to embed were finished and saved in CACHE")

    monkeypatch.setattr("frbench.workflows.run.run_benchmark", interrupted)
    out = tmp_path / "out dir"
    args = ["run", str(config_file), "--set", "model.detector=opencv", "--set", "thresholds.fixed=[0.5, 0.7]",
            "-o", str(out), "--workers", "2", "--offline"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130
    hint = result.stderr.strip().splitlines()[-1]
    assert "3 of 9 images" in hint
    command = hint.split("Resume with: ", 1)[1]
    # pasted into a shell, it is the same command, every option and space-holding path included
    assert shlex.split(command) == ["frbench", *args]


def test_ctrl_c_outside_a_run_is_130_too(monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("frbench.cli.models.model_statuses", interrupted)
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 130 and "Traceback" not in result.output


@pytest.mark.parametrize("where", ["/proc/forbidden/x", "file"])
def test_an_output_folder_that_cannot_be_created_is_one_line_before_any_work(
    config_file: Path, tmp_path: Path, where: str
) -> None:
    if where == "file":
        (tmp_path / "a file").write_text("x")
        where = str(tmp_path / "a file" / "run")
    result = CliRunner().invoke(main, ["run", str(config_file), "-o", where])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"frbench: error: output directory {where} cannot be created")
    assert not (tmp_path / "cache").exists()  # nothing was embedded


def test_a_grid_whose_output_cannot_be_created_stops_before_any_cell(config_file: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load(config_file.read_text())
    cfg["model"]["distance_metric"] = ["cosine", "euclidean"]
    config_file.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(main, ["run", str(config_file), "-o", "/proc/forbidden/grid"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


def test_compare_and_annotate_check_their_output_path_first(tmp_path: Path, config_file: Path) -> None:
    (tmp_path / "f").write_text("x")
    result = CliRunner().invoke(main, ["compare", str(tmp_path), "-o", str(tmp_path / "f" / "cmp")])
    assert result.exit_code == 2 and "output directory" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["annotate", "skin-tone", str(config_file), "-o", "/proc/forbidden/x.csv"])
    assert result.exit_code == 2 and "output directory /proc/forbidden cannot be created" in result.output


def test_an_unexpected_exception_is_an_internal_error_with_its_traceback(config_file: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("frbench.workflows.run.run_benchmark", broken)
    result = CliRunner().invoke(main, ["run", str(config_file)])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "ZeroDivisionError: a bug" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("frbench: internal error")


def test_input_errors_are_2(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["run", str(tmp_path / "absent.yaml")]).exit_code == 2
    assert CliRunner().invoke(main, ["run"]).exit_code == 2  # usage: neither CONFIG nor --from


def test_every_exit_status_is_documented_in_help_and_readme() -> None:
    help_text = " ".join(CliRunner().invoke(main, ["--help"]).output.split())
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Exit statuses", 1)[1].split("\n## ", 1)[0]
    for code in (0, 1, 2, 3, 130):
        assert re.search(rf"\b{code}\b", help_text), code
        assert re.search(rf"^\| `{code}` \|", section, re.M), code
    assert "3 partial success" in help_text and "130 interrupted" in help_text
