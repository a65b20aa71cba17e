"""A run's comparisons in other tools' score formats, so that bob.measure, pyeer or BFW's code can check it.

Every writer reads the run's ``scores.csv`` (similarities, higher = more alike, match when
similarity >= threshold), so what it writes is exactly what frbench measured:

* ``bob``: ``scores-dev.txt`` in bob.bio's 5-column format (``claimed_id model_label real_id
  test_label score``: ``subject_a image_a subject_b image_b score``) and ``scores-dev.csv`` in
  bob.bio's CSV format (``bio_ref_subject_id, bio_ref_key, probe_subject_id, probe_key, score``
  and ``bio_ref_<attr>``/``probe_<attr>`` for every attribute of the run). A pair frbench could
  not score (an image failed to enrol) has score ``nan``, which bob counts as a failure to acquire.
* ``pyeer``: ``genuine.txt`` and ``impostor.txt``, one similarity a line (pyeer's default
  similarity convention), scored pairs only.
* ``bfw``: ``datatable.csv`` with BFW's columns ``fold, p1, p2, label, id1, id2, g1, g2, e1, e2``
  and one score column named after the model; gender and ethnicity as BFW's codes (F/M,
  A/B/I/W), so the run must have ``gender`` and ``race`` within those.

The files read back with :mod:`frbench.datasets.score_files` (``dataset.format: scores``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.datasets.bfw import ETHNICITY, GENDER
from frbench.errors import DatasetError
from frbench.io.atomic import write_text
from frbench.io.csv_rows import read_csv_rows
from frbench.io.spreadsheet import write_csv

EXPORT_FORMATS = ("bob", "pyeer", "bfw")
_SIDES = ("a", "b")


def _scores(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "scores.csv"
    if not (run_dir / "manifest.json").is_file():
        raise DatasetError(f"{run_dir}: not a complete run directory (no manifest.json)")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (identification runs list searches, not pairs)")
    scores = read_csv_rows(path)
    scores.attrs["path"] = path
    return scores


def _attributes(scores: pd.DataFrame) -> list[str]:
    return [c[:-2] for c in scores.columns if c.endswith("_a") and c not in ("image_a", "subject_a", "status_a")
            and f"{c[:-2]}_b" in scores.columns]


def _no_spaces(scores: pd.DataFrame, columns: list[str]) -> None:
    for col in columns:
        bad = scores[col].str.contains(r"\s", regex=True)
        if bad.any():
            raise DatasetError(
                f"{scores.attrs['path']}:{bad.idxmax()}: {col} {scores.at[bad.idxmax(), col]!r} contains white "
                "space, which bob's space-separated score files cannot hold"
            )


def _score_text(scores: pd.DataFrame) -> pd.Series:
    return scores["score"].where(scores["score"] != "", "nan")


def write_bob(scores: pd.DataFrame, out_dir: Path) -> list[Path]:
    """scores-dev.txt (5 columns) and scores-dev.csv; refused where an id contains white space."""
    _no_spaces(scores, ["subject_a", "image_a", "subject_b", "image_b"])
    csv_path = out_dir / "scores-dev.csv"
    frame = pd.DataFrame({
        "bio_ref_subject_id": scores["subject_a"], "bio_ref_key": scores["image_a"],
        "probe_subject_id": scores["subject_b"], "probe_key": scores["image_b"],
        "score": pd.to_numeric(_score_text(scores)),
    })
    for attr in _attributes(scores):
        frame[f"bio_ref_{attr}"] = scores[f"{attr}_a"].to_numpy()
        frame[f"probe_{attr}"] = scores[f"{attr}_b"].to_numpy()
    write_csv(csv_path, frame)
    text_path = out_dir / "scores-dev.txt"
    lines = scores["subject_a"] + " " + scores["image_a"] + " " + scores["subject_b"] + " " + scores["image_b"] \
        + " " + _score_text(scores)
    write_text(text_path, "".join(line + "\n" for line in lines))
    return [text_path, csv_path]


def write_pyeer(scores: pd.DataFrame, out_dir: Path) -> list[Path]:
    """genuine.txt and impostor.txt: the similarity of every scored mated and non-mated pair."""
    scored = scores[scores["score"] != ""]
    out = []
    for name, mated in (("genuine.txt", "True"), ("impostor.txt", "False")):
        path = out_dir / name
        write_text(path, "".join(s + "\n" for s in scored.loc[scored["mated"] == mated, "score"]))
        out.append(path)
    return out


def write_bfw(scores: pd.DataFrame, out_dir: Path, model: str) -> list[Path]:
    """datatable.csv in BFW's columns, gender and ethnicity as BFW's codes, one score column ``model``."""
    codes = {"gender": GENDER, "race": ETHNICITY}
    frame = pd.DataFrame({
        "fold": scores["fold"] if "fold" in scores else "1",
        "p1": scores["image_a"], "p2": scores["image_b"],
        "label": np.where(scores["mated"] == "True", "1", "0"),
        "id1": scores["subject_a"], "id2": scores["subject_b"],
    })
    for attr, letter in (("gender", "g"), ("race", "e")):
        if f"{attr}_a" not in scores:
            raise DatasetError(f"bfw export needs the run's '{attr}' groups (BFW's {letter}1/{letter}2 columns)")
        back = {v: k for k, v in codes[attr].items()}
        for i, side in enumerate(_SIDES, start=1):
            values = scores[f"{attr}_{side}"]
            unknown = sorted(set(values) - set(back))
            if unknown:
                raise DatasetError(f"bfw export: {attr} values {unknown} have no BFW code (known: {sorted(back)})")
            frame[f"{letter}{i}"] = values.map(back).to_numpy()
    frame[model] = pd.to_numeric(scores["score"].where(scores["score"] != "", "nan"))
    path = out_dir / "datatable.csv"
    write_csv(path, frame)
    return [path]


def export_run(run_dir: Path, fmt: str, out_dir: Path | None = None) -> list[Path]:
    """Write a finished run's comparisons in ``fmt`` (bob, pyeer, bfw) to ``out_dir``.

    Default ``out_dir``: ``run_dir/export-<fmt>``. Returns the files written. Raises DatasetError
    for an unknown format, an incomplete run, or values the format cannot hold.
    """
    if fmt not in EXPORT_FORMATS:
        raise DatasetError(f"unknown export format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
    run_dir = Path(run_dir)
    scores = _scores(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / f"export-{fmt}"
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "bob":
        return write_bob(scores, out_dir)
    if fmt == "pyeer":
        return write_pyeer(scores, out_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    model = str(manifest.get("pipeline", {}).get("model") or "score")
    return write_bfw(scores, out_dir, model)
