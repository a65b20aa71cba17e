"""Balanced Faces in the Wild (BFW): the published pair table and its face crops.

The table (``bfw-v0.1.5-datatable.csv``) has one row per pair: ``fold`` (1-5), ``p1``, ``p2``
(image paths ``<subgroup>/<subject>/<file>.jpg`` relative to the image folder), ``label``
(1 mated, 0 non-mated), ``id1``, ``id2`` (subject ids), ``g1``, ``g2`` (gender F/M), ``e1``, ``e2``
(ethnicity A/B/I/W), and optionally ``a1``, ``a2`` (subgroup = ethnicity + gender, e.g. ``AF``),
``att1``, ``att2`` (e.g. ``asian_females``) and model score columns, which are not used.

References
----------
J. P. Robinson, G. Livitz, Y. Henon, C. Qin, Y. Fu, S. Timoner. "Face Recognition: Too Bias, or Not
Too Bias?" CVPR Workshops 2020. https://github.com/visionjo/facerec-bias-bfw (data/README.md there
documents the table's columns).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.datasets import Dataset
from frbench.datasets.csv_manifest import FOLD_PATTERN
from frbench.datasets.lfw import check_folds
from frbench.datasets.paths import dataset_path
from frbench.datasets.score_cells import parse_scores
from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows
from frbench.tables import validate_image_table, validate_pair_table

TABLE = "bfw-v0.1.5-datatable.csv"
IMAGES_DIR = "bfw-cropped-aligned"
REQUIRED = ("fold", "p1", "p2", "label", "id1", "id2", "g1", "g2", "e1", "e2")
GENDER = {"F": "female", "M": "male"}
ETHNICITY = {"A": "asian", "B": "black", "I": "indian", "W": "white"}

CAVEATS = [
    "BFW gender and ethnicity are the subgroup the dataset's authors placed each identity in "
    "(Robinson et al., 2020): two genders and four ethnicities, not self-identified.",
    "BFW is balanced by design (equal numbers of subjects per subgroup), which is not the make-up "
    "of any deployment population; its images are crops from VGGFace2.",
    "BFW has no skin-tone labels; any skin-tone group in this report is estimated from pixels.",
]

LABEL_SOURCES = {
    "gender": "columns g1/g2 of the BFW pair table (F -> female, M -> male)",
    "race": "columns e1/e2 of the BFW pair table, which BFW calls ethnicity "
    "(A -> asian, B -> black, I -> indian, W -> white)",
}


def load_bfw(
    root: Path,
    table: str | None = None,
    images: str | None = None,
    folds: Sequence[int] | None = None,
    allow_outside_root: bool = False,
    score_column: str | None = None,
    require_images: bool = True,
) -> Dataset:
    """Load BFW's pair table, with per-image subject, gender and ethnicity from its columns.

    Parameters
    ----------
    root : Path
        Dataset folder.
    table : str, optional
        Pair table relative to ``root``; default ``TABLE``.
    images : str, optional
        Folder the ``p1``/``p2`` paths are relative to, relative to ``root``; default
        ``IMAGES_DIR``.
    folds : sequence of int, optional
        Folds whose pairs to keep; all when None. Images of dropped pairs are dropped too.
    allow_outside_root : bool
        Accept ``p1``/``p2`` paths that lead outside the image folder (``..`` or absolute paths).
    score_column : str, optional
        A model's score column to keep as the pairs' ``score`` (floats; empty or ``nan`` cells NaN).
    require_images : bool
        False for a score-only audit: no image file is looked for and ``path`` is empty.

    Returns
    -------
    Dataset
        ``images``: ``image_id`` the path as in the table (``\\`` read as ``/``), ``subject_id``
        the table's id, ``gender`` and ``race`` with ``dataset`` sources. ``pairs``: ``image_a,
        image_b, mated, fold``. A pair repeated (in either order) is kept once and counted in
        ``caveats``.

    Raises
    ------
    DatasetError
        A column is missing; a cell is empty or not a valid code; ``label`` disagrees with the
        subject ids; ``a1``/``a2`` disagree with ethnicity + gender; an image appears with two
        different subjects, genders or ethnicities; a pair joins an image with itself; an image
        path leads outside the image folder; or an image file is absent. The message names the
        file and line.
    """
    root = Path(root).resolve()
    table_path = root / (table or TABLE)
    image_dir = root / (images or IMAGES_DIR)
    rows = read_csv_rows(table_path)
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        raise DatasetError(f"{table_path}:1: missing column(s) {missing}")
    for col in REQUIRED:
        empty = rows[col] == ""
        if empty.any():
            raise DatasetError(f"{table_path}:{empty.idxmax()}: empty {col!r}")
    _check_codes(rows, table_path)
    if score_column is not None and score_column not in rows.columns:
        raise DatasetError(f"{table_path}:1: no score column {score_column!r}")

    sides = []
    for side in ("1", "2"):
        sides.append(
            pd.DataFrame(
                {
                    "image_id": rows[f"p{side}"].str.replace("\\", "/", regex=False),
                    "subject_id": rows[f"id{side}"],
                    "gender": rows[f"g{side}"].map(GENDER),
                    "race": rows[f"e{side}"].map(ETHNICITY),
                    "line": rows.index,
                }
            )
        )
    long = pd.concat(sides, ignore_index=True).sort_values("line", kind="stable")
    described = long.drop_duplicates(["image_id", "subject_id", "gender", "race"])
    clash = described["image_id"].duplicated()
    if clash.any():
        row = described[clash].iloc[0]
        first = described[described["image_id"] == row["image_id"]].iloc[0]
        raise DatasetError(
            f"{table_path}:{row['line']}: image {row['image_id']!r} has id/gender/ethnicity "
            f"{row['subject_id']}/{row['gender']}/{row['race']}, but "
            f"{first['subject_id']}/{first['gender']}/{first['race']} on line {first['line']}"
        )

    pairs = pd.DataFrame(
        {
            "image_a": sides[0]["image_id"].to_numpy(),
            "image_b": sides[1]["image_id"].to_numpy(),
            "mated": (rows["label"] == "1").to_numpy(),
            "fold": rows["fold"].astype(int).to_numpy(),
        },
        index=rows.index,
    )
    if score_column is not None:
        pairs["score"] = parse_scores(rows[score_column], table_path, score_column)
    same_image = pairs["image_a"] == pairs["image_b"]
    if same_image.any():
        line = same_image.idxmax()
        raise DatasetError(f"{table_path}:{line}: pairs image {pairs.at[line, 'image_a']!r} with itself")
    contradiction = pairs["mated"] != (rows["id1"] == rows["id2"])
    if contradiction.any():
        line = contradiction.idxmax()
        raise DatasetError(
            f"{table_path}:{line}: label {rows.at[line, 'label']} but id1={rows.at[line, 'id1']} "
            f"and id2={rows.at[line, 'id2']}"
        )
    selected = check_folds(folds, int(pairs["fold"].max()), table_path)
    pairs = pairs[pairs["fold"].isin(selected)]
    key = pd.Series(
        [a + "\n" + b if a < b else b + "\n" + a for a, b in zip(pairs["image_a"], pairs["image_b"])],
        index=pairs.index,
    )
    repeated = key.duplicated()
    pairs = pairs[~repeated.to_numpy()].reset_index(drop=True)

    used = set(pairs["image_a"]) | set(pairs["image_b"])
    image_table = described[described["image_id"].isin(used)].sort_values("image_id")
    if not require_images:
        image_table = image_table.assign(path="")
    paths = [] if require_images else list(image_table["path"])
    for image_id, line in zip(image_table["image_id"], image_table["line"]) if require_images else ():
        try:
            paths.append(dataset_path(image_dir, image_id, allow_outside_root))
        except ValueError as exc:
            raise DatasetError(f"{table_path}:{line}: path {image_id!r} {exc}") from None
    image_table = image_table.assign(
        path=paths,
        gender_source="dataset",
        race_source="dataset",
    )
    absent = ~np.array([not require_images or os.path.isfile(p) for p in image_table["path"]], dtype=bool)
    if absent.any():
        first = image_table[absent].iloc[0]
        raise DatasetError(
            f"{table_path}:{first['line']}: {int(absent.sum())} image file(s) named in the table are not "
            f"in {image_dir} (first: {first['image_id']})"
        )
    caveats = list(CAVEATS)
    if repeated.any():
        line = repeated.idxmax()
        caveats.append(
            f"{int(repeated.sum())} row(s) of {table_path.name} repeat an earlier pair and were counted "
            f"once (first: line {line})."
        )
    attributes = ["gender", "race"]
    image_table = validate_image_table(
        image_table[["image_id", "path", "subject_id", "gender", "gender_source", "race", "race_source"]],
        attributes,
    )
    return Dataset(
        name="bfw",
        root=root,
        images=image_table,
        pairs=validate_pair_table(pairs, image_table["image_id"]),
        attributes=attributes,
        caveats=caveats,
        label_sources=dict(LABEL_SOURCES),
    )


def _check_codes(rows: pd.DataFrame, path: Path) -> None:
    """Every label, fold, gender and ethnicity cell is a known code; a1/a2 match e + g."""
    checks = [
        ("label", rows["label"].isin(["0", "1"]), "0 or 1"),
        ("fold", rows["fold"].str.fullmatch(FOLD_PATTERN) & (rows["fold"].str.lstrip("0") != ""),
         "an integer >= 1 of at most 9 digits"),
    ]
    for side in ("1", "2"):
        checks.append((f"g{side}", rows[f"g{side}"].isin(list(GENDER)), "/".join(GENDER)))
        checks.append((f"e{side}", rows[f"e{side}"].isin(list(ETHNICITY)), "/".join(ETHNICITY)))
        if f"a{side}" in rows.columns:
            expected = rows[f"e{side}"] + rows[f"g{side}"]
            checks.append((f"a{side}", rows[f"a{side}"] == expected, f"e{side} followed by g{side}"))
    for col, ok, wanted in checks:
        if not ok.all():
            line = (~ok).idxmax()
            raise DatasetError(f"{path}:{line}: {col} {rows.at[line, col]!r} is not {wanted}")
