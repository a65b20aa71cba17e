"""deepface-pairs loader on a folder laid out like deepface's tests/unit/dataset (master.csv)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from frbench.config import DatasetConfig
from frbench.datasets import load_dataset, load_deepface_pairs
from frbench.errors import DatasetError
from frbench.tables import validate_image_table, validate_pair_table

# img1-img2-img3 are one person through a chain of Yes pairs, img4-img5 another, img6 a third.
MASTER = """file_x,file_y,Decision
img1.jpg,img2.jpg,Yes
img3.jpg,img2.jpg,Yes
img4.jpg,img5.jpg,Yes
img1.jpg,img4.jpg,No
img3.jpg,img6.jpg,No
img10.jpg,img1.jpg,no
"""


def make_deepface(root: Path, master: str = MASTER, names=(1, 2, 3, 4, 5, 6, 10)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for n in names:
        cv2.imwrite(str(root / f"img{n}.jpg"), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    (root / "master.csv").write_text(master)
    return root


def test_pairs_and_inferred_subjects(tmp_path):
    ds = load_deepface_pairs(make_deepface(tmp_path / "dataset"))
    subject = ds.images.set_index("image_id")["subject_id"]
    # Sorted as strings, img1.jpg < img10.jpg < img2.jpg: each person is named after its first image.
    assert subject.to_dict() == {
        "img1.jpg": "img1.jpg", "img10.jpg": "img10.jpg", "img2.jpg": "img1.jpg", "img3.jpg": "img1.jpg",
        "img4.jpg": "img4.jpg", "img5.jpg": "img4.jpg", "img6.jpg": "img6.jpg",
    }
    assert ds.pairs.values.tolist() == [
        ["img1.jpg", "img2.jpg", True],
        ["img3.jpg", "img2.jpg", True],
        ["img4.jpg", "img5.jpg", True],
        ["img1.jpg", "img4.jpg", False],
        ["img3.jpg", "img6.jpg", False],
        ["img10.jpg", "img1.jpg", False],
    ]
    assert ds.images.set_index("image_id").loc["img6.jpg", "path"] == str((tmp_path / "dataset" / "img6.jpg").resolve())
    assert ds.name == "dataset" and ds.attributes == [] and ds.caveats
    validate_image_table(ds.images)
    validate_pair_table(ds.pairs, ds.images["image_id"])
    # mated agrees with the inferred subjects on every pair
    assert (ds.pairs["mated"] == (ds.pairs["image_a"].map(subject) == ds.pairs["image_b"].map(subject))).all()


def test_load_dataset_with_labels_by_image(tmp_path):
    make_deepface(tmp_path / "deepface")
    (tmp_path / "deepface" / "labels.csv").write_text("image_id,gender\nimg1.jpg,female\nimg4.jpg,male\n")
    cfg = DatasetConfig(name="deepface", format="deepface-pairs", labels="labels.csv", labels_by="image")
    ds = load_dataset(cfg, tmp_path)
    assert ds.images.set_index("image_id")["gender"].to_dict()["img4.jpg"] == "male"
    assert ds.images.set_index("image_id")["gender"].to_dict()["img2.jpg"] == "unknown"
    assert any("5 image(s) have no row in labels.csv" in c for c in ds.caveats)


def test_other_pairs_file_name(tmp_path):
    root = make_deepface(tmp_path)
    (root / "master.csv").rename(root / "pairs.csv")
    assert len(load_deepface_pairs(root, pairs="pairs.csv", name="x").pairs) == 6


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("img1.jpg,img3.jpg,No", r"master.csv:8: Decision No, but 'Yes' pairs make 'img1.jpg' and 'img3.jpg' one"),
        ("img2.jpg,img1.jpg,Yes", r"master.csv:8: repeats the pair on line 2"),
        ("img2.jpg,img5.jpg,Maybe", r"master.csv:8: Decision 'Maybe' is not Yes or No"),
        ("img2.jpg,img2.jpg,Yes", r"master.csv:8: pairs image 'img2.jpg' with itself"),
        ("img2.jpg,img9.jpg,No", r"master.csv:8: 1 image file\(s\) named here are not in .*\(first: img9.jpg\)"),
        (",img9.jpg,No", r"master.csv:8: empty file_x"),
    ],
)
def test_errors_name_file_and_line(tmp_path, extra, message):
    with pytest.raises(DatasetError, match=message):
        load_deepface_pairs(make_deepface(tmp_path, MASTER + extra + "\n"))


def test_header_must_be_deepfaces(tmp_path):
    with pytest.raises(DatasetError, match=r"master.csv:1: missing column\(s\) \['Decision'\]"):
        load_deepface_pairs(make_deepface(tmp_path, "file_x,file_y,same\nimg1.jpg,img2.jpg,Yes\n"))
