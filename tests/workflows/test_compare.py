"""`frbench compare` on run directories written by hand, so every expected value is known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from frbench.cli.app import main
from frbench.workflows.compare import best_flags, compare_runs, csv_with_flags, markdown_table, render_comparison
from frbench.errors import FrbenchError

NAN = float("nan")
PG_COLUMNS = ["threshold_name", "threshold", "attribute", "group", "n_subjects", "n_mated", "n_nonmated", "fnmr", "fmr", "n_failed"]
T = "fmr=1e-03"


def pg(threshold: str, attribute: str, group: str, n_mated: int, n_nonmated: int, fnmr: float, fmr: float) -> list:
    return [threshold, 0.5, attribute, group, 3, n_mated, n_nonmated, fnmr, fmr, 0]


def make_run(
    path: Path, name: str, detector: str, per_group: list[list], fairness: list[tuple], fte: list[tuple],
    folds: list[float] | None = None, dataset_sha: str = "d" * 64,
) -> Path:
    path.mkdir(parents=True)
    manifest = {
        "config": {"name": name, "model": {"name": "Dlib", "detector": detector, "align": True, "distance_metric": "cosine"}},
        "dataset": {"name": "lfw", "sha256": dataset_sha},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    pd.DataFrame(per_group, columns=PG_COLUMNS).to_csv(path / "per_group.csv", index=False)
    pd.DataFrame(fairness, columns=["threshold_name", "attribute", "measure", "value"]).to_csv(path / "fairness.csv", index=False)
    pd.DataFrame(fte, columns=["attribute", "group", "fte"]).to_csv(path / "failure_to_enrol.csv", index=False)
    if folds is not None:
        pd.DataFrame({"fold": range(1, len(folds) + 1), "accuracy": folds}).to_csv(path / "fold_accuracy.csv", index=False)
    return path


@pytest.fixture()
def runs(tmp_path: Path) -> list[Path]:
    a = make_run(tmp_path / "A", "exp/A", "dlib", [
        pg(T, "all", "all", 100, 1000, 0.10, 0.0010),
        pg(T, "gender", "female", 40, 300, 0.20, 0.0020),
        pg(T, "gender", "male", 50, 400, 0.05, 0.0),
        pg(T, "gender", "unknown", 10, 10, 0.90, 0.5),  # not a group: never worst
        pg(T, "race", "asian", 0, 5, NAN, 0.4),  # no mated pairs: no FNMR, but an FMR
        pg(T, "race", "white", 60, 600, 0.08, 0.001),
        pg(T, "race+gender", "unknown+female", 5, 5, 0.99, 0.9),
        pg(T, "race+gender", "white+female", 20, 100, 0.15, 0.0),
        pg(T, "race+gender", "white+male", 30, 200, 0.03, 0.0),
        pg("deepface_default", "all", "all", 100, 1000, 0.30, 0.01),
    ], [(T, "gender", "fdr", 0.80), (T, "gender", "garbe", 0.30), (T, "gender", "fnmr_max_min_ratio", 4.0),
        ("deepface_default", "gender", "fdr", 0.70)],
        [("all", "all", 0.01), ("gender", "female", 0.02), ("gender", "male", 0.005)], folds=[0.9, 0.8])
    b = make_run(tmp_path / "B", "exp/B", "opencv", [
        pg(T, "all", "all", 100, 1000, 0.08, 0.0010),
        pg(T, "gender", "female", 40, 300, 0.08, 0.0015),
        pg(T, "gender", "male", 50, 400, 0.08, 0.0008),
        pg(T, "race", "asian", 2, 0, 0.5, NAN),  # no non-mated pairs: no FMR
        pg(T, "race", "white", 60, 600, 0.07, 0.001),
        pg("deepface_default", "all", "all", 100, 1000, 0.20, 0.02),
    ], [(T, "gender", "fdr", 0.95), (T, "gender", "garbe", 0.10), (T, "gender", "fnmr_max_min_ratio", 1.0),
        ("deepface_default", "gender", "fdr", 0.60)],
        [("all", "all", 0.03), ("gender", "female", 0.05), ("gender", "male", 0.01)], folds=[0.95, 0.93])
    c = make_run(tmp_path / "C", "exp/C", "skip", [
        pg(T, "all", "all", 100, 1000, 0.12, 0.0009),
        pg(T, "gender", "female", 40, 300, 0.10, 0.0010),
        pg(T, "gender", "male", 50, 400, 0.14, 0.0008),
        pg(T, "race", "white", 60, 600, 0.12, 0.0009),
        pg("fixed=0.5", "all", "all", 100, 1000, 0.5, 0.5),
    ], [(T, "gender", "fdr", 0.90), (T, "gender", "garbe", 0.05), (T, "gender", "fnmr_max_min_ratio", NAN)],
        [("all", "all", 0.02), ("gender", "female", 0.01), ("gender", "male", 0.03)])
    return [a, b, c]


def test_worst_and_best_groups_leave_out_unknown_and_groups_without_pairs(runs: list[Path]) -> None:
    table = compare_runs(runs)[0][T].set_index("run")
    assert list(table.index) == ["A", "B", "C"]  # the grid prefix "exp/" is dropped from the labels
    a, b, c = (table.loc[r] for r in "ABC")
    assert (a["gender.fnmr_worst_group"], a["gender.fnmr_worst"]) == ("female", 0.20)
    assert (a["gender.fnmr_best_group"], a["gender.fnmr_best"]) == ("male", 0.05)
    assert (b["gender.fnmr_worst_group"], b["gender.fnmr_worst"]) == ("female;male", 0.08)  # a tie
    assert (a["race.fnmr_worst_group"], a["race.fmr_worst_group"]) == ("white", "asian")
    assert (b["race.fnmr_worst_group"], b["race.fmr_worst_group"]) == ("asian", "white")
    assert (a["race+gender.fnmr_worst_group"], a["race+gender.fnmr_worst"]) == ("white+female", 0.15)
    assert a["race+gender.fmr_worst_group"] == "white+female;white+male"
    assert math.isnan(b["race+gender.fnmr_worst"])  # B reports no intersection
    assert (a["fnmr"], c["fmr"]) == (0.10, 0.0009)
    assert (a["gender.fdr"], c["gender.garbe"], a["fte"], c["fte.gender=male"]) == (0.80, 0.05, 0.01, 0.03)
    assert a["fold_accuracy_mean"] == pytest.approx(0.85) and a["fold_accuracy_std"] == pytest.approx(0.05 * 2**0.5)
    assert math.isnan(c["fold_accuracy_mean"])
    assert (a["detector"], b["detector"], c["detector"]) == ("dlib", "opencv", "skip")


def test_the_best_run_of_each_column_is_marked(runs: list[Path]) -> None:
    table = compare_runs(runs)[0][T]
    best = best_flags(table).set_index(table["run"])
    expected = {
        "fnmr": "B", "fmr": "C",
        "gender.fnmr_worst": "B", "gender.fnmr_best": "A", "gender.fmr_worst": "C", "gender.fmr_best": "A",
        "race.fnmr_worst": "A", "race.fmr_worst": "C",
        "fold_accuracy_mean": "B",
        "gender.fdr": "B", "gender.garbe": "C", "gender.fnmr_max_min_ratio": "B",
        "fte": "A", "fte.gender=female": "C", "fte.gender=male": "A",
    }
    for column, run in expected.items():
        assert list(best.index[best[column]]) == [run], column
    assert list(best.index[best["race.fmr_best"]]) == ["C"]  # A's asian 0.4 is its worst, white 0.001 its best
    # one value only, or the same value everywhere: nothing to prefer
    assert not best["race+gender.fnmr_worst"].any()
    tie = pd.DataFrame({"run": ["x", "y"], "fnmr": [0.1, 0.1], "gender.fdr": [0.9, NAN]})
    assert not best_flags(tie).any().any()
    assert "gender.fnmr_worst_group" not in best and "threshold" not in best and "n_mated" not in best


def test_markdown_bolds_and_csv_flags_the_best_values(runs: list[Path]) -> None:
    table = compare_runs(runs)[0][T]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in markdown_table(table).splitlines()[2:]}
    assert rows["fnmr"] == ["0.1", "**0.08**", "0.12"]
    assert rows["gender.garbe"] == ["0.3", "0.1", "**0.05**"]
    assert rows["gender.fnmr_worst_group"] == ["female", "female;male", "male"]
    assert rows["gender.fnmr_max_min_ratio"] == ["4", "**1**", ""]
    flagged = csv_with_flags(table)
    columns = list(flagged.columns)
    assert columns[columns.index("fnmr") + 1] == "best_fnmr"
    assert flagged["best_fnmr"].tolist() == [False, True, False]
    assert flagged["best_fold_accuracy_mean"].tolist() == [False, True, False]


def test_thresholds_compare_on_the_names_runs_share(runs: list[Path]) -> None:
    tables, messages = compare_runs(runs)
    assert set(tables) == {T, "deepface_default"}
    assert tables["deepface_default"]["run"].tolist() == ["A", "B"]
    assert tables["deepface_default"]["gender.fdr"].tolist() == [0.70, 0.60]
    assert any("fixed=0.5 only in C" in m for m in messages)
    assert any("deepface_default is not in every run" in m for m in messages)


def test_runs_of_different_datasets_are_refused_unless_allowed(tmp_path: Path) -> None:
    rows = [pg(T, "all", "all", 10, 10, 0.1, 0.1)]
    a = make_run(tmp_path / "a", "a", "dlib", rows, [], [("all", "all", 0.0)], dataset_sha="1" * 64)
    b = make_run(tmp_path / "b", "b", "dlib", rows, [], [("all", "all", 0.0)], dataset_sha="2" * 64)
    with pytest.raises(FrbenchError, match="different datasets.*a \\(lfw 111111111111\\), b \\(lfw 222222222222\\)"):
        compare_runs([a, b])
    tables, notes = compare_runs([a, b], allow_different_datasets=True)
    assert any("different datasets" in note for note in notes)
    assert tables[T]["run"].tolist() == ["a", "b"]


def test_cli_compares_a_grid_directory_and_writes_markdown_csv_and_plots(runs: list[Path], tmp_path: Path) -> None:
    grid = {"name": "exp", "cells": [
        {"cell": "A", "dir": "A", "status": "completed", "reason": "", "same_as": None},
        {"cell": "B", "dir": "B", "status": "completed", "reason": "", "same_as": None},
        {"cell": "C", "dir": "C", "status": "completed", "reason": "", "same_as": None},
        {"cell": "X", "dir": "X", "status": "skipped", "reason": "weights missing", "same_as": None},
    ]}
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["compare", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "grid cell X not compared: skipped (weights missing)" in result.stderr
    md = (out / "comparison.md").read_text()
    assert "## Threshold `fmr=1e-03`" in md and "grid cell X not compared" in md
    assert "![FNMR and FMR per group at fmr=1e-03](plots/compare_fmr_1e-03.png)" in md
    assert (out / "plots" / "compare_fmr_1e-03.png").read_bytes()[:4] == b"\x89PNG"
    csv = pd.read_csv(out / "comparison_fmr_1e-03.csv")
    assert csv.loc[csv["best_fnmr"], "run"].tolist() == ["B"]

    printed = CliRunner().invoke(main, ["compare", str(runs[0]), str(runs[1])])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith("# Comparison of 2 runs")
    assert not (tmp_path / "comparison.md").exists()


def test_a_directory_that_is_not_a_run_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "empty: neither a run directory (manifest.json) nor a grid directory (grid.json)" in result.stderr


def test_worst_group_is_one_the_runs_own_summaries_compare_and_unbounded_is_named(tmp_path: Path) -> None:
    # the case: the worst FNMR came from a 2-pair group that the run left out of its summaries
    rows = [
        pg(T, "all", "all", 100, 1000, 0.10, 0.001),
        pg(T, "race", "big", 60, 600, 0.08, 0.001),
        pg(T, "race", "tiny", 2, 3, 0.5, 0.0),
        pg(T, "race", "mid", 38, 397, 0.12, 0.002),
    ]
    runs = []
    for name in ("A", "B"):
        path = make_run(tmp_path / name, f"exp/{name}", "dlib", rows, [(T, "race", "fmr_max_min_ratio", np.inf)], [])
        table = pd.read_csv(path / "per_group.csv")
        table["in_summaries"] = [False, True, False, True]
        table.to_csv(path / "per_group.csv", index=False)
        runs.append(path)
    tables, _ = compare_runs(runs)
    row = tables[T].iloc[0]
    assert row["race.fnmr_worst_group"] == "mid" and row["race.fnmr_worst"] == 0.12
    assert row["race.fmr_best_group"] == "big"
    text = render_comparison(tables)
    assert "| race.fmr_max_min_ratio | unbounded | unbounded |" in text and "inf" not in text


def test_compare_shows_each_threshold_also_as_deepfaces_distance(runs: list[Path]) -> None:
    table = compare_runs(runs)[0][T].set_index("run")
    # the fixture runs are cosine with similarity threshold 0.5: distance 1 - 0.5
    assert (table["threshold_distance"] == 0.5).all()
