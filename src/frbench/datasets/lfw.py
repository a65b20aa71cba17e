"""LFW, deep-funneled: images, the View 2 pairs, and per-subject gender and race labels.

References
----------
G. B. Huang, M. Ramesh, T. Berg, E. Learned-Miller. "Labeled Faces in the Wild: A Database for
Studying Face Recognition in Unconstrained Environments". UMass Amherst TR 07-49, 2007
(pairs.txt format: LFW-README.txt, section 3c).
M. Afifi, A. Abdelhamed. "AFIF4: Deep gender classification based on AdaBoost-based fusion of
isolated facial features and foggy faces". J. Vis. Commun. Image R., 2019 (gender lists).
N. Kumar, A. C. Berg, P. N. Belhumeur, S. K. Nayar. "Attribute and Simile Classifiers for Face
Verification". ICCV 2009 (classifier attributes White/Black/Asian/Indian).
usc-sail/mica-race-from-face, lfw_race_dict.json (manual perceived race per identity).
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.datasets import Dataset
from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows
from frbench.tables import UNKNOWN, validate_image_table, validate_pair_table

IMAGES_DIR = "images_deepfunneled"
PAIRS_FILE = "pairs.txt"
MALE_FILE = "labels/male_names.txt"
FEMALE_FILE = "labels/female_names.txt"
RACE_JSON = "labels/lfw_race_dict.json"
KUMAR_CSV = "labels/kumar_attributes_binary.csv"

# Kumar race attribute -> the vocabulary of lfw_race_dict.json.
KUMAR_RACE = {"White": "caucasian", "Black": "african", "Asian": "eastasian", "Indian": "asianindian"}
RACE_VOCABULARY = frozenset(
    {"caucasian", "african", "eastasian", "asianindian", "latino", "nativeamerican", "other",
     "pacificislander"}
)

# Identity-level corrections to the AFIF4 lists, which win over the per-image votes.
# Robert_Evans (images 1-2), Yasser_Arafat (5) and Tara_Kirk (1, her only image) are in neither
# list; the other five have an image in both lists. Tara_Kirk, an American Olympic swimmer, is not
# named in the shared dataset README: the lists cover 13,229 images, not 13,230.
GENDER_BY_IDENTITY = {
    "Robert_Evans": "male",
    "Yasser_Arafat": "male",
    "Tara_Kirk": "female",
    "Erika_Reyes": "female",
    "Tatiana_Shchegoleva": "female",
    "Claudia_Coslovich": "female",
    "Allison_Searing": "female",
    "Elizabeth_Hill": "female",
}

CAVEATS = [
    "Race labels are perceived race: a manual label (usc-sail/mica-race-from-face) where an identity "
    "has a single one, otherwise the per-identity majority of the Kumar et al. (2009) race attribute "
    "classifiers, which are classifier outputs, not human labels, and contain clear errors.",
    "LFW has no skin-tone labels (Fitzpatrick or Monk): any skin-tone group in this report is "
    "estimated from image pixels (e.g. the Individual Typology Angle), not annotated.",
    "The LFW authors state that LFW under-represents women, children, the elderly and many "
    "ethnicities, that several subgroups are too small for strong statistical conclusions, and that "
    "LFW must not be used to conclude that an algorithm is fit for any commercial purpose.",
]

LABEL_SOURCES = {
    "gender": "per-identity majority of the manually verified per-image lists labels/male_names.txt "
    "and labels/female_names.txt (Afifi & Abdelhamed 2019), with identity-level fixes for images in "
    "neither or both lists",
    "race": "labels/lfw_race_dict.json (manual, usc-sail/mica-race-from-face) where it gives one "
    "label; otherwise the per-identity majority of the Kumar et al. (2009) classifier attributes "
    "White/Black/Asian/Indian in labels/kumar_attributes_binary.csv (an image flagged with several "
    "races does not vote); unknown when there is no vote or a tie",
}


def load_lfw(root: Path, folds: Sequence[int] | None = None) -> Dataset:
    """Load deep-funneled LFW with its View 2 pairs and per-subject gender and race.

    Parameters
    ----------
    root : Path
        LFW folder holding ``images_deepfunneled/``, ``pairs.txt`` and ``labels/`` (layout in
        data/README.md).
    folds : sequence of int, optional
        View 2 folds (1-based) whose pairs to keep; all folds when None. Images are never filtered.

    Returns
    -------
    Dataset
        ``images`` has one row per file (image_id ``NAME/NAME_NNNN.jpg``, subject_id ``NAME``) with
        ``gender``/``gender_source`` and ``race``/``race_source`` (subject-level labels repeated on
        each image); ``pairs`` has ``image_a, image_b, mated, fold``.

    Raises
    ------
    DatasetError
        A file is missing, or a line of it is malformed or names an image that is not on disk; the
        message names the file and line.
    """
    root = Path(root).resolve()
    images = _scan_images(root / IMAGES_DIR)
    subject_of_file = pd.Series(images["subject_id"].to_numpy(), index=images["file"].to_numpy())

    pairs = _read_pairs(root / PAIRS_FILE, set(images["image_id"].tolist()), folds)

    # label entries naming an image or subject that is not on disk (a copy of part of LFW), per file
    absent: dict[str, int] = {}
    gender = _subject_gender(root / MALE_FILE, root / FEMALE_FILE, images, subject_of_file, absent)
    images["gender"] = images["subject_id"].map(gender).fillna(UNKNOWN)
    images["gender_source"] = np.where(images["gender"] == UNKNOWN, UNKNOWN, "human")

    manual = _manual_race(root / RACE_JSON, set(images["subject_id"].tolist()), absent)
    classified = _classifier_race(root / KUMAR_CSV, subject_of_file, absent)
    subject = images["subject_id"]
    race = subject.map(manual)
    race_source = pd.Series(np.where(race.notna(), "human", None), index=images.index)
    from_classifier = race.isna() & subject.isin(classified.index)
    race[from_classifier] = subject[from_classifier].map(classified)
    race_source[from_classifier] = "classifier"
    images["race"] = race.fillna(UNKNOWN)
    images["race_source"] = race_source.fillna(UNKNOWN)

    attributes = ["gender", "race"]
    images = validate_image_table(images.drop(columns="file"), attributes)
    absent = {name: n for name, n in absent.items() if n}
    return Dataset(
        name="lfw",
        root=root,
        images=images,
        pairs=validate_pair_table(pairs, images["image_id"]),
        attributes=attributes,
        caveats=list(CAVEATS) + ([absent_labels_caveat(absent, len(images))] if absent else []),
        label_sources=dict(LABEL_SOURCES),
        labels_not_on_disk=absent,
    )


def absent_labels_caveat(absent: dict[str, int], n_images: int) -> str:
    """The report's sentence on label entries that name images or subjects not on disk."""
    counts = ", ".join(f"{n:,} in {name}" for name, n in absent.items())
    return (
        f"This copy of LFW holds {n_images:,} images; label entries for images or people not in it were "
        f"ignored ({counts}). Labels of the images present are unaffected."
    )


