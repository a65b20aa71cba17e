"""CSV manifest loader: small CSVs written in tmp_path, and every error naming its file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from frbench.datasets import load_csv_manifest
from frbench.errors import DatasetError

IMAGES = """path,subject_id,gender,race,gender_source
imgs/a1.jpg,alice,female,NA,human
imgs/a2.jpg,alice,female,,
imgs/b1.jpg,bob,male,black,human
imgs/c1.jpg,carol,,white,
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load_pairs(tmp_path: Path, pairs: str, images: str = IMAGES):
    images_csv = write(tmp_path / "ds" / "images.csv", images)
    return load_csv_manifest(images_csv, write(tmp_path / "ds" / "pairs.csv", pairs))


def test_images_table(tmp_path):
    ds = load_csv_manifest(write(tmp_path / "faces" / "images.csv", IMAGES))
    im = ds.images.set_index("image_id")
    assert list(im.index) == ["imgs/a1.jpg", "imgs/a2.jpg", "imgs/b1.jpg", "imgs/c1.jpg"]
    assert im.loc["imgs/b1.jpg", "path"] == str((tmp_path / "faces" / "imgs" / "b1.jpg").resolve())
    assert ds.attributes == ["gender", "race"]
    assert ds.name == "faces" and ds.root == (tmp_path / "faces").resolve() and ds.pairs is None
    # "NA" is a value, not missing data; an empty cell is unknown.
    assert list(im["race"]) == ["NA", "unknown", "black", "white"]
    assert list(im["gender"]) == ["female", "female", "male", "unknown"]
    # A source column is kept; empty cells fall back to dataset (unknown for unknown values).
    assert list(im["gender_source"]) == ["human", "dataset", "human", "unknown"]
    assert list(im["race_source"]) == ["dataset", "unknown", "dataset", "dataset"]
    assert set(ds.label_sources) == {"gender", "race"} and ds.caveats


def test_column_mapping_root_and_explicit_attributes(tmp_path):
    csv = write(tmp_path / "meta" / "list.csv", "file,person,sex,id,notes\nx/1.png,p1,F,one,blurry\n")
    ds = load_csv_manifest(
        csv,
        columns={"path": "file", "subject_id": "person", "gender": "sex", "image_id": "id"},
        attributes=["gender"],
        root=tmp_path / "pictures",
        name="mine",
    )
    row = ds.images.iloc[0]
    assert (row["image_id"], row["subject_id"], row["gender"]) == ("one", "p1", "F")
    assert row["path"] == str((tmp_path / "pictures" / "x" / "1.png").resolve())
    assert "notes" not in ds.images.columns and ds.attributes == ["gender"] and ds.name == "mine"


def test_backslash_paths_become_slash_ids(tmp_path):
    ds = load_csv_manifest(write(tmp_path / "images.csv", "path,subject_id\nimgs\\a.jpg,s\n"))
    assert ds.images["image_id"].tolist() == ["imgs/a.jpg"]
    assert ds.images["path"].tolist() == [str(tmp_path.resolve() / "imgs" / "a.jpg")]


def test_pairs_with_mated_words_and_folds(tmp_path):
    ds = load_pairs(
        tmp_path,
        "image_a,image_b,mated,fold\n"
        "imgs/a1.jpg,imgs/a2.jpg,TRUE,1\n"
        "imgs/a1.jpg,imgs/b1.jpg,No,1\n"
        "imgs\\a2.jpg,imgs/b1.jpg,0,2\n"
        "imgs/b1.jpg,imgs/c1.jpg,FALSE,2\n",
    )
    assert ds.pairs["mated"].tolist() == [True, False, False, False]
    assert ds.pairs["fold"].tolist() == [1, 1, 2, 2]
    assert ds.pairs["image_a"].tolist() == ["imgs/a1.jpg", "imgs/a1.jpg", "imgs/a2.jpg", "imgs/b1.jpg"]


def test_pairs_name_images_by_id_or_by_path_as_written(tmp_path):
    images = "image_id,path,subject_id\nA1,imgs/a1.jpg,alice\nA2,imgs/a2.jpg,alice\nB1,imgs/b1.jpg,bob\n"
    ds = load_pairs(tmp_path, "image_a,image_b,mated\nA1,imgs/a2.jpg,yes\nimgs/a1.jpg,B1,no\n", images)
    assert ds.pairs[["image_a", "image_b"]].values.tolist() == [["A1", "A2"], ["A1", "B1"]]


def test_mated_defaults_to_same_subject(tmp_path):
    ds = load_pairs(tmp_path, "image_a,image_b\nimgs/a1.jpg,imgs/a2.jpg\nimgs/a1.jpg,imgs/b1.jpg\n")
    assert ds.pairs["mated"].tolist() == [True, False]
    assert "fold" not in ds.pairs.columns


