"""The identification protocol: who is enrolled in the gallery, and which images are searched.

Terms (ISO/IEC 19795-1; NIST FRTE 1:N): a **mated search** searches an image of an enrolled
person (their other images are in the gallery); a **non-mated search** searches an image of a
person who is not enrolled. A **distractor** is a person enrolled but never searched: it only
makes the gallery larger, as the many people in a mugshot database who are never looked for.

Seeded split (:func:`split_identification`), identity-disjoint:

1. Subjects are sorted by ``subject_id`` and their images by ``image_id``, so the split does not
   depend on the order of the image table.
2. Subjects with more than k images can be enrolled and still be searched. A seeded permutation
   (``numpy.random.default_rng(seed)``) enrols the first round(f x n) of them (f =
   ``enrolled_fraction``); the others are not enrolled.
3. Each enrolled subject gets k seeded gallery images ("the mugshot", k = 1 by default); its
   other images are mated probes. Every image of a subject not enrolled is a non-mated probe.
4. Subjects with k images or fewer are, by ``few_image_subjects``, enrolled as distractors
   (all their images in the gallery), non-mated probes, or unused.
5. ``max_probes_per_subject`` keeps a seeded sample of each subject's probes (LFW: George W Bush
   has 530 images, which would otherwise dominate every rate).

The split uses the dataset only, never the embedding results, so every model is measured on the
same searches; a gallery image that fails to enrol leaves its subject with fewer (possibly no)
usable templates, and a failed probe is a failed search, counted per group.

Given lists (:func:`split_from_files`): a gallery CSV and a probes CSV, each with an ``image_id``
column; a probe is mated when its subject has an image in the gallery, and gallery subjects
without probes are the distractors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows

FEW_IMAGE_CHOICES = ("distractors", "nonmated", "unused")
ENROLLED, DISTRACTOR = "enrolled", "distractor"
GALLERY_COLUMNS = ("image_id", "subject_id", "role")
PROBE_COLUMNS = ("image_id", "subject_id", "mated")


@dataclass(frozen=True)
class IdentificationSplit:
    """Gallery and probes of an identification protocol.

    Attributes
    ----------
    gallery : DataFrame
        ``image_id, subject_id, role`` (``enrolled``: the subject is searched too;
        ``distractor``: never searched), sorted by subject then image.
    probes : DataFrame
        ``image_id, subject_id, mated``, sorted by subject then image.
    record : dict
        JSON-ready account of the split for the run manifest: how it was made, its counts and the
        sha256 of its gallery and probe id lists.
    """

    gallery: pd.DataFrame
    probes: pd.DataFrame
    record: dict[str, Any] = field(default_factory=dict)


def _digest(ids: pd.Series) -> str:
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def _counts(gallery: pd.DataFrame, probes: pd.DataFrame) -> dict[str, Any]:
    mated = probes["mated"].to_numpy(dtype=bool)
    return {
        "n_gallery_images": len(gallery),
        "n_gallery_subjects": int(gallery["subject_id"].nunique()),
        "n_enrolled_subjects": int(gallery.loc[gallery["role"] == ENROLLED, "subject_id"].nunique()),
        "n_distractor_subjects": int(gallery.loc[gallery["role"] == DISTRACTOR, "subject_id"].nunique()),
        "n_mated_probes": int(mated.sum()),
        "n_nonmated_probes": int((~mated).sum()),
        "n_mated_probe_subjects": int(probes.loc[mated, "subject_id"].nunique()),
        "n_nonmated_probe_subjects": int(probes.loc[~mated, "subject_id"].nunique()),
        "gallery_sha256": _digest(gallery["image_id"]),
        "probes_sha256": _digest(probes["image_id"]),
    }


def _check_images(images: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("image_id", "subject_id") if c not in images.columns]
    if missing:
        raise ValueError(f"image table lacks column(s) {missing}")
    table = images[["image_id", "subject_id"]].astype(str)
    if table["image_id"].duplicated().any():
        raise ValueError(f"image table has duplicate image_id {table['image_id'][table['image_id'].duplicated()].iloc[0]!r}")
    return table.sort_values(["subject_id", "image_id"], kind="stable").reset_index(drop=True)


def split_identification(
    images: pd.DataFrame,
    gallery_images_per_subject: int = 1,
    enrolled_fraction: float = 0.5,
    few_image_subjects: Literal["distractors", "nonmated", "unused"] = "distractors",
    max_probes_per_subject: int | None = None,
    seed: int = 0,
) -> IdentificationSplit:
    """Seeded identity-disjoint split of an ImageTable into gallery and probes (module docstring).

    Parameters
    ----------
    images : ImageTable (``image_id``, ``subject_id``; other columns ignored).
    gallery_images_per_subject : k >= 1, gallery images of each enrolled subject.
    enrolled_fraction : share, in (0, 1), of the subjects with more than k images that are enrolled.
    few_image_subjects : what subjects with at most k images become.
    max_probes_per_subject : cap on probes per subject (seeded sample); None for no cap.
    seed : seed of every random choice.
    """
    k = gallery_images_per_subject
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"gallery_images_per_subject must be an integer >= 1, got {k!r}")
    if not 0.0 < enrolled_fraction < 1.0:
        raise ValueError(f"enrolled_fraction must be in (0, 1), got {enrolled_fraction}")
    if few_image_subjects not in FEW_IMAGE_CHOICES:
        raise ValueError(f"few_image_subjects must be one of {FEW_IMAGE_CHOICES}, got {few_image_subjects!r}")
    if max_probes_per_subject is not None and max_probes_per_subject < 1:
        raise ValueError(f"max_probes_per_subject must be >= 1 or None, got {max_probes_per_subject}")
    table = _check_images(images)
    by_subject = {s: part["image_id"].to_numpy() for s, part in table.groupby("subject_id", sort=True)}
    subjects = np.array(sorted(by_subject))
    sizes = np.array([by_subject[s].size for s in subjects])
    searchable = subjects[sizes > k]
    few = subjects[sizes <= k]
    rng = np.random.default_rng(seed)
    n_enrol = round(enrolled_fraction * searchable.size)
    enrolled = set(rng.permutation(searchable)[:n_enrol].tolist())

    gallery_rows: list[tuple[str, str, str]] = []
    probe_rows: list[tuple[str, str, bool]] = []

    def add_probes(subject: str, ids: np.ndarray, mated: bool) -> None:
        if max_probes_per_subject is not None and ids.size > max_probes_per_subject:
            ids = np.sort(rng.choice(ids, size=max_probes_per_subject, replace=False))
        probe_rows.extend((i, subject, mated) for i in ids)

    for subject in searchable:
        ids = by_subject[subject]
        if subject in enrolled:
            chosen = np.zeros(ids.size, dtype=bool)
            chosen[rng.choice(ids.size, size=k, replace=False)] = True
            gallery_rows.extend((i, subject, ENROLLED) for i in ids[chosen])
            add_probes(subject, ids[~chosen], True)
        else:
            add_probes(subject, ids, False)
    for subject in few:
        if few_image_subjects == "distractors":
            gallery_rows.extend((i, subject, DISTRACTOR) for i in by_subject[subject])
        elif few_image_subjects == "nonmated":
            add_probes(subject, by_subject[subject], False)

    gallery = pd.DataFrame(gallery_rows, columns=list(GALLERY_COLUMNS)).sort_values(["subject_id", "image_id"])
    probes = pd.DataFrame(probe_rows, columns=list(PROBE_COLUMNS)).sort_values(["subject_id", "image_id"])
    gallery, probes = gallery.reset_index(drop=True), probes.reset_index(drop=True)
    probes["mated"] = probes["mated"].astype(bool)
    if gallery.empty:
        raise DatasetError("the identification split has an empty gallery: no subject has more than "
                           f"{k} image(s) and few-image subjects are not distractors")
    record = {
        "protocol": "identification",
        "source": "split",
        "seed": seed,
        "gallery_images_per_subject": k,
        "enrolled_fraction": enrolled_fraction,
        "few_image_subjects": few_image_subjects,
        "max_probes_per_subject": max_probes_per_subject,
        "n_unused_images": int(len(table) - len(gallery) - len(probes)),
        **_counts(gallery, probes),
    }
    return IdentificationSplit(gallery=gallery, probes=probes, record=record)


def _read_id_list(path: Path, known: set[str]) -> pd.Series:
    """The ``image_id`` column of a list file, checked: known ids, each once; indexed by line."""
    table = read_csv_rows(Path(path))
    if "image_id" not in table.columns:
        raise DatasetError(f"{path}:1: no column 'image_id'")
    ids = table["image_id"].str.replace("\\", "/", regex=False)
    empty = ids == ""
    if empty.any():
        raise DatasetError(f"{path}:{empty.idxmax()}: empty image_id")
    unknown = ~ids.isin(known)
    if unknown.any():
        line = unknown.idxmax()
        raise DatasetError(f"{path}:{line}: image_id {ids[line]!r} is not in the dataset")
    repeated = ids.duplicated()
    if repeated.any():
        line = repeated.idxmax()
        first = ids.index[ids == ids[line]][0]
        raise DatasetError(f"{path}:{line}: image_id {ids[line]!r} already on line {first}")
    return ids


def split_from_files(images: pd.DataFrame, gallery_csv: Path, probes_csv: Path) -> IdentificationSplit:
    """Gallery and probes named by two CSV files (each with an ``image_id`` column).

    Raises
    ------
    DatasetError
        A file is missing or malformed, names an image the dataset lacks, names one twice, or a
        probe is also a gallery image. The message names the file and line.
    """
    table = _check_images(images)
    subject_of = dict(zip(table["image_id"], table["subject_id"]))
    known = set(subject_of)
    g_ids = _read_id_list(Path(gallery_csv), known)
    p_ids = _read_id_list(Path(probes_csv), known)
    in_gallery = p_ids.isin(set(g_ids))
    if in_gallery.any():
        line = in_gallery.idxmax()
        raise DatasetError(f"{probes_csv}:{line}: probe {p_ids[line]!r} is also in the gallery {gallery_csv}")
    if g_ids.empty:
        raise DatasetError(f"{gallery_csv}: the gallery is empty")
    gallery = pd.DataFrame({"image_id": g_ids.to_numpy(), "subject_id": g_ids.map(subject_of).to_numpy()})
    probes = pd.DataFrame({"image_id": p_ids.to_numpy(), "subject_id": p_ids.map(subject_of).to_numpy()})
    enrolled = set(gallery["subject_id"])
    searched = set(probes["subject_id"])
    probes["mated"] = probes["subject_id"].isin(enrolled)
    gallery["role"] = np.where(gallery["subject_id"].isin(searched), ENROLLED, DISTRACTOR)
    gallery = gallery.sort_values(["subject_id", "image_id"]).reset_index(drop=True)
    probes = probes.sort_values(["subject_id", "image_id"]).reset_index(drop=True)
    record = {
        "protocol": "identification",
        "source": "files",
        "gallery_file": str(gallery_csv),
        "probes_file": str(probes_csv),
        "gallery_file_sha256": hashlib.sha256(Path(gallery_csv).read_bytes()).hexdigest(),
        "probes_file_sha256": hashlib.sha256(Path(probes_csv).read_bytes()).hexdigest(),
        **_counts(gallery, probes),
    }
    return IdentificationSplit(gallery=gallery[list(GALLERY_COLUMNS)], probes=probes[list(PROBE_COLUMNS)], record=record)
