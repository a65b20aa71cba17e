"""The identification split: identity-disjoint, seeded, order-independent; given lists read strictly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from frbench.errors import DatasetError
from frbench.search.protocol import split_from_files, split_identification


def images(n_subjects=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        for j in range(int(rng.integers(1, 7))):
            rows.append({"image_id": f"S{s:02d}/S{s:02d}_{j:04d}.jpg", "subject_id": f"S{s:02d}"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("k", [1, 2])
def test_split_is_identity_disjoint_and_complete(k):
    imgs = images()
    sp = split_identification(imgs, gallery_images_per_subject=k, enrolled_fraction=0.4, seed=3)
    g, p = sp.gallery, sp.probes
    sizes = imgs.groupby("subject_id").size()
    enrolled = set(g.loc[g["role"] == "enrolled", "subject_id"])
    distractors = set(g.loc[g["role"] == "distractor", "subject_id"])
    # every enrolled subject has k gallery images, and its other images are its mated probes
    assert (g[g["role"] == "enrolled"].groupby("subject_id").size() == k).all()
    for s in enrolled:
        assert len(p[p["subject_id"] == s]) == sizes[s] - k
        assert p.loc[p["subject_id"] == s, "mated"].all()
    # non-mated probes are people with no gallery image; distractors are never searched
    nonmated = set(p.loc[~p["mated"], "subject_id"])
    assert not nonmated & set(g["subject_id"])
    assert not distractors & set(p["subject_id"])
    assert distractors == set(sizes.index[sizes <= k])
    assert set(p["image_id"]).isdisjoint(g["image_id"])
    # every image is used exactly once
    assert sorted([*g["image_id"], *p["image_id"]]) == sorted(imgs["image_id"])
    searchable = sizes.index[sizes > k]
    assert len(enrolled) == round(0.4 * len(searchable))
    assert sp.record["n_enrolled_subjects"] == len(enrolled)
    assert sp.record["n_mated_probes"] == int(p["mated"].sum())
    json.dumps(sp.record)


def test_split_is_seeded_and_independent_of_row_order():
    imgs = images()
    a = split_identification(imgs, seed=1)
    b = split_identification(imgs.sample(frac=1.0, random_state=9), seed=1)
    c = split_identification(imgs, seed=2)
    pd.testing.assert_frame_equal(a.gallery, b.gallery)
    pd.testing.assert_frame_equal(a.probes, b.probes)
    assert a.record == b.record
    assert a.record["gallery_sha256"] != c.record["gallery_sha256"]


def test_few_image_subjects_and_probe_cap():
    imgs = images()
    one = set(imgs.groupby("subject_id").size().pipe(lambda s: s.index[s == 1]))
    nonm = split_identification(imgs, few_image_subjects="nonmated")
    assert one <= set(nonm.probes.loc[~nonm.probes["mated"], "subject_id"])
    unused = split_identification(imgs, few_image_subjects="unused")
    assert one.isdisjoint(set(unused.gallery["subject_id"]) | set(unused.probes["subject_id"]))
    assert unused.record["n_unused_images"] == len(one)
    capped = split_identification(imgs, max_probes_per_subject=2)
    assert capped.probes.groupby("subject_id").size().max() == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gallery_images_per_subject": 0}, "gallery_images_per_subject"),
        ({"enrolled_fraction": 1.0}, "enrolled_fraction"),
        ({"few_image_subjects": "drop"}, "few_image_subjects"),
        ({"max_probes_per_subject": 0}, "max_probes_per_subject"),
    ],
)
def test_split_parameters_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_identification(images(), **kwargs)


def test_lists_from_files_reproduce_a_split(tmp_path):
    imgs = images()
    sp = split_identification(imgs, seed=5)
    sp.gallery[["image_id"]].to_csv(tmp_path / "gallery.csv", index=False)
    sp.probes[["image_id"]].to_csv(tmp_path / "probes.csv", index=False)
    again = split_from_files(imgs, tmp_path / "gallery.csv", tmp_path / "probes.csv")
    pd.testing.assert_frame_equal(again.probes, sp.probes)
    pd.testing.assert_frame_equal(again.gallery, sp.gallery)
    assert again.record["gallery_sha256"] == sp.record["gallery_sha256"]
    assert again.record["source"] == "files"


@pytest.mark.parametrize(
    "gallery, probes, message",
    [
        ("image_id\nS00/S00_0000.jpg\nS99/x.jpg\n", "image_id\nS01/S01_0000.jpg\n", r"gallery.csv:3: image_id 'S99/x.jpg' is not in the dataset"),
        ("image_id\nS00/S00_0000.jpg\nS00/S00_0000.jpg\n", "image_id\nS01/S01_0000.jpg\n", r"gallery.csv:3: .* already on line 2"),
        ("image_id\nS00/S00_0000.jpg\n", "image_id\nS01/S01_0000.jpg\nS00\\S00_0000.jpg\n", r"probes.csv:3: probe 'S00/S00_0000.jpg' is also in the gallery"),
        ("id\nS00/S00_0000.jpg\n", "image_id\nS01/S01_0000.jpg\n", r"gallery.csv:1: no column 'image_id'"),
        ("image_id\nS00/S00_0000.jpg\n", "", r"probes.csv:1: the file is empty"),
    ],
)
def test_list_files_are_read_strictly(tmp_path, gallery, probes, message):
    (tmp_path / "gallery.csv").write_text(gallery)
    (tmp_path / "probes.csv").write_text(probes)
    with pytest.raises(DatasetError, match=message):
        split_from_files(images(), tmp_path / "gallery.csv", tmp_path / "probes.csv")


def test_missing_list_file_names_it(tmp_path):
    (tmp_path / "probes.csv").write_text("image_id\nS01/S01_0000.jpg\n")
    with pytest.raises(DatasetError, match="gallery.csv: file not found"):
        split_from_files(images(), tmp_path / "gallery.csv", tmp_path / "probes.csv")
