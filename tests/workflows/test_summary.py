"""Results at a glance (the headline on stderr), for scripts (--json) and from Python (the README example)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from frbench.cli import main
from tests.conftest import REPO
from tests.builders import csv_config, make_csv_dataset, needs_dlib


def per_group_row(name: str, attribute: str, group: str, **counts: float) -> dict:
    row = {"threshold_name": name, "threshold": 0.5, "attribute": attribute, "group": group,
           "n_mated": 10, "n_nonmated": 10, "n_fnm": 0, "n_fm": 0, "n_failed": 0, "underpowered": False}
    row.update(counts)
    row["fnmr"] = row["n_fnm"] / row["n_mated"] if row["n_mated"] else np.nan
    row["fmr"] = row["n_fm"] / row["n_nonmated"] if row["n_nonmated"] else np.nan
    return row


def test_worst_group_prefers_groups_that_can_resolve_the_fmr() -> None:
    from frbench.workflows.summary import threshold_rows

    table = pd.DataFrame([
        per_group_row("t", "all", "all", n_fnm=3, n_fm=2, n_mated=30, n_nonmated=30),
        per_group_row("t", "gender", "female", n_fnm=2, n_fm=1),
        per_group_row("t", "gender", "male", n_fnm=1, n_fm=1, n_nonmated=4, underpowered=True),
        per_group_row("t", "race", "x", n_fnm=2, n_mated=20, n_fm=0),
        per_group_row("t", "race+gender", "unknown+female", n_fnm=9, n_fm=9),  # not a demographic group
    ])
    [row] = threshold_rows(table)
    assert (row["fnmr"], row["fmr"]) == (0.1, 2 / 30)
    # FNMR 2/10 beats 2/20 and 1/10; FMR: male's 1/4 is underpowered, so female's 1/10 is the worst shown
    assert row["worst_fnmr"] == {"attribute": "gender", "group": "female", "rate": 0.2, "errors": 2, "pairs": 10}
    assert row["worst_fmr"] == {"attribute": "gender", "group": "female", "rate": 0.1, "errors": 1, "pairs": 10,
                                "underpowered": False}
    lone = pd.DataFrame([per_group_row("t", "all", "all")])
    assert threshold_rows(lone)[0]["worst_fnmr"] is None  # no groups: nothing to name


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    root = make_csv_dataset(tmp_path / "data")
    path = tmp_path / "c.yaml"
    # four subjects: every group is compared only when the size floor is lowered
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache", stats={"min_group_subjects": 1})))
    return path


@needs_dlib
def test_a_finished_run_prints_a_headline_and_json_that_agree_with_its_tables(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(config_file), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    per_group = pd.read_csv(out / "per_group.csv")
    overall = per_group[per_group["attribute"] == "all"].set_index("threshold_name")
    assert summary["out_dir"] == str(out) and summary["name"] == "synthetic"
    assert [r["threshold_name"] for r in summary["thresholds"]] == list(overall.index)
    for row in summary["thresholds"]:
        assert row["fnmr"] == overall.loc[row["threshold_name"], "fnmr"]
        assert row["fmr"] == overall.loc[row["threshold_name"], "fmr"]
        groups = per_group[(per_group["threshold_name"] == row["threshold_name"]) & (per_group["attribute"] != "all")]
        if groups["fnmr"].max() > 0:
            assert row["worst_fnmr"]["rate"] == groups["fnmr"].max()
        else:  # no group is "worst" when every group's rate is 0
            assert row["worst_fnmr"] is None
    accuracy = pd.read_csv(out / "accuracy.csv").set_index("threshold_name")
    assert summary["best_accuracy"]["accuracy"] == accuracy.loc["best_accuracy", "accuracy"]
    assert summary["best_accuracy"]["optimistic"] is True

    # the headline on stderr: one row per threshold with its overall rates
    lines = result.stderr.splitlines()
    assert any(line.split()[:4] == ["threshold", "FNMR", "FMR", "accuracy"] for line in lines if line)
    for row in summary["thresholds"]:
        line = next(line for line in lines if line.startswith(row["threshold_name"] + " "))
        cells = re.split(r"\s{2,}", line.strip())
        assert cells[:4] == [row["threshold_name"], f"{row['fnmr']:.4g}", f"{row['fmr']:.4g}", f"{row['accuracy']:.4g}"]
        if row["worst_fnmr"] is not None or row["worst_fmr"] is not None:
            assert "gender=" in line  # the worst group, by name
        else:  # every group's rates are 0: no group is named worst
            assert "gender=" not in line and cells[4:] == ["-", "-"]
    assert any(line.startswith("best accuracy on the same pairs (optimistic)") for line in lines)


@needs_dlib
def test_quiet_prints_only_the_run_directory(config_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(config_file), "-o", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0 and result.stdout.strip() == str(tmp_path / "run") and result.stderr == ""


def test_worst_group_is_one_the_summaries_compare() -> None:
    from frbench.workflows.summary import threshold_rows

    table = pd.DataFrame([
        per_group_row("t", "all", "all", n_fnm=3, n_mated=30),
        per_group_row("t", "race", "big", n_fnm=2, n_mated=20),
        per_group_row("t", "race", "tiny", n_fnm=1, n_mated=2),  # FNMR 0.5, but 2 subjects
    ]).assign(in_summaries=[False, True, False], fnmr_resolves=[True, True, False])
    [row] = threshold_rows(table)
    assert row["worst_fnmr"]["group"] == "big" and row["worst_fnmr"]["underpowered"] is False


def test_headline_cells_break_after_plus_never_inside_a_group_name() -> None:
    from frbench.workflows.summary import wrap_cell

    text = "race+gender=black+female 0.125 (3/24, underpowered)"
    lines = wrap_cell(text, 16).splitlines()
    assert lines == ["race+", "gender=black+", "female 0.125", "(3/24,", "underpowered)"]
    for name in ("black", "female", "gender", "underpowered"):
        assert any(name in line for line in lines)
    assert wrap_cell("short", 16) == "short"
