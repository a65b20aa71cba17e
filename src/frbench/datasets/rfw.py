"""Racial Faces in the Wild (RFW), test set: four race subsets, each with its own LFW-style pairs.

Layout of the authors' ``test.tar.gz`` (data/README.md)::

    test/data/<Race>/<identity>/<identity>_NNNN.jpg
    test/txts/<Race>/<Race>_pairs.txt

with races African, Asian, Caucasian and Indian. A pairs file has no header: 10 folds, each a run
of mated lines ``identity n1 n2`` followed by a run of non-mated lines ``id1 n1 id2 n2``
(tab separated), the image number n naming ``<identity>_<n:04d>.jpg`` of that race's folder.

References
----------
M. Wang, W. Deng, J. Hu, X. Tao, Y. Huang. "Racial Faces in-the-Wild: Reducing Racial Bias by
Information Maximization Adaptation Network". ICCV 2019. http://whdeng.cn/RFW/testing.html
bob.bio.face, ``RFWDatabase`` (the same reading of the pairs files; it also notes identities listed
under two races).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from frbench.datasets import Dataset

# The pairs-file helpers are LFW's: RFW copies LFW's pair-line format.
from frbench.datasets.lfw import check_folds, image_number, is_number, read_lines
from frbench.errors import DatasetError
from frbench.tables import validate_image_table, validate_pair_table

RACES = ("African", "Asian", "Caucasian", "Indian")

CAVEATS = [
    "RFW race labels are the subset (African, Asian, Caucasian, Indian) the dataset's authors "
    "placed each identity in (Wang et al., ICCV 2019); they are not self-identified.",
    "Every RFW pair lies within one race subset: there are no cross-race non-mated pairs, so "
    "false matches between races are not measured.",
    "RFW has no gender or skin-tone labels; any such group in this report comes from a labels "
    "table or from pixels, as its label source says.",
    "RFW's images come from MS-Celeb-1M, which Microsoft withdrew in 2019; RFW is released for "
    "non-commercial research only.",
]


def load_rfw(root: Path, folds: Sequence[int] | None = None) -> Dataset:
    """Load the RFW test set: images of all four races and their pair lists.

    Parameters
    ----------
    root : Path
        Folder holding ``test/`` as extracted from RFW's ``test.tar.gz``, or that ``test/``
        folder itself (holding ``data/`` and ``txts/``).
    folds : sequence of int, optional
        Folds (1-based, numbered in file order within each race) whose pairs to keep; all when
        None. Images are never filtered.

    Returns
    -------
    Dataset
        ``images``: ``image_id`` ``<Race>/<identity>/<file>``, ``subject_id`` the identity,
        ``race`` (``african``, ``asian``, ``caucasian``, ``indian``) with ``race_source``
        ``dataset``. ``pairs``: ``image_a, image_b, mated, fold``.

    Raises
    ------
    DatasetError
        A race folder or pairs file is missing, or a pairs line is malformed or names an image that
        is not on disk; the message names the file and line.
    """
    root = Path(root).resolve()
    test = root / "test" if (root / "test").is_dir() else root
    images = pd.concat([_scan_race(test / "data" / race, race) for race in RACES], ignore_index=True)
    on_disk = set(images["image_id"])
    per_race = [_read_pairs(test / "txts" / race / f"{race}_pairs.txt", race, on_disk) for race in RACES]
    pairs = pd.concat(per_race, ignore_index=True)
    selected = check_folds(folds, int(pairs["fold"].max()), test / "txts")
    pairs = pairs[pairs["fold"].isin(selected)].reset_index(drop=True)

    images["race"] = images["race_folder"].str.lower()
    images["race_source"] = "dataset"
    images = validate_image_table(images.drop(columns="race_folder"), ["race"])
    caveats = list(CAVEATS)
    races_of = images.groupby("subject_id")["race"].nunique()
    twice = sorted(races_of.index[races_of > 1])
    if twice:
        caveats.append(
            f"{len(twice)} identities have images under more than one race folder (first: {twice[0]}); "
            "their images carry the race of the folder they are in."
        )
    return Dataset(
        name="rfw",
        root=root,
        images=images,
        pairs=validate_pair_table(pairs, images["image_id"]),
        attributes=["race"],
        caveats=caveats,
        label_sources={"race": "the race folder of test/data/ holding the image (RFW's subsets)"},
    )


def _scan_race(folder: Path, race: str) -> pd.DataFrame:
    """One row per ``<identity>/*.jpg`` in a race folder, sorted."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: RFW race folder not found (see data/README.md, format 'rfw')")
    found = []
    with os.scandir(folder) as identities:
        for identity in identities:
            if identity.is_dir():
                with os.scandir(identity.path) as files:
                    found.extend((identity.name, f.name) for f in files if f.name.endswith(".jpg"))
    if not found:
        raise DatasetError(f"{folder}: no <identity>/<image>.jpg files found")
    found.sort()
    prefix = f"{folder}{os.sep}"
    return pd.DataFrame(
        {
            "image_id": [f"{race}/{s}/{f}" for s, f in found],
            "path": [f"{prefix}{s}{os.sep}{f}" for s, f in found],
            "subject_id": [s for s, _ in found],
            "race_folder": race,
        }
    )


def _read_pairs(path: Path, race: str, on_disk: set[str]) -> pd.DataFrame:
    """Parse one race's pairs file into ``image_a, image_b, mated, fold``.

    A fold starts at the first line and at every mated line that follows a non-mated one. An
    LFW-style header ``<folds> <pairs per fold>``, if present, is checked against that structure.
    """

    def image_id(identity: str, number: str, lineno: int) -> str:
        image = f"{race}/{identity}/{identity}_{image_number(number, path, lineno):04d}.jpg"
        if image not in on_disk:
            raise DatasetError(f"{path}:{lineno}: image {image} is not in test/data/")
        return image

    rows = []
    header = None
    fold, previous = 0, None
    for lineno, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if lineno == 1 and len(fields) == 2 and all(is_number(f) for f in fields):
            header = (int(fields[0]), int(fields[1]))
            continue
        kind = {3: "mated", 4: "nonmated"}.get(len(fields))
        if kind is None:
            raise DatasetError(
                f"{path}:{lineno}: expected 'identity n1 n2' (mated) or 'id1 n1 id2 n2' (non-mated), got {line!r}"
            )
        if previous is None or (kind == "mated" and previous == "nonmated"):
            fold += 1
        previous = kind
        if kind == "mated":
            identity, n1, n2 = fields
            a, b = image_id(identity, n1, lineno), image_id(identity, n2, lineno)
            if a == b:
                raise DatasetError(f"{path}:{lineno}: mated pair of image {a} with itself")
            rows.append((a, b, True, fold))
        else:
            id1, n1, id2, n2 = fields
            if id1 == id2:
                raise DatasetError(f"{path}:{lineno}: non-mated pair names one identity, {id1}")
            rows.append((image_id(id1, n1, lineno), image_id(id2, n2, lineno), False, fold))
    if not rows:
        raise DatasetError(f"{path}: no pairs")
    pairs = pd.DataFrame(rows, columns=["image_a", "image_b", "mated", "fold"])
    if header is not None:
        n_folds, per_fold = header
        counts = pairs.groupby(["fold", "mated"]).size()
        if fold != n_folds or not (counts == per_fold).all() or len(counts) != 2 * n_folds:
            raise DatasetError(
                f"{path}:1: header promises {n_folds} folds of {per_fold} mated + {per_fold} non-mated "
                f"pairs; the file has {fold} fold(s) of {sorted(set(counts.tolist()))} pairs per kind"
            )
    return pairs
