"""CSV files that a spreadsheet opens without running a formula, and that frbench still reads back.

OWASP, "CSV Injection": a cell starting with =, +, -, @, tab or carriage return is a formula to
Excel, LibreOffice and Google Sheets; prefixing a single quote makes it text.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from frbench.config import validate_config
from frbench.io.spreadsheet import write_csv
from frbench.workflows.compare import compare_runs
from frbench.workflows.run import run_benchmark
from tests.builders import needs_dlib

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ids, subjects and labels a hostile (or unlucky) dataset may hold
SUBJECTS = {"=HYPERLINK(\"http://x\")": "-1+1", "@SUM(A1)": "+female", "plain": "=cmd|' /C calc'!A0"}


def formula_cells(path: Path) -> list[str]:
    """Cells of a CSV that a spreadsheet would take as a formula (numbers are numbers, not formulas)."""
    bad = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            for cell in row:
                if cell.startswith(FORMULA_START):
                    try:
                        float(cell)
                    except ValueError:
                        bad.append(cell)
    return bad


def test_write_csv_quotes_formula_cells_and_keeps_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["=1+2", "-x", "ok", "'=already"], "score": [-0.5, 1.0, -2.0, 0.0],
                          "@head": ["\tx", "\ry", "+z", "a"]})
    write_csv(tmp_path / "t.csv", frame)
    assert formula_cells(tmp_path / "t.csv") == []
    with (tmp_path / "t.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "score", "'@head"]
    assert [r[0] for r in rows[1:]] == ["'=1+2", "'-x", "ok", "''=already"]
    assert [r[2] for r in rows[1:]] == ["'\tx", "'\ry", "'+z", "a"]
    assert [r[1] for r in rows[1:]] == ["-0.5", "1.0", "-2.0", "0.0"]  # negative scores stay numbers


def hostile_dataset(root: Path) -> Path:
    rng = np.random.default_rng(5)
    rows, files = [], []
    for s, (subject, gender) in enumerate(SUBJECTS.items()):
        base = rng.integers(0, 255, size=(120, 120, 3))
        for i in range(3):
            rel = f"-{s}/@img{i}.png"
            (root / f"-{s}").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / rel), np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
            rows.append({"file": rel, "person": subject, "gender": gender})
            files.append(rel)
    pd.DataFrame(rows).to_csv(root / "images.csv", index=False)
    pairs = [{"image_a": a, "image_b": b} for i, a in enumerate(files) for b in files[i + 1:]]
    pd.DataFrame(pairs).to_csv(root / "pairs.csv", index=False)
    return root


def hostile_config(root: Path, cache: Path, **model: object) -> dict:
    return {
        "name": "hostile",
        "dataset": {"name": "hostile", "format": "csv", "root": str(root), "images": "images.csv",
                    "pairs": "pairs.csv", "columns": {"path": "file", "subject_id": "person"}},
        "model": {"name": "Dlib", "detector": "skip", "align": False, "distance_metric": "euclidean", **model},
        "thresholds": {"target_fmr": [0.1], "fixed": [-0.4]},
        "groups": ["gender"],
        "cache": {"dir": str(cache)},
        "execution": {"executor": "serial"},
        "offline": True,
    }


@needs_dlib
def test_no_csv_of_a_run_starts_a_cell_with_a_formula_and_its_scores_read_back(tmp_path: Path) -> None:
    root = hostile_dataset(tmp_path / "data")
    out = tmp_path / "run"
    result = run_benchmark(validate_config(hostile_config(root, tmp_path / "cache")), out_dir=out, progress=False)
    written = sorted(out.glob("*.csv"))
    assert {p.name for p in written} >= {"scores.csv", "per_group.csv", "failure_to_enrol.csv", "fairness.csv"}
    for path in written:
        assert formula_cells(path) == [], path.name
    assert "'-0/@img0.png" in (out / "scores.csv").read_text()  # quoted, not dropped or altered

    # frbench's own scores.csv, imported back as the scores of a system: the same pairs and rates
    imported = run_benchmark(
        validate_config(hostile_config(root, tmp_path / "cache", name="scores", path=str(out / "scores.csv"),
                                       direction="similarity")),
        out_dir=tmp_path / "imported", progress=False,
    )
    assert imported.manifest["imported_scores"]["unknown_images"]["count"] == 0
    mine = result.per_group[result.per_group["threshold_name"].isin(["fmr=1e-01", "fixed=-0.4"])]
    theirs = imported.per_group[imported.per_group["threshold_name"].isin(["fmr=1e-01", "fixed=-0.4"])]
    cols = ["threshold_name", "attribute", "group", "n_mated", "n_nonmated", "n_fnm", "n_fm"]
    assert mine[cols].reset_index(drop=True).equals(theirs[cols].reset_index(drop=True))
    assert set(mine["group"]) == {"all", *SUBJECTS.values()}

    # compare reads the tables back with the labels as they were
    tables, _ = compare_runs([out])
    # these groups are too small for the run's summaries, so compare names them only in its
    # per-group failure-to-enrol columns (fte.<attribute>=<group>), not as worst or best groups
    text = " ".join(str(v) for table in tables.values() for v in [*table.columns, *table.to_numpy().ravel()])
    assert any(label in text for label in SUBJECTS.values())
    assert not any("'" + label in text for label in SUBJECTS.values())


@needs_dlib
def test_a_reproduced_run_matches_its_record_byte_for_byte(tmp_path: Path) -> None:
    from frbench.workflows.reproduce import reproduce_run

    root = hostile_dataset(tmp_path / "data")
    run_benchmark(validate_config(hostile_config(root, tmp_path / "cache")), out_dir=tmp_path / "run", progress=False)
    _, mismatches = reproduce_run(tmp_path / "run" / "manifest.json", tmp_path / "again", progress=False)
    assert [m for m in mismatches if m.item.startswith("outputs.")] == []


@pytest.mark.parametrize("value", ["=1", "''-", "'", "'x", "-", "@", "\tz", "plain", ""])
def test_escaping_round_trips_through_frbench_s_csv_reader(tmp_path: Path, value: str) -> None:
    from frbench.io.csv_rows import read_csv_rows

    write_csv(tmp_path / "t.csv", pd.DataFrame({"image_a": [value + "x"], "image_b": ["b"]}))
    assert read_csv_rows(tmp_path / "t.csv").iloc[0].tolist() == [value + "x", "b"]