def _scan_images(images_dir: Path) -> pd.DataFrame:
    """One row per ``NAME/*.jpg`` under ``images_dir``, sorted by image_id, with a ``file`` column."""
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir}: LFW image folder not found (see data/README.md)")
    found = []
    # os.scandir rather than glob: this runs on every benchmark, over 5,749 folders.
    with os.scandir(images_dir) as subjects:
        for subject in subjects:
            if not subject.is_dir():
                continue
            with os.scandir(subject.path) as files:
                found.extend((subject.name, f.name) for f in files if f.name.endswith(".jpg"))
    if not found:
        raise DatasetError(f"{images_dir}: no NAME/NAME_NNNN.jpg images found")
    found.sort()
    prefix = f"{images_dir}{os.sep}"
    return pd.DataFrame(
        {
            "image_id": [f"{s}/{f}" for s, f in found],
            "path": [f"{prefix}{s}{os.sep}{f}" for s, f in found],
            "subject_id": [s for s, _ in found],
            "file": [f for _, f in found],
        }
    )


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (see data/README.md)")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc


def is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit also accepts characters int() refuses, such as '²'."""
    return text.isascii() and text.isdigit()


def image_number(text: str, path: Path, lineno: int) -> int:
    if not is_number(text) or int(text) < 1:
        raise DatasetError(f"{path}:{lineno}: image number {text!r} is not a positive integer")
    return int(text)


def _read_pairs(path: Path, on_disk: set[str], folds: Sequence[int] | None) -> pd.DataFrame:
    """Parse an LFW pairs file: header ``<folds> <n>``, then per fold n mated and n non-mated lines.

    Mated lines are ``name n1 n2``, non-mated lines ``name1 n1 name2 n2`` (LFW-README.txt, 3c).
    """
    lines = read_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()
    header = lines[0].split() if lines else []
    if len(header) != 2 or not all(is_number(h) and int(h) > 0 for h in header):
        raise DatasetError(f"{path}:1: expected the header '<number of folds> <pairs per fold>'")
    n_folds, per_fold = int(header[0]), int(header[1])
    if len(lines) - 1 != 2 * n_folds * per_fold:
        raise DatasetError(
            f"{path}:{len(lines)}: header promises {n_folds} folds x {per_fold} mated + {per_fold} "
            f"non-mated = {2 * n_folds * per_fold} pair lines, the file has {len(lines) - 1}"
        )
    selected = check_folds(folds, n_folds, path)
    wanted = set(selected)

    def image_id(name: str, number: str, lineno: int, fold: int) -> str:
        image = f"{name}/{name}_{image_number(number, path, lineno):04d}.jpg"
        # Only the folds used must be on disk: a copy of one fold's people keeps LFW's own pairs.txt.
        if fold in wanted and image not in on_disk:
            raise DatasetError(f"{path}:{lineno}: image {image} is not in {IMAGES_DIR}/")
        return image

    rows = []
    for offset, line in enumerate(lines[1:]):
        lineno = offset + 2
        fold, position = divmod(offset, 2 * per_fold)
        fields = line.split()
        if position < per_fold:
            if len(fields) != 3:
                raise DatasetError(f"{path}:{lineno}: expected a mated pair 'name n1 n2', got {line!r}")
            name, n1, n2 = fields
            a, b = image_id(name, n1, lineno, fold + 1), image_id(name, n2, lineno, fold + 1)
            if a == b:
                raise DatasetError(f"{path}:{lineno}: mated pair of image {a} with itself")
            rows.append((a, b, True, fold + 1))
        else:
            if len(fields) != 4:
                raise DatasetError(
                    f"{path}:{lineno}: expected a non-mated pair 'name1 n1 name2 n2', got {line!r}"
                )
            name1, n1, name2, n2 = fields
            if name1 == name2:
                raise DatasetError(f"{path}:{lineno}: non-mated pair names one person, {name1}")
            rows.append((image_id(name1, n1, lineno, fold + 1), image_id(name2, n2, lineno, fold + 1), False, fold + 1))
    pairs = pd.DataFrame(rows, columns=["image_a", "image_b", "mated", "fold"])
    return pairs[pairs["fold"].isin(selected)].reset_index(drop=True)


def check_folds(folds: Sequence[int] | None, n_folds: int, path: Path) -> list[int]:
    if folds is None:
        return list(range(1, n_folds + 1))
    problem = f"folds must be integers between 1 and {n_folds} ({path}), got {folds!r}"
    try:
        chosen = [operator.index(f) for f in folds]
    except TypeError as exc:
        raise DatasetError(problem) from exc
    if not chosen or any(not 1 <= f <= n_folds for f in chosen):
        raise DatasetError(problem)
    return chosen


def _read_file_list(path: Path, subject_of_file: pd.Series, absent: dict[str, int]) -> set[str]:
    """Image file names listed one per line that are images on disk; the others are counted in
    ``absent[path.name]``."""
    names = set()
    absent[path.name] = 0
    for line in read_lines(path):
        name = line.strip()
        if not name:
            continue
        if name not in subject_of_file.index:
            absent[path.name] += 1
            continue
        names.add(name)
    return names


def _subject_majority(subjects: pd.Series, votes: pd.Series) -> pd.Series:
    """Per subject, the label with strictly the most votes; subjects with no vote or a tie are absent.

    ``votes`` is aligned with ``subjects``; a missing value abstains.
    """
    cast = pd.DataFrame({"subject": subjects.to_numpy(), "vote": votes.to_numpy()}).dropna()
    if cast.empty:
        return pd.Series(dtype=object)
    counts = cast.groupby(["subject", "vote"]).size().unstack(fill_value=0)
    top = counts.max(axis=1)
    single_winner = counts.eq(top, axis=0).sum(axis=1) == 1
    return counts.idxmax(axis=1)[single_winner]


def _subject_gender(
    male_path: Path, female_path: Path, images: pd.DataFrame, subject_of_file: pd.Series, absent: dict[str, int]
) -> pd.Series:
    """Per-subject gender: identity-level fixes, else the majority of per-image list membership."""
    male = images["file"].isin(_read_file_list(male_path, subject_of_file, absent))
    female = images["file"].isin(_read_file_list(female_path, subject_of_file, absent))
    # An image in both lists or in neither carries no vote.
    votes = pd.Series(np.where(male & ~female, "male", np.where(female & ~male, "female", None)))
    gender = _subject_majority(images["subject_id"], votes)
    subjects = set(images["subject_id"].tolist())
    present = {s: g for s, g in GENDER_BY_IDENTITY.items() if s in subjects}
    return pd.concat([gender.drop(list(present), errors="ignore"), pd.Series(present, dtype=object)])


def _manual_race(path: Path, subjects: set[str], absent: dict[str, int]) -> pd.Series:
    """Subjects on disk to which lfw_race_dict.json gives exactly one race label.

    Every entry's labels must be of the vocabulary; entries for people not on disk are counted in
    ``absent[path.name]``.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (see data/README.md)")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(table, dict):
        raise DatasetError(f"{path}: expected a JSON object mapping names to race labels")
    single = {}
    absent[path.name] = 0
    for name, value in table.items():
        labels = {part.strip() for part in str(value).split(",") if part.strip()}
        unknown_labels = labels - RACE_VOCABULARY
        if unknown_labels or not labels:
            raise DatasetError(
                f"{path}: key {name!r} has label(s) {sorted(unknown_labels) or value!r}, "
                f"expected some of {sorted(RACE_VOCABULARY)}"
            )
        if name not in subjects:
            absent[path.name] += 1
            continue
        if len(labels) == 1:
            single[name] = labels.pop()
    return pd.Series(single, dtype=object)


