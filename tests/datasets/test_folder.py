"""Folder-per-identity loader and label tables joined by subject or by image (any format)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from frbench.config import DatasetConfig
from frbench.datasets import join_labels, load_dataset, load_folder
from frbench.errors import DatasetError
from frbench.tables import validate_image_table


def image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(len(str(path))).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_tree(base: Path) -> Path:
    """alice: 2 images (jpg, png), bob: 1 (upper-case suffix), carol: a note only, dave: empty."""
    image(base / "alice" / "1.jpg")
    image(base / "alice" / "2.png")
    image(base / "bob" / "a.JPG")
    write(base / "carol" / "notes.txt", "not an image")
    (base / "dave").mkdir(parents=True)
    write(base / ".cache" / "x.jpg", "hidden folders are ignored")
    write(base / "README.md", "top-level files that are not images are ignored")
    return base


def test_one_folder_per_identity(tmp_path):
    make_tree(tmp_path / "faces")
    ds = load_folder(tmp_path / "faces")
    assert ds.images["image_id"].tolist() == ["alice/1.jpg", "alice/2.png", "bob/a.JPG"]
    assert ds.images["subject_id"].tolist() == ["alice", "alice", "bob"]
    assert ds.images["path"].tolist() == [
        str((tmp_path / "faces" / rel).resolve()) for rel in ("alice/1.jpg", "alice/2.png", "bob/a.JPG")
    ]
    assert ds.pairs is None and ds.attributes == [] and ds.name == "faces"
    # What was not used is said, not dropped silently.
    assert any("1 file(s) without an image suffix" in c and "carol/notes.txt" in c for c in ds.caveats)
    assert any("2 identity folder(s) hold no image" in c and "carol" in c for c in ds.caveats)
    validate_image_table(ds.images)


def test_images_subfolder_and_name(tmp_path):
    make_tree(tmp_path / "ds" / "photos")
    ds = load_folder(tmp_path / "ds", images="photos", name="mine")
    assert ds.name == "mine" and ds.root == (tmp_path / "ds").resolve()
    assert ds.images["image_id"].tolist()[0] == "alice/1.jpg"
    assert ds.images["path"].iloc[0] == str((tmp_path / "ds" / "photos" / "alice" / "1.jpg").resolve())


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda b: image(b / "stray.jpg"), "stray.jpg: image outside any identity folder"),
        (lambda b: image(b / "alice" / "more" / "3.jpg"), "more: folder inside identity folder 'alice'"),
    ],
)
def test_layout_errors_name_the_path(tmp_path, setup, message):
    make_tree(tmp_path)
    setup(tmp_path)
    with pytest.raises(DatasetError, match=message):
        load_folder(tmp_path)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match="image folder not found"):
        load_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "alice").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no <identity>/<image> files found"):
        load_folder(tmp_path / "empty")


LABELS = """subject_id,gender,race,race_source
alice,female,black,human
bob,male,,
zed,male,white,human
"""


def test_labels_by_subject(tmp_path):
    make_tree(tmp_path)
    ds = join_labels(load_folder(tmp_path), write(tmp_path / "labels.csv", LABELS), by="subject")
    im = ds.images.set_index("image_id")
    assert im["gender"].tolist() == ["female", "female", "male"]
    assert im["race"].tolist() == ["black", "black", "unknown"]
    assert im["race_source"].tolist() == ["human", "human", "unknown"]
    assert im["gender_source"].tolist() == ["dataset", "dataset", "dataset"]
    assert ds.attributes == ["gender", "race"] and set(ds.label_sources) == {"gender", "race"}
    # A row for a subject the dataset lacks is counted with its line.
    assert any("1 row(s) of labels.csv name a subject not in the dataset" in c and "line 4" in c for c in ds.caveats)
    validate_image_table(ds.images, ds.attributes)


def test_subjects_without_a_row_are_unknown_and_counted(tmp_path):
    make_tree(tmp_path)
    ds = join_labels(load_folder(tmp_path), write(tmp_path / "l.csv", "subject_id,gender\nalice,female\n"))
    assert ds.images.set_index("image_id").loc["bob/a.JPG", ["gender", "gender_source"]].tolist() == [
        "unknown",
        "unknown",
    ]
    assert any("1 subject(s) have no row in l.csv" in c and "'bob'" in c for c in ds.caveats)


def test_labels_by_image_with_column_mapping(tmp_path):
    make_tree(tmp_path)
    labels = write(tmp_path / "l.csv", "file,sex,skin\nalice\\1.jpg,F,V\nbob/a.JPG,M,II\n")
    ds = join_labels(
        load_folder(tmp_path), labels, by="image", columns={"image_id": "file", "gender": "sex", "skin_tone": "skin"}
    )
    im = ds.images.set_index("image_id")
    assert im["gender"].tolist() == ["F", "unknown", "M"]
    assert im["skin_tone"].tolist() == ["V", "unknown", "II"]
    assert "'sex'" in ds.label_sources["gender"]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("subject_id,gender\nalice,f\nbob,m\nalice,m\n", {}, r"l.csv:4: subject_id 'alice' already on line 2"),
        ("person,gender\nalice,f\n", {}, r"l.csv:1: no column 'subject_id'"),
        ("subject_id,gender\n,f\n", {}, r"l.csv:2: empty subject_id"),
        ("subject_id\nalice\n", {}, r"l.csv:1: no attribute column"),
        ("subject_id,path\nalice,x\n", {}, r"would replace the images' column 'path'"),
        ("subject_id,g\nalice,f\n", {"by": "person"}, "labels_by must be 'subject' or 'image'"),
    ],
)
def test_label_errors_name_file_and_line(tmp_path, text, kwargs, message):
    make_tree(tmp_path)
    with pytest.raises(DatasetError, match=message):
        join_labels(load_folder(tmp_path), write(tmp_path / "l.csv", text), **kwargs)


def test_label_attribute_may_not_overwrite_an_existing_one(tmp_path):
    make_tree(tmp_path)
    ds = join_labels(load_folder(tmp_path), write(tmp_path / "a.csv", "subject_id,gender\nalice,f\n"))
    with pytest.raises(DatasetError, match="would replace the images' column 'gender'"):
        join_labels(ds, write(tmp_path / "b.csv", "subject_id,gender\nalice,m\n"))


def test_load_dataset_folder_with_labels(tmp_path):
    make_tree(tmp_path / "faces")
    write(tmp_path / "faces" / "labels.csv", "who,gender\nalice,female\nbob,male\n")
    cfg = DatasetConfig(name="faces", format="folder", labels="labels.csv", label_columns={"subject_id": "who"})
    ds = load_dataset(cfg, tmp_path)
    assert ds.images["gender"].tolist() == ["female", "female", "male"] and ds.name == "faces"


def test_load_dataset_csv_with_labels_by_subject(tmp_path):
    root = tmp_path / "mine"
    write(root / "images.csv", "path,subject_id\nimg/a1.jpg,a\nimg/a2.jpg,a\nimg/b1.jpg,b\n")
    write(root / "people.csv", "subject_id,gender,gender_source\na,female,self-reported\nb,male,self-reported\n")
    cfg = DatasetConfig(name="mine", format="csv", images="images.csv", labels="people.csv")
    ds = load_dataset(cfg, tmp_path)
    assert ds.images["gender"].tolist() == ["female", "female", "male"]
    assert set(ds.images["gender_source"]) == {"self-reported"}


def test_config_rejects_label_columns_without_labels():
    with pytest.raises(ValueError, match="'label_columns' needs 'labels'"):
        DatasetConfig(name="x", format="folder", label_columns={"subject_id": "who"})
