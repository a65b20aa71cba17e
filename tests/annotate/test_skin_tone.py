"""Skin-tone scales: ITA categories, the lighter/darker split, subject-level annotation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.annotate.skin_tone import (
    FITZPATRICK_BINARY,
    ITA_BINARY,
    ITA_CATEGORIES,
    MONK_BINARY,
    annotate_skin_tone,
    binary_from_fitzpatrick,
    binary_from_ita_category,
    binary_from_monk,
    ita_category,
)
from frbench.errors import DatasetError


def test_ita_category_boundaries_are_exact():
    values = [90, 55.0001, 55, 41.0001, 41, 28.0001, 28, 10.0001, 10, -29.9999, -30, -30.0001, -90, np.nan]
    expected = [
        "very_light", "very_light", "light", "light", "intermediate", "intermediate", "tan",
        "tan", "brown", "brown", "dark", "dark", "dark", "unknown",
    ]  # fmt: skip
    assert ita_category(values).tolist() == expected


def test_ita_category_infinities_and_scalar():
    assert ita_category([np.inf, -np.inf]).tolist() == ["very_light", "dark"]
    assert ita_category(30.0).tolist() == ["intermediate"]


def test_binary_from_ita_category():
    assert ITA_CATEGORIES == ("very_light", "light", "intermediate", "tan", "brown", "dark")
    out = binary_from_ita_category([*ITA_CATEGORIES, "unknown", np.nan])
    assert out.tolist() == ["lighter"] * 3 + ["darker"] * 3 + ["unknown", "unknown"]
    with pytest.raises(DatasetError, match="'beige'"):
        binary_from_ita_category(["light", "beige"])


def test_binary_from_fitzpatrick_numbers_and_numerals():
    values = [1, 2, 3, 4, 5, 6, "I", "ii", " III ", "IV", "v", "VI", "3", 4.0, np.int64(5)]
    expected = ["lighter"] * 3 + ["darker"] * 3 + ["lighter"] * 3 + ["darker"] * 3 + ["lighter", "darker", "darker"]
    assert binary_from_fitzpatrick(values).tolist() == expected
    assert binary_from_fitzpatrick([None, np.nan, "", "unknown"]).tolist() == ["unknown"] * 4
    assert FITZPATRICK_BINARY == {
        "I": "lighter", "II": "lighter", "III": "lighter", "IV": "darker", "V": "darker", "VI": "darker"
    }  # fmt: skip


@pytest.mark.parametrize("bad", [0, 7, "VII", 3.5, "light", "type 2"])
def test_binary_from_fitzpatrick_rejects_other_values(bad):
    with pytest.raises(DatasetError, match=repr(bad).replace(".", r"\.")):
        binary_from_fitzpatrick([1, bad])


def test_binary_from_monk():
    assert binary_from_monk(list(range(1, 11))).tolist() == ["lighter"] * 5 + ["darker"] * 5
    assert binary_from_monk(["5", "6", 10.0, np.nan]).tolist() == ["lighter", "darker", "darker", "unknown"]
    assert sorted(MONK_BINARY, key=int) == [str(i) for i in range(1, 11)]
    for bad in (0, 11, "X"):
        with pytest.raises(DatasetError, match=repr(bad)):
            binary_from_monk([bad])


def _images(subjects: list[str], **columns) -> pd.DataFrame:
    ids = [f"{s}/{s}_{i:04d}.jpg" for i, s in enumerate(subjects)]
    return pd.DataFrame({"image_id": ids, "path": [f"/data/{i}" for i in ids], "subject_id": subjects, **columns})


def test_annotate_from_subject_ita():
    images = _images(["a", "a", "b", "c", "d"], gender=["male"] * 5)
    per_subject = pd.DataFrame({"subject_id": ["a", "b", "c"], "ita": [56.0, 28.0, np.nan]})
    out = annotate_skin_tone(images, per_subject)
    assert out["skin_tone_category"].tolist() == ["very_light", "very_light", "tan", "unknown", "unknown"]
    assert out["skin_tone"].tolist() == ["lighter", "lighter", "darker", "unknown", "unknown"]
    assert out["skin_tone_source"].tolist() == ["ita", "ita", "ita", "unknown", "unknown"]
    np.testing.assert_array_equal(out["ita"].to_numpy(), [56.0, 56.0, 28.0, np.nan, np.nan])
    assert out["gender"].tolist() == images["gender"].tolist()
    assert "skin_tone" not in images.columns  # input untouched


def test_annotate_from_per_image_ita_uses_subject_median():
    images = _images(["a", "a", "a", "b", "b"], ita_img=[20.0, 50.0, 30.0, -40.0, np.nan])
    out = annotate_skin_tone(images, source_column="ita_img")
    assert out["ita"].tolist() == [30.0, 30.0, 30.0, -40.0, -40.0]
    assert out["skin_tone_category"].tolist() == ["intermediate"] * 3 + ["dark"] * 2
    assert out["skin_tone"].tolist() == ["lighter"] * 3 + ["darker"] * 2


def test_annotate_from_fitzpatrick_labels():
    images = _images(["a", "a", "a", "b", "b", "c"], fitz=["II", "5", "V", "III", "IV", None])
    out = annotate_skin_tone(images, source_column="fitz", scale="fitzpatrick")
    # a: II, V, V -> V; b: III, IV -> lower median III; c: no label
    assert out["skin_tone_category"].tolist() == ["V"] * 3 + ["III"] * 2 + ["unknown"]
    assert out["skin_tone"].tolist() == ["darker"] * 3 + ["lighter"] * 2 + ["unknown"]
    assert out["skin_tone_source"].tolist() == ["dataset"] * 5 + ["unknown"]
    assert out["ita"].isna().all()


def test_annotate_from_monk_labels():
    images = _images(["a", "b", "b", "b"], monk=[5, 6, 7, 10])
    out = annotate_skin_tone(images, source_column="monk", scale="monk")
    assert out["skin_tone_category"].tolist() == ["5", "7", "7", "7"]
    assert out["skin_tone"].tolist() == ["lighter", "darker", "darker", "darker"]


def test_annotate_errors_name_the_problem():
    images = _images(["a", "b"], fitz=["II", "VIII"])
    with pytest.raises(DatasetError, match=r"column 'fitz', image 'b/b_0001.jpg': 'VIII'"):
        annotate_skin_tone(images, source_column="fitz", scale="fitzpatrick")
    with pytest.raises(DatasetError, match="'tone'"):
        annotate_skin_tone(images, source_column="tone", scale="monk")
    with pytest.raises(DatasetError, match=r"image 'a/a_0000.jpg': ITA value 'pale'"):
        annotate_skin_tone(_images(["a"], x=["pale"]), source_column="x")
    with pytest.raises(ValueError, match="exactly one"):
        annotate_skin_tone(images)


def test_mappings_are_the_gender_shades_split():
    assert [ITA_BINARY[c] for c in ITA_CATEGORIES] == ["lighter"] * 3 + ["darker"] * 3
