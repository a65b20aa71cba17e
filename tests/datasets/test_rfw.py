"""RFW loader on a small tree in RFW's published test-set layout (test/data, test/txts)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from frbench.config import DatasetConfig
from frbench.datasets import load_dataset, load_rfw
from frbench.datasets.rfw import RACES
from frbench.errors import DatasetError
from frbench.tables import validate_image_table, validate_pair_table

# Per race: identity -> number of images (<id>_0001.jpg ...). MS-Celeb style ids, distinct per race
# (m.0.. African, m.1.. Asian, m.2.. Caucasian, m.3.. Indian).
IDENTITIES = {"a1": 3, "b2": 2, "c3": 2}


def ident(race: str, base: str) -> str:
    return f"m.{RACES.index(race)}{base}"


def pairs_text(race: str) -> str:
    """Two folds, each a run of mated lines then a run of non-mated lines, tab separated, no header."""
    a, b, c = (ident(race, x) for x in IDENTITIES)
    fold1 = [f"{a}\t1\t2", f"{b}\t1\t2", f"{a}\t1\t{b}\t1", f"{b}\t2\t{c}\t1"]
    fold2 = [f"{a}\t2\t3", f"{c}\t1\t2", f"{a}\t3\t{c}\t2"]
    return "\n".join(fold1 + fold2) + "\n"


def make_rfw(root: Path, pairs=pairs_text) -> Path:
    rng = np.random.default_rng(0)
    for race in RACES:
        for base, n in IDENTITIES.items():
            identity = ident(race, base)
            folder = root / "test" / "data" / race / identity
            folder.mkdir(parents=True)
            for i in range(1, n + 1):
                cv2.imwrite(str(folder / f"{identity}_{i:04d}.jpg"), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
        txts = root / "test" / "txts" / race
        txts.mkdir(parents=True)
        (txts / f"{race}_pairs.txt").write_text(pairs(race))
        # Files RFW ships that the loader does not need.
        (txts / f"{race}_people.txt").write_text(f"{ident(race, 'a1')}\t3\n")
    return root


def test_images_races_and_pairs(tmp_path):
    ds = load_rfw(make_rfw(tmp_path))
    assert len(ds.images) == 4 * 7 and ds.attributes == ["race"]
    im = ds.images.set_index("image_id")
    assert im.loc["African/m.0a1/m.0a1_0003.jpg", "subject_id"] == "m.0a1"
    assert im.loc["Indian/m.3c3/m.3c3_0001.jpg", "race"] == "indian"
    assert im.loc["Asian/m.1b2/m.1b2_0002.jpg", "path"] == str(
        (tmp_path / "test" / "data" / "Asian" / "m.1b2" / "m.1b2_0002.jpg").resolve()
    )
    assert ds.images["subject_id"].nunique() == 12
    assert sorted(ds.images["race"].unique()) == ["african", "asian", "caucasian", "indian"]
    assert set(ds.images["race_source"]) == {"dataset"}

    african = ds.pairs[ds.pairs["image_a"].str.startswith("African/")]
    assert african.values.tolist() == [
        ["African/m.0a1/m.0a1_0001.jpg", "African/m.0a1/m.0a1_0002.jpg", True, 1],
        ["African/m.0b2/m.0b2_0001.jpg", "African/m.0b2/m.0b2_0002.jpg", True, 1],
        ["African/m.0a1/m.0a1_0001.jpg", "African/m.0b2/m.0b2_0001.jpg", False, 1],
        ["African/m.0b2/m.0b2_0002.jpg", "African/m.0c3/m.0c3_0001.jpg", False, 1],
        ["African/m.0a1/m.0a1_0002.jpg", "African/m.0a1/m.0a1_0003.jpg", True, 2],
        ["African/m.0c3/m.0c3_0001.jpg", "African/m.0c3/m.0c3_0002.jpg", True, 2],
        ["African/m.0a1/m.0a1_0003.jpg", "African/m.0c3/m.0c3_0002.jpg", False, 2],
    ]
    assert len(ds.pairs) == 4 * 7
    # Every pair stays within one race subset, as the caveat says.
    race = ds.images.set_index("image_id")["race"]
    assert (ds.pairs["image_a"].map(race) == ds.pairs["image_b"].map(race)).all()
    assert any("no cross-race non-mated pairs" in c for c in ds.caveats)
    validate_image_table(ds.images, ["race"])
    validate_pair_table(ds.pairs, ds.images["image_id"])


def test_fold_selection_and_test_folder_as_root(tmp_path):
    make_rfw(tmp_path)
    ds = load_rfw(tmp_path / "test", folds=[2])
    assert set(ds.pairs["fold"]) == {2} and len(ds.pairs) == 4 * 3
    assert len(ds.images) == 28  # images are never filtered
    with pytest.raises(DatasetError, match="folds must be integers between 1 and 2"):
        load_rfw(tmp_path, folds=[3])


def test_load_dataset_dispatch(tmp_path):
    make_rfw(tmp_path / "rfw")
    ds = load_dataset(DatasetConfig(name="rfw", format="rfw", folds=[1]), tmp_path)
    assert ds.name == "rfw" and set(ds.pairs["fold"]) == {1}


def test_lfw_style_header_is_checked(tmp_path):
    def with_header(header: str):
        def text(race: str) -> str:
            a, b, c = (ident(race, x) for x in IDENTITIES)
            return f"{header}\n{a}\t1\t2\n{a}\t1\t{b}\t1\n{b}\t1\t2\n{b}\t2\t{c}\t1\n"

        return text

    make_rfw(tmp_path, pairs=with_header("2\t1"))
    assert len(load_rfw(tmp_path).pairs) == 16
    assert load_rfw(tmp_path).pairs["fold"].tolist()[:4] == [1, 1, 2, 2]
    bad = tmp_path / "bad"
    make_rfw(bad, pairs=with_header("2\t2"))
    with pytest.raises(DatasetError, match=r"African_pairs.txt:1: header promises 2 folds of 2"):
        load_rfw(bad)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("m.0a1\t1\t4", r"African_pairs.txt:2: image African/m.0a1/m.0a1_0004.jpg is not in test/data/"),
        ("m.0a1\t1", r"African_pairs.txt:2: expected 'identity n1 n2'"),
        ("m.0a1\t1\tm.0a1\t2", r"African_pairs.txt:2: non-mated pair names one identity"),
        ("m.0a1\t2\t2", r"African_pairs.txt:2: mated pair of image African/m.0a1/m.0a1_0002.jpg with itself"),
        ("m.0a1\tx\t2", r"African_pairs.txt:2: image number 'x' is not a positive integer"),
    ],
)
def test_pair_errors_name_file_and_line(tmp_path, line, message):
    make_rfw(tmp_path, pairs=lambda race: f"m.0b2\t1\t2\n{line}\n" if race == "African" else pairs_text(race))
    with pytest.raises(DatasetError, match=message):
        load_rfw(tmp_path)


def test_missing_race_folder(tmp_path):
    make_rfw(tmp_path)
    for f in (tmp_path / "test" / "data" / "Indian").rglob("*.jpg"):
        f.unlink()
    with pytest.raises(DatasetError, match=r"Indian: no <identity>/<image>.jpg files found"):
        load_rfw(tmp_path)
    with pytest.raises(DatasetError, match="RFW race folder not found"):
        load_rfw(tmp_path / "elsewhere")


def test_identity_under_two_races_is_reported(tmp_path):
    make_rfw(tmp_path)
    # RFW lists a few identities under two races (bob.bio.face names twelve).
    twin = tmp_path / "test" / "data" / "Asian" / "m.0zz"
    twin.mkdir()
    cv2.imwrite(str(twin / "m.0zz_0001.jpg"), np.zeros((8, 8, 3), np.uint8))
    other = tmp_path / "test" / "data" / "Indian" / "m.0zz"
    other.mkdir()
    cv2.imwrite(str(other / "m.0zz_0001.jpg"), np.zeros((8, 8, 3), np.uint8))
    ds = load_rfw(tmp_path)
    im = ds.images.set_index("image_id")
    assert im.loc["Asian/m.0zz/m.0zz_0001.jpg", "race"] == "asian"
    assert im.loc["Indian/m.0zz/m.0zz_0001.jpg", "race"] == "indian"
    assert ds.images["subject_id"].nunique() == 13
    assert any("1 identities have images under more than one race folder" in c and "m.0zz" in c for c in ds.caveats)
