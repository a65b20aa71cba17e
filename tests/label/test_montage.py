"""The montage workflow: sheets hide names and show each subject once; answers by tile number are
recorded as label-file rows with what was seen, and every malformed or partial answer is refused."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from frbench.cli import main
from frbench.errors import DatasetError
from frbench.label.files import read_label_file
from frbench.label.montage import parse_answers, plan_sheets, record_answers, write_sheets


def _images(tmp_path, counts: dict[str, int]) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for subject, n in counts.items():
        (tmp_path / subject).mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            path = tmp_path / subject / f"{subject}_{i:04d}.jpg"
            cv2.imwrite(str(path), rng.integers(0, 255, (60, 60, 3), dtype=np.uint8))
            rows.append({"image_id": f"{subject}/{path.name}", "subject_id": subject, "path": str(path)})
    return pd.DataFrame(rows)


def test_sheets_cover_every_subject_once_with_at_most_four_photos(tmp_path):
    images = _images(tmp_path / "img", {"Ann": 7, "Bob": 1, "Cy": 3, "Di": 2, "Ed": 5})
    keys = plan_sheets(images, ["Ann", "Bob", "Cy", "Di", "Ed"], seed=3, per_sheet=2, photos=4)
    assert [len(k) for k in keys] == [2, 2, 1]
    both = pd.concat(keys)
    assert sorted(both["subject_id"]) == ["Ann", "Bob", "Cy", "Di", "Ed"]
    shown = dict(zip(both["subject_id"], both["image_id"].str.split(";")))
    assert len(shown["Ann"]) == 4 and len(set(shown["Ann"])) == 4
    assert all(i.startswith("Ann/") for i in shown["Ann"])
    assert shown["Bob"] == ["Bob/Bob_0001.jpg"]
    # another seed, another order: the second annotator of a block sees other neighbours
    other = pd.concat(plan_sheets(images, ["Ann", "Bob", "Cy", "Di", "Ed"], seed=4, per_sheet=2))
    assert sorted(other["subject_id"]) == sorted(both["subject_id"])


def test_write_sheets_records_hashes_and_keys(tmp_path):
    images = _images(tmp_path / "img", {"Ann": 2, "Bob": 1})
    pngs = write_sheets(images, ["Ann", "Bob"], tmp_path / "out", seed=0, per_sheet=30)
    assert [p.name for p in pngs] == ["sheet_001.png"]
    manifest = json.loads((tmp_path / "out" / "sheets.json").read_text())
    assert set(manifest["sheets"]) == {"sheet_001.png"} and manifest["seed"] == 0
    assert cv2.imread(str(pngs[0])) is not None
    key = pd.read_csv(tmp_path / "out" / "sheet_001.csv")
    assert list(key.columns) == ["tile", "subject_id", "image_id"] and key["tile"].tolist() == [1, 2]


def test_answers_parse_and_refuse_partial_or_duplicated_sheets():
    assert parse_answers("1 L 3\n2 d 7\n# note\n3 U -\n", [1, 2, 3], "a") == {
        1: ("lighter", "3"), 2: ("darker", "7"), 3: ("unsure", "")}
    with pytest.raises(DatasetError, match="no answer for tile 3"):
        parse_answers("1 L 3\n2 D 7\n", [1, 2, 3], "a")
    with pytest.raises(DatasetError) as err:
        parse_answers("1 L 3\n1 D 7\n9 L\n2 X\n3 L 11\n", [1, 2, 3], "a")
    lines = str(err.value).splitlines()
    assert lines == ["a:2: tile 1 is answered twice", "a:3: tile 9 is not on the sheet (1-3)",
                     "a:4: '2 X' is not 'TILE L|D|U [MONK 1-10 or -]'", "a:5: '3 L 11' is not 'TILE L|D|U [MONK 1-10 or -]'"]


def test_record_appends_rows_with_what_was_seen_and_refuses_a_second_recording(tmp_path):
    images = _images(tmp_path / "img", {"Ann": 2, "Bob": 1})
    write_sheets(images, ["Ann", "Bob"], tmp_path / "out", seed=0)
    key = tmp_path / "out" / "sheet_001.csv"
    order = pd.read_csv(key)["subject_id"].tolist()
    label_file = tmp_path / "labels" / "annotator-ai-1.csv"
    result = CliRunner().invoke(main, ["label", "record", str(key), "--annotator", "ai-1", "--kind", "an AI model (test)",
                                       "-o", str(label_file)], input="1 L 2\n2 D 8\n")
    assert result.exit_code == 0, result.output
    rows = read_label_file(label_file)
    assert rows["subject_id"].tolist() == order
    assert rows["skin_tone_binary"].tolist() == ["lighter", "darker"]
    assert rows["tool"].str.endswith("out/sheet_001").all()  # which drawing's sheet: folder and name
    ann = rows.set_index("subject_id").loc["Ann", "image_id"].split(";")
    assert sorted(ann) == ["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg"]
    assert json.loads(label_file.with_suffix(".json").read_text())["kind"] == "an AI model (test)"
    with pytest.raises(DatasetError, match="already recorded"):
        record_answers(key, "1 L 2\n2 D 8\n", "ai-1", label_file)
    again = CliRunner().invoke(main, ["label", "record", str(key), "--annotator", "ai-1", "--kind", "a person",
                                      "-o", str(label_file)], input="1 L 2\n2 D 8\n")
    assert again.exit_code != 0 and "already describes" in again.output
    assert len(read_label_file(label_file)) == 2
