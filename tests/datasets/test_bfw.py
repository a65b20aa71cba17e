"""BFW loader on a small pair table in the published column layout, with its face crops on disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from frbench.config import DatasetConfig
from frbench.datasets import load_bfw, load_dataset
from frbench.errors import DatasetError
from frbench.tables import validate_image_table, validate_pair_table

# The published column order (facerec-bias-bfw data/README.md), with pandas' unnamed index first
# and the model score columns the loader ignores.
HEADER = ",fold,p1,p2,label,id1,id2,att1,att2,vgg16,resnet50,senet50,a1,a2,g1,g2,e1,e2,sphereface"
IMAGES = {
    "asian_females/n000009/0010_01.jpg": ("0", "F", "A"),
    "asian_females/n000009/0043_01.jpg": ("0", "F", "A"),
    "black_males/n000101/0001_01.jpg": ("5", "M", "B"),
    "black_males/n000101/0002_02.jpg": ("5", "M", "B"),
    "white_females/n000200/0007_01.jpg": ("9", "F", "W"),
    "indian_males/n000300/0003_01.jpg": ("12", "M", "I"),
}
ATT = {"AF": "asian_females", "BM": "black_males", "WF": "white_females", "IM": "indian_males"}


def row(i: int, fold: int, first: str, second: str, **override: str) -> str:
    id1, g1, e1 = IMAGES[first]
    id2, g2, e2 = IMAGES[second]
    cells = {
        "": str(i), "fold": str(fold), "p1": first, "p2": second, "label": "1" if id1 == id2 else "0",
        "id1": id1, "id2": id2, "att1": ATT[e1 + g1], "att2": ATT[e2 + g2], "vgg16": "0.8", "resnet50": "0.7",
        "senet50": "0.6", "a1": e1 + g1, "a2": e2 + g2, "g1": g1, "g2": g2, "e1": e1, "e2": e2, "sphereface": "-0.1",
    }
    cells.update(override)
    return ",".join(cells[c] for c in HEADER.split(","))


ROWS = [
    (1, "asian_females/n000009/0010_01.jpg", "asian_females/n000009/0043_01.jpg"),
    (1, "asian_females/n000009/0010_01.jpg", "black_males/n000101/0001_01.jpg"),
    (2, "black_males/n000101/0001_01.jpg", "black_males/n000101/0002_02.jpg"),
    (2, "white_females/n000200/0007_01.jpg", "indian_males/n000300/0003_01.jpg"),
    (3, "indian_males/n000300/0003_01.jpg", "asian_females/n000009/0043_01.jpg"),
]


def make_bfw(root: Path, rows: list[str] | None = None, images: str = "bfw-cropped-aligned") -> Path:
    rng = np.random.default_rng(0)
    for rel in IMAGES:
        path = root / images / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    if rows is None:
        rows = [row(i, *r) for i, r in enumerate(ROWS)]
    (root / "bfw-v0.1.5-datatable.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return root


def test_images_attributes_and_pairs(tmp_path):
    ds = load_bfw(make_bfw(tmp_path))
    im = ds.images.set_index("image_id")
    assert sorted(im.index) == sorted(IMAGES)
    row_b = im.loc["black_males/n000101/0002_02.jpg"]
    assert [row_b["subject_id"], row_b["gender"], row_b["race"]] == ["5", "male", "black"]
    assert im.loc["white_females/n000200/0007_01.jpg", ["gender", "race"]].tolist() == ["female", "white"]
    assert im.loc["indian_males/n000300/0003_01.jpg", "race"] == "indian"
    assert im.loc["asian_females/n000009/0010_01.jpg", "path"] == str(
        (tmp_path / "bfw-cropped-aligned" / "asian_females" / "n000009" / "0010_01.jpg").resolve()
    )
    assert set(im["gender_source"]) == set(im["race_source"]) == {"dataset"}
    assert ds.pairs["mated"].tolist() == [True, False, True, False, False]
    assert ds.pairs["fold"].tolist() == [1, 1, 2, 2, 3]
    assert ds.attributes == ["gender", "race"] and "ethnicity" in ds.label_sources["race"]
    validate_image_table(ds.images, ds.attributes)
    validate_pair_table(ds.pairs, ds.images["image_id"])


def test_folds_keep_only_their_images(tmp_path):
    ds = load_dataset(DatasetConfig(name="bfw", format="bfw", folds=[2]), make_bfw(tmp_path / "bfw").parent)
    assert ds.pairs["fold"].tolist() == [2, 2]
    assert sorted(ds.images["image_id"]) == sorted(
        ["black_males/n000101/0001_01.jpg", "black_males/n000101/0002_02.jpg",
         "white_females/n000200/0007_01.jpg", "indian_males/n000300/0003_01.jpg"]
    )
    with pytest.raises(DatasetError, match="folds must be integers between 1 and 3"):
        load_bfw(tmp_path / "bfw", folds=[4])


def test_table_and_image_folder_are_configurable(tmp_path):
    make_bfw(tmp_path, images="faces")
    (tmp_path / "bfw-v0.1.5-datatable.csv").rename(tmp_path / "pairs.csv")
    ds = load_bfw(tmp_path, table="pairs.csv", images="faces")
    assert len(ds.pairs) == 5 and ds.images["path"].str.contains("/faces/").all()


def test_repeated_pair_in_either_order_is_counted_once(tmp_path):
    rows = [row(i, *r) for i, r in enumerate(ROWS)]
    rows.append(row(5, 1, "black_males/n000101/0001_01.jpg", "asian_females/n000009/0010_01.jpg"))
    ds = load_bfw(make_bfw(tmp_path, rows))
    assert len(ds.pairs) == 5
    assert any("1 row(s) of bfw-v0.1.5-datatable.csv repeat an earlier pair" in c and "line 7" in c for c in ds.caveats)


AF1, AF2 = "asian_females/n000009/0010_01.jpg", "asian_females/n000009/0043_01.jpg"
BM1 = "black_males/n000101/0001_01.jpg"


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (row(9, 1, AF1, BM1, label="1"), r"datatable.csv:3: label 1 but id1=0 and id2=5"),
        (row(9, 1, AF1, BM1, g2="X"), r"datatable.csv:3: g2 'X' is not F/M"),
        (row(9, 1, AF1, BM1, e1="H"), r"datatable.csv:3: e1 'H' is not A/B/I/W"),
        (row(9, 1, AF1, BM1, a2="BF"), r"datatable.csv:3: a2 'BF' is not e2 followed by g2"),
        (row(9, 1, AF1, BM1, label="yes"), r"datatable.csv:3: label 'yes' is not 0 or 1"),
        (row(9, 0, AF1, BM1), r"datatable.csv:3: fold '0' is not an integer >= 1"),
        (row(9, 1, AF1, AF1), r"datatable.csv:3: pairs image '.*0010_01.jpg' with itself"),
        (row(9, 1, AF1, BM1, id2="7", label="0"), r"datatable.csv:3: image 'black_males/n000101/0001_01.jpg' has "
         r"id/gender/ethnicity 7/male/black, but 5/male/black on line 2"),
        (row(9, 1, AF1, BM1, p2=""), r"datatable.csv:3: empty 'p2'"),
    ],
)
def test_errors_name_file_and_line(tmp_path, bad_row, message):
    rows = [row(0, 1, BM1, AF2), bad_row]
    with pytest.raises(DatasetError, match=message):
        load_bfw(make_bfw(tmp_path, rows))


def test_missing_column_or_image(tmp_path):
    make_bfw(tmp_path)
    table = tmp_path / "bfw-v0.1.5-datatable.csv"
    table.write_text(table.read_text().replace(",e2,", ",ethnicity2,"))
    with pytest.raises(DatasetError, match=r"datatable.csv:1: missing column\(s\) \['e2'\]"):
        load_bfw(tmp_path)
    make_bfw(tmp_path / "b")
    (tmp_path / "b" / "bfw-cropped-aligned" / "indian_males" / "n000300" / "0003_01.jpg").unlink()
    with pytest.raises(DatasetError, match=r"datatable.csv:5: 1 image file\(s\) named in the table are not in"):
        load_bfw(tmp_path / "b")