def test_symlink_inside_root_to_a_store_outside_is_allowed(tmp_path):
    store = write(tmp_path / "store" / "blob", "not an image")
    (tmp_path / "ds").mkdir()
    os.symlink(store, tmp_path / "ds" / "a.jpg")
    ds = load_csv_manifest(write(tmp_path / "ds" / "images.csv", "path,subject_id\na.jpg,s\n"))
    assert ds.images["path"].tolist() == [str((tmp_path / "ds").resolve() / "a.jpg")]


@pytest.mark.parametrize("path", ["../elsewhere/a.jpg", "imgs/../../a.jpg", "/etc/passwd"])
def test_path_leaving_root_is_refused_unless_allowed(tmp_path, path):
    images = f"path,subject_id\nimgs/ok.jpg,s\n{path},t\n"
    csv = write(tmp_path / "ds" / "images.csv", images)
    with pytest.raises(DatasetError, match=r"images\.csv:3: path .* leads outside the dataset root"):
        load_csv_manifest(csv)
    ds = load_csv_manifest(csv, allow_outside_root=True)
    assert ds.images["path"].iloc[1] == os.path.normpath(os.path.join((tmp_path / "ds").resolve(), path))


@pytest.mark.parametrize(
    ("images", "line", "words"),
    [
        ("path,subject_id\na.jpg,s\nb.jpg,t\na.jpg,u\n", 4, "image_id 'a.jpg' already on line 2"),
        ("path,subject_id,image_id\na.jpg,s,x\nb.jpg,t,x\n", 3, "image_id 'x' already on line 2"),
        ("path,subject_id\na.jpg,s\nb.jpg,\n", 3, "empty 'subject_id'"),
        ("path,subject_id\na.jpg,s\n,t\n", 3, "empty 'path'"),
        ("path,subject_id\na.jpg,s\nb.jpg,t,extra\n", 3, "3 fields, the header has 2"),
        ('path,subject_id\n"a\nb.jpg",s\nb.jpg,t,extra\n', 4, "3 fields, the header has 2"),
        ("path,subject_id\na.jpg,s,extra\nb.jpg,t\n", 2, "more fields than the header"),
        ("file,subject_id\na.jpg,s\n", 1, "no column 'path'"),
        ("path,subject_id\n\n", 2, "no rows below the header"),
        ("", 1, "the file is empty"),
        # A blank line and a quoted cell spanning two lines come before the duplicate on line 7.
        ('path,subject_id,note\na.jpg,s,"two\nlines"\n\nb.jpg,t,\nc.jpg,u,\na.jpg,v,\n', 7, "already on line 2"),
    ],
)
def test_bad_images_csv_names_file_and_line(tmp_path, images, line, words):
    csv = write(tmp_path / "images.csv", images)
    with pytest.raises(DatasetError) as err:
        load_csv_manifest(csv)
    assert f"images.csv:{line}:" in str(err.value)
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("pairs", "line", "words"),
    [
        ("image_a,image_b\nimgs/a1.jpg,imgs/a2.jpg\nimgs/a1.jpg,imgs/zz.jpg\n", 3, "image_b 'imgs/zz.jpg' is not"),
        ("image_a,image_b,mated\nimgs/a1.jpg,imgs/a2.jpg,true\nimgs/a1.jpg,imgs/b1.jpg,maybe\n", 3,
         "mated 'maybe' is not true/false"),
        ("image_a,image_b,mated\nimgs/a1.jpg,imgs/a2.jpg,\n", 2, "mated '' is not"),
        ("image_a,image_b,fold\nimgs/a1.jpg,imgs/a2.jpg,1\nimgs/a1.jpg,imgs/b1.jpg,0\n", 3, "fold '0' is not"),
        ("image_a,image_b,fold\nimgs/a1.jpg,imgs/a2.jpg,one\n", 2, "fold 'one' is not"),
        ("image_a,image_b,mated\nimgs/a1.jpg,imgs/b1.jpg,yes\n", 2, "subject 'alice'"),
        ("image_a,image_b,mated\nimgs/a1.jpg,imgs/a2.jpg,no\n", 2, "mated=no"),
        ("image_a,image_b\nimgs/a1.jpg,imgs/a1.jpg\n", 2, "with itself"),
        ("image_a,image_b\nimgs/a1.jpg,imgs/a2.jpg\nimgs/b1.jpg,imgs/c1.jpg\nimgs/a2.jpg,imgs/a1.jpg\n", 4,
         "repeats the pair on line 2"),
        ("image_a,image_b\nimgs/a1.jpg,imgs/a2.jpg,x\n", 2, "more fields than the header"),
        ("a,b\nimgs/a1.jpg,imgs/a2.jpg\n", 1, "no column(s) ['image_a', 'image_b']"),
        ("image_a,image_b\n", 2, "no rows below the header"),
    ],
)
def test_bad_pairs_csv_names_file_and_line(tmp_path, pairs, line, words):
    with pytest.raises(DatasetError) as err:
        load_pairs(tmp_path, pairs)
    assert f"pairs.csv:{line}:" in str(err.value)
    assert words in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"nope\.csv: file not found"):
        load_csv_manifest(tmp_path / "nope.csv")
