"""LFW loader: on a small fake tree in the real layout, and on the real LFW (the `lfw` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from frbench.datasets import load_lfw
from frbench.errors import DatasetError

# subject -> number of images (files NAME_0001.jpg ...)
SUBJECTS = {
    "Ann_Smith": 2,
    "Bob_Jones": 3,
    "Chen_Li": 2,
    "Dee_Kay": 1,
    "Robert_Evans": 3,
    "Erika_Reyes": 1,
    "Tara_Kirk": 1,
}
# Robert_Evans and Tara_Kirk are in neither list, Erika_Reyes_0001 is in both: only the
# identity-level fixes can label them.
MALE = ["Bob_Jones_0001.jpg", "Bob_Jones_0002.jpg", "Bob_Jones_0003.jpg", "Chen_Li_0001.jpg",
        "Chen_Li_0002.jpg", "Dee_Kay_0001.jpg", "Erika_Reyes_0001.jpg"]
FEMALE = ["Ann_Smith_0001.jpg", "Ann_Smith_0002.jpg", "Erika_Reyes_0001.jpg"]
RACE_JSON = {"Ann_Smith": "african", "Bob_Jones": "latino,caucasian", "Robert_Evans": "other,caucasian"}
# image -> (White, Black, Asian, Indian)
KUMAR = {
    "Ann_Smith_0001.jpg": (1, 0, 0, 0),
    "Ann_Smith_0002.jpg": (1, 0, 0, 0),
    "Bob_Jones_0001.jpg": (0, 1, 0, 0),
    "Bob_Jones_0002.jpg": (1, 0, 0, 1),
    "Bob_Jones_0003.jpg": (1, 0, 0, 1),
    "Chen_Li_0001.jpg": (0, 0, 1, 0),
    "Chen_Li_0002.jpg": (0, 1, 0, 0),
    "Robert_Evans_0001.jpg": (0, 0, 0, 1),
    "Robert_Evans_0002.jpg": (0, 0, 0, 1),
    "Robert_Evans_0003.jpg": (0, 0, 1, 0),
    "Erika_Reyes_0001.jpg": (0, 0, 0, 0),
    "Tara_Kirk_0001.jpg": (0, 0, 0, 0),
}
PAIRS = "2\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t3\nChen_Li\t2\tDee_Kay\t1\n"


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())


def make_lfw(root: Path, pairs: str = PAIRS) -> Path:
    rng = np.random.default_rng(0)
    for subject, n in SUBJECTS.items():
        folder = root / "images_deepfunneled" / subject
        folder.mkdir(parents=True)
        for i in range(1, n + 1):
            cv2.imwrite(str(folder / f"{subject}_{i:04d}.jpg"), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    (root / "pairs.txt").write_text(pairs)
    labels = root / "labels"
    labels.mkdir()
    _write_lines(labels / "male_names.txt", MALE)
    _write_lines(labels / "female_names.txt", FEMALE)
    (labels / "lfw_race_dict.json").write_text(json.dumps(RACE_JSON))
    header = "image,Asian,Black,Eyeglasses,Indian,White\n"
    rows = [f"{img},{a},{b},0,{i},{w}\n" for img, (w, b, a, i) in KUMAR.items()]
    (labels / "kumar_attributes_binary.csv").write_text(header + "".join(rows))
    return root


def subject_labels(ds, subject: str) -> dict[str, str]:
    rows = ds.images[ds.images["subject_id"] == subject]
    cols = ["gender", "gender_source", "race", "race_source"]
    assert len(rows.drop_duplicates(cols)) == 1, f"{subject} has image rows with different labels"
    return rows.iloc[0][cols].to_dict()


def test_images_come_from_the_folder(tmp_path):
    ds = load_lfw(make_lfw(tmp_path))
    assert len(ds.images) == sum(SUBJECTS.values())
    row = ds.images.set_index("image_id").loc["Bob_Jones/Bob_Jones_0002.jpg"]
    assert row["subject_id"] == "Bob_Jones"
    assert Path(row["path"]).is_absolute()
    assert Path(row["path"]) == (tmp_path / "images_deepfunneled/Bob_Jones/Bob_Jones_0002.jpg").resolve()
    assert ds.name == "lfw" and ds.attributes == ["gender", "race"]
    assert len(ds.caveats) == 3 and set(ds.label_sources) == {"gender", "race"}


def test_gender_from_lists_with_identity_fixes(tmp_path):
    ds = load_lfw(make_lfw(tmp_path))
    expected = {
        "Ann_Smith": "female",
        "Bob_Jones": "male",
        "Robert_Evans": "male",  # in neither list, fixed by identity
        "Erika_Reyes": "female",  # in both lists, fixed by identity
        "Tara_Kirk": "female",  # in neither list, fixed by identity
    }
    for subject, gender in expected.items():
        assert subject_labels(ds, subject)["gender"] == gender, subject
    assert set(ds.images["gender_source"]) == {"human"}


def test_race_prefers_single_manual_label_then_classifier_majority(tmp_path):
    ds = load_lfw(make_lfw(tmp_path))
    labels = {s: subject_labels(ds, s) for s in SUBJECTS}
    # JSON single label beats the classifier (which says White for both images).
    assert (labels["Ann_Smith"]["race"], labels["Ann_Smith"]["race_source"]) == ("african", "human")
    # JSON multi-label -> classifier majority: 2 Indian vs 1 Asian.
    assert (labels["Robert_Evans"]["race"], labels["Robert_Evans"]["race_source"]) == ("asianindian", "classifier")
    # Images flagged White and Indian abstain, so the one Black-only image decides.
    assert (labels["Bob_Jones"]["race"], labels["Bob_Jones"]["race_source"]) == ("african", "classifier")
    # One Asian vote against one Black vote: a tie.
    assert (labels["Chen_Li"]["race"], labels["Chen_Li"]["race_source"]) == ("unknown", "unknown")
    # No Kumar row at all; no race flag at all.
    assert labels["Dee_Kay"]["race"] == "unknown"
    assert labels["Tara_Kirk"]["race"] == "unknown"


def test_pairs_folds_and_zero_padding(tmp_path):
    ds = load_lfw(make_lfw(tmp_path))
    got = [tuple(r) for r in ds.pairs[["image_a", "image_b", "mated", "fold"]].itertuples(index=False)]
    assert got == [
        ("Ann_Smith/Ann_Smith_0001.jpg", "Ann_Smith/Ann_Smith_0002.jpg", True, 1),
        ("Ann_Smith/Ann_Smith_0001.jpg", "Bob_Jones/Bob_Jones_0003.jpg", False, 1),
        ("Bob_Jones/Bob_Jones_0001.jpg", "Bob_Jones/Bob_Jones_0003.jpg", True, 2),
        ("Chen_Li/Chen_Li_0002.jpg", "Dee_Kay/Dee_Kay_0001.jpg", False, 2),
    ]
    only2 = load_lfw(tmp_path, folds=[2]).pairs
    assert list(only2["fold"]) == [2, 2] and list(only2["mated"]) == [True, False]
    assert len(load_lfw(tmp_path, folds=[2]).images) == len(ds.images)


@pytest.mark.parametrize("folds", [[3], [0], [], ["1"]])
def test_unknown_fold_is_refused(tmp_path, folds):
    with pytest.raises(DatasetError, match="folds must be integers between 1 and 2"):
        load_lfw(make_lfw(tmp_path), folds=folds)


@pytest.mark.parametrize(
    ("pairs", "line", "words"),
    [
        ("2\t1\nAnn_Smith\t1\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t3\nChen_Li\t2\tDee_Kay\t1\n", 2, "mated pair"),
        ("2\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\t2\nBob_Jones\t1\t3\nChen_Li\t2\tDee_Kay\t1\n", 3, "non-mated pair"),
        ("2\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t9\nChen_Li\t2\tDee_Kay\t1\n", 4,
         "Bob_Jones/Bob_Jones_0009.jpg"),
        ("2\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\tx\nChen_Li\t2\tDee_Kay\t1\n", 4, "'x'"),
        ("2\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t3\nChen_Li\t2\tChen_Li\t1\n", 5,
         "names one person"),
        ("2\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t3\n", 4, "4 pair lines, the file has 3"),
        ("two\t1\nAnn_Smith\t1\t2\n", 1, "header"),
        ("2\t1\nAnn_Smith\t1\t01\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t3\nChen_Li\t2\tDee_Kay\t1\n", 2,
         "Ann_Smith/Ann_Smith_0001.jpg with itself"),
    ],
)
def test_malformed_pairs_name_file_and_line(tmp_path, pairs, line, words):
    make_lfw(tmp_path, pairs=pairs)
    with pytest.raises(DatasetError) as err:
        load_lfw(tmp_path)
    assert f"pairs.txt:{line}:" in str(err.value)
    assert words in str(err.value)


def test_subject_majority_decides_gender(tmp_path):
    make_lfw(tmp_path)
    # Bob_Jones: two images male, one female -> male; Chen_Li: one each -> a tie -> unknown.
    moved = ["Bob_Jones_0003.jpg", "Chen_Li_0002.jpg"]
    _write_lines(tmp_path / "labels" / "male_names.txt", [m for m in MALE if m not in moved])
    _write_lines(tmp_path / "labels" / "female_names.txt", [*FEMALE, *moved])
    ds = load_lfw(tmp_path)
    assert subject_labels(ds, "Bob_Jones")["gender"] == "male"
    chen = subject_labels(ds, "Chen_Li")
    assert (chen["gender"], chen["gender_source"]) == ("unknown", "unknown")


def test_label_entries_for_images_not_on_disk_are_counted_and_reported(tmp_path):
    # What a copy of part of LFW looks like: the label files still describe everyone.
    make_lfw(tmp_path)
    labels = tmp_path / "labels"
    _write_lines(labels / "female_names.txt", [*FEMALE, "Zed_Zulu_0001.jpg", "Zed_Zulu_0002.jpg"])
    (labels / "lfw_race_dict.json").write_text(json.dumps({**RACE_JSON, "Zed_Zulu": "eastasian"}))
    with open(labels / "kumar_attributes_binary.csv", "a") as kumar:
        kumar.write("Zed_Zulu_0001.jpg,1,0,0,0,0\n")
    full = load_lfw(make_lfw(tmp_path / "full"))
    ds = load_lfw(tmp_path)
    assert ds.labels_not_on_disk == {"female_names.txt": 2, "lfw_race_dict.json": 1, "kumar_attributes_binary.csv": 1}
    caveat = ds.caveats[-1]
    assert "2 in female_names.txt" in caveat and "1 in lfw_race_dict.json" in caveat and "ignored" in caveat
    # the images on disk keep exactly the labels they have without the extra entries
    assert ds.images.equals(full.images.assign(path=ds.images["path"]))
    assert full.labels_not_on_disk == {} and len(full.caveats) == len(ds.caveats) - 1


def test_a_label_for_a_present_subject_that_does_not_parse_is_still_an_error(tmp_path):
    make_lfw(tmp_path)
    (tmp_path / "labels" / "lfw_race_dict.json").write_text(json.dumps({**RACE_JSON, "Chen_Li": "martian"}))
    with pytest.raises(DatasetError, match=r"lfw_race_dict\.json: key 'Chen_Li' has label\(s\) \['martian'\]"):
        load_lfw(tmp_path)


def test_kumar_value_other_than_0_or_1_names_line(tmp_path):
    make_lfw(tmp_path)
    path = tmp_path / "labels" / "kumar_attributes_binary.csv"
    lines = path.read_text().splitlines()
    assert lines[3].startswith("Bob_Jones_0001.jpg,")
    lines[3] = "Bob_Jones_0001.jpg,0,yes,0,0,0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"kumar_attributes_binary\.csv:4: race columns"):
        load_lfw(tmp_path)


@pytest.mark.parametrize("missing", ["pairs.txt", "labels/male_names.txt", "labels/lfw_race_dict.json",
                                     "labels/kumar_attributes_binary.csv"])
def test_missing_file_is_named(tmp_path, missing):
    make_lfw(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(DatasetError, match=f"{Path(missing).name}: file not found"):
        load_lfw(tmp_path)


@pytest.mark.lfw
def test_real_lfw(lfw):
    ds = load_lfw(lfw)
    images, pairs = ds.images, ds.pairs
    assert len(images) == 13_233
    assert images["subject_id"].nunique() == 5_749
    assert len(pairs) == 6_000 and pairs["mated"].sum() == 3_000
    assert pairs.groupby("fold").size().to_dict() == {f: 600 for f in range(1, 11)}
    assert (pairs.groupby("fold")["mated"].sum() == 300).all()
    assert not (images["gender"] == "unknown").any()

    # Every image in exactly one of the AFIF4 lists carries that list's gender.
    by_file = images.assign(file=images["image_id"].str.split("/").str[1]).set_index("file")
    male = {line.strip() for line in (lfw / "labels/male_names.txt").read_text().splitlines() if line.strip()}
    female = {line.strip() for line in (lfw / "labels/female_names.txt").read_text().splitlines() if line.strip()}
    assert (by_file.loc[sorted(male - female), "gender"] == "male").all()
    assert (by_file.loc[sorted(female - male), "gender"] == "female").all()

    # Every identity with a single label in the race JSON carries it, marked human.
    race_json = json.loads((lfw / "labels/lfw_race_dict.json").read_text())
    single = {name: label for name, label in race_json.items() if "," not in label}
    subjects = images.drop_duplicates("subject_id").set_index("subject_id")
    assert (subjects.loc[list(single), "race"] == list(single.values())).all()
    assert (subjects.loc[list(single), "race_source"] == "human").all()

    # Read off the label files: Serena_Williams is 'african' in the JSON; the others are absent from
    # it and their Kumar single-race images vote Asian 15-0 (Hu_Jintao), Black 30-0 (Kofi_Annan),
    # Indian 6-1 (Atal_Bihari_Vajpayee), White 444-1 (George_W_Bush), 3-0 (Robert_Evans) and 2-0
    # (Yasser_Arafat). Tara_Kirk is in neither gender list and has no Kumar row.
    expected = {
        "Serena_Williams": ("female", "african", "human"),
        "Hu_Jintao": ("male", "eastasian", "classifier"),
        "Kofi_Annan": ("male", "african", "classifier"),
        "Atal_Bihari_Vajpayee": ("male", "asianindian", "classifier"),
        "George_W_Bush": ("male", "caucasian", "classifier"),
        "Robert_Evans": ("male", "caucasian", "classifier"),
        "Yasser_Arafat": ("male", "caucasian", "classifier"),
        "Tara_Kirk": ("female", "unknown", "unknown"),
    }
    for name, (gender, race, source) in expected.items():
        assert tuple(subjects.loc[name, ["gender", "race", "race_source"]]) == (gender, race, source), name


def test_pairs_of_folds_not_used_may_name_images_not_on_disk(tmp_path):
    # A copy of fold 1's people keeps LFW's own pairs.txt: fold 2 names Dee_Kay, who was not copied.
    import shutil

    make_lfw(tmp_path)
    shutil.rmtree(tmp_path / "images_deepfunneled" / "Dee_Kay")
    ds = load_lfw(tmp_path, folds=[1])
    assert ds.pairs.values.tolist() == [
        ["Ann_Smith/Ann_Smith_0001.jpg", "Ann_Smith/Ann_Smith_0002.jpg", True, 1],
        ["Ann_Smith/Ann_Smith_0001.jpg", "Bob_Jones/Bob_Jones_0003.jpg", False, 1],
    ]
    assert ds.labels_not_on_disk == {"male_names.txt": 1}
    for folds in ([2], None):
        with pytest.raises(DatasetError, match=r"pairs\.txt:5: image Dee_Kay/Dee_Kay_0001\.jpg is not in"):
            load_lfw(tmp_path, folds=folds)


def test_a_copy_of_one_fold_keeps_the_labels_of_the_full_lfw(lfw, tmp_path):
    import os
    import shutil

    lines = (lfw / "pairs.txt").read_text().splitlines()[1:601]  # fold 1
    people = {f[0] for f in map(str.split, lines)} | {f[2] for f in map(str.split, lines) if len(f) == 4}
    copy = tmp_path / "lfw"
    (copy / "images_deepfunneled").mkdir(parents=True)
    for name in people:
        os.symlink(lfw / "images_deepfunneled" / name, copy / "images_deepfunneled" / name)
    shutil.copy(lfw / "pairs.txt", copy)
    shutil.copytree(lfw / "labels", copy / "labels")
    part, full = load_lfw(copy, folds=[1]), load_lfw(lfw, folds=[1])
    assert part.pairs.equals(full.pairs)
    cols = ["image_id", "subject_id", "gender", "gender_source", "race", "race_source"]
    assert part.images[cols].equals(full.images[full.images["subject_id"].isin(people)][cols].reset_index(drop=True))
    # every label entry of the four files is either used or counted
    assert set(part.labels_not_on_disk) == {"male_names.txt", "female_names.txt", "lfw_race_dict.json",
                                             "kumar_attributes_binary.csv"}
    on_disk = {f.name for d in (copy / "images_deepfunneled").iterdir() for f in d.iterdir()}
    for name in ("male_names.txt", "female_names.txt"):
        listed = [n.strip() for n in (lfw / "labels" / name).read_text().splitlines() if n.strip()]
        assert part.labels_not_on_disk[name] == sum(n not in on_disk for n in listed) > 0
    race = json.loads((lfw / "labels" / "lfw_race_dict.json").read_text())
    assert part.labels_not_on_disk["lfw_race_dict.json"] == sum(n not in people for n in race)
    assert "were ignored" in part.caveats[-1]