def _classifier_race(path: Path, subject_of_file: pd.Series, absent: dict[str, int]) -> pd.Series:
    """Per-subject majority of the Kumar race attributes; an image with 0 or >1 races abstains.

    Rows for images not on disk are counted in ``absent[path.name]`` and do not vote.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (see data/README.md)")
    wanted = ["image", *KUMAR_RACE]
    # written by frbench's write_csv (frbench data fetch): read_csv_rows unescapes the cells
    table = read_csv_rows(path)
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}:1: missing column(s) {missing}")
    table = table[wanted]
    lineno = table.index.to_numpy()
    bad = ~table[list(KUMAR_RACE)].isin(["0", "1"]).all(axis=1).to_numpy()
    if bad.any():
        line = lineno[bad.argmax()]
        raise DatasetError(f"{path}:{line}: race columns {list(KUMAR_RACE)} must be 0 or 1")
    repeated = table["image"].duplicated().to_numpy()
    if repeated.any():
        first = repeated.argmax()
        raise DatasetError(f"{path}:{lineno[first]}: image {table['image'].iloc[first]!r} appears twice")
    on_disk = table["image"].isin(subject_of_file.index).to_numpy()
    absent[path.name] = int((~on_disk).sum())
    table = table[on_disk].reset_index(drop=True)
    flags = table[list(KUMAR_RACE)].to_numpy() == "1"
    labels = np.array(list(KUMAR_RACE.values()), dtype=object)
    votes = pd.Series(np.where(flags.sum(axis=1) == 1, labels[flags.argmax(axis=1)], None))
    return _subject_majority(table["image"].map(subject_of_file), votes)
