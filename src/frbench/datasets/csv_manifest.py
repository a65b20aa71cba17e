"""Any dataset described by CSV files: an image manifest and, optionally, a pair list.

images CSV: one row per image with a path (relative to the dataset root), a subject id, an optional
image id, attribute columns and optional ``<attr>_source`` columns. pairs CSV: ``image_a``,
``image_b``, optional ``mated`` and ``fold``. The format is documented in data/README.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.datasets import Dataset
from frbench.datasets.paths import dataset_path
from frbench.errors import DatasetError, problems_error
from frbench.io.csv_columns import FALSE_WORDS, TRUE_WORDS
from frbench.io.csv_rows import read_csv_rows
from frbench.tables import IMAGE_COLUMNS, UNKNOWN, validate_image_table, validate_pair_table

SOURCE_SUFFIX = "_source"
# ASCII digits (\d also matches other scripts' digits), few enough to fit any integer type
FOLD_PATTERN = r"[0-9]{1,9}"


def load_csv_manifest(
    images_csv: Path,
    pairs_csv: Path | None = None,
    columns: Mapping[str, str] | None = None,
    attributes: Sequence[str] | None = None,
    root: Path | None = None,
    name: str | None = None,
    allow_outside_root: bool = False,
) -> Dataset:
    """Load a dataset from an images CSV and an optional pairs CSV.

    Parameters
    ----------
    images_csv : Path
        One row per image. Paths are relative to ``root``; ``image_id`` defaults to the path as
        written, with ``\\`` turned into ``/``. Empty attribute values become ``unknown``;
        ``<attr>_source`` columns are kept, otherwise the source is ``dataset`` (``unknown`` where
        the value is unknown).
    pairs_csv : Path, optional
        Columns ``image_a``, ``image_b`` (an image_id, or a path as written in the images CSV),
        optional ``mated`` (true/false, 1/0, yes/no, any case) and ``fold`` (integer >= 1). Without
        ``mated``, a pair is mated when both images have the same subject_id.
    columns : mapping, optional
        Contract name (``path``, ``subject_id``, ``image_id``, an attribute or ``<attr>_source``)
        -> column name in the CSV, for the names that differ.
    attributes : sequence of str, optional
        Attribute columns (contract names). Default: every column that is not a path, subject or
        image id and does not end in ``_source``.
    root : Path, optional
        Folder the paths are relative to; default the folder of ``images_csv``.
    name : str, optional
        Dataset name; default the name of the folder of ``images_csv``.
    allow_outside_root : bool
        Accept paths that lead outside ``root`` (``..`` or absolute paths elsewhere).

    Raises
    ------
    DatasetError
        A file is missing or malformed, an image_id repeats, a path leaves the root, or a pair names
        an unknown image, has an unreadable ``mated``/``fold``, pairs an image with itself, repeats
        an earlier pair or contradicts the subject ids. The message names the file and the line
        (as an editor shows it: the header is line 1).
    """
    images_csv = Path(images_csv)
    columns = dict(columns or {})
    root = Path(root if root is not None else images_csv.parent).resolve()
    table = read_csv_rows(images_csv)

    def column(contract: str, required: bool) -> str | None:
        csv_name = columns.get(contract, contract)
        if csv_name in table.columns:
            return csv_name
        if required:
            raise DatasetError(f"{images_csv}:1: no column {csv_name!r} (for {contract})")
        return None

    path_col = column("path", True)
    subject_col = column("subject_id", True)
    id_col = column("image_id", False)
    if attributes is None:
        to_contract = {csv_name: contract for contract, csv_name in columns.items()}
        attributes = [
            to_contract.get(c, c)
            for c in table.columns
            if c not in (path_col, subject_col, id_col)
            and not to_contract.get(c, c).endswith(SOURCE_SUFFIX)
        ]
    attributes = list(attributes)
    for attr in attributes:
        if attr in IMAGE_COLUMNS or attr.endswith(SOURCE_SUFFIX):
            raise DatasetError(f"{images_csv}: {attr!r} cannot be an attribute name")

    for required in (path_col, subject_col, id_col):
        if required is not None:
            _require_values(table, required, images_csv)
    written = table[path_col].str.replace("\\", "/", regex=False)
    images = pd.DataFrame(
        {
            "image_id": written if id_col is None else table[id_col],
            "path": _absolute_paths(written, root, allow_outside_root, images_csv),
            "subject_id": table[subject_col],
        },
        index=table.index,
    )
    repeated = images["image_id"].duplicated()
    if repeated.any():
        line = repeated.idxmax()
        image_id = images.at[line, "image_id"]
        first = images.index[images["image_id"] == image_id][0]
        raise DatasetError(f"{images_csv}:{line}: image_id {image_id!r} already on line {first}")

    label_sources = {}
    for attr in attributes:
        attr_col = column(attr, True)
        check_spelling(table[attr_col], attr_col, images_csv)
        values = table[attr_col].mask(table[attr_col] == "", UNKNOWN)
        source_col = column(attr + SOURCE_SUFFIX, False)
        default = pd.Series(np.where(values == UNKNOWN, UNKNOWN, "dataset"), index=table.index)
        if source_col is None:
            source = default
        else:
            source = table[source_col].mask(table[source_col] == "", default)
        images[attr] = values
        images[attr + SOURCE_SUFFIX] = source
        provenance = f"provenance per image in column {source_col!r}" if source_col else "as provided"
        label_sources[attr] = f"column {attr_col!r} of {images_csv.name}, {provenance}"
    images = validate_image_table(images, attributes)

    pairs = None
    if pairs_csv is not None:
        pairs = _read_pairs(Path(pairs_csv), images, written)
    return Dataset(
        name=name or images_csv.resolve().parent.name,
        root=root,
        images=images,
        pairs=pairs,
        attributes=attributes,
        caveats=[
            f"Demographic labels are taken as given in {images_csv.name}; frbench did not verify them."
        ]
        if attributes
        else [],
        label_sources=label_sources,
    )


def check_spelling(values: pd.Series, column: str, path: Path) -> None:
    """Refuse two spellings of one label, differing only in case or spacing ('Female', 'female ').

    Each spelling would be a group of its own, splitting one group's pairs and rates in two
    without a word; ``unknown`` is a label like the others ('Unknown' is not missing). ``values``
    is indexed by line.
    """
    key = values.str.casefold().str.split().str.join(" ")
    first_spelling = values.groupby(key, sort=False).transform("first")
    other = values != first_spelling
    if other.any():
        line = other.idxmax()
        first = values.index[(key == key[line]).to_numpy()][0]
        raise DatasetError(
            f"{path}:{line}: {column} {values[line]!r} differs from {values[first]!r} (line {first}) only in "
            "case or spacing; spell each label one way, or they count as two groups"
        )


def _require_values(table: pd.DataFrame, col: str, path: Path) -> None:
    empty = table[col] == ""
    if empty.any():
        raise DatasetError(f"{path}:{empty.idxmax()}: empty {col!r}")


def _absolute_paths(written: pd.Series, root: Path, allow_outside_root: bool, csv: Path) -> list[str]:
    """Join each path to the root and normalise it; refuse any that leaves the root
    (``frbench.datasets.paths.dataset_path``)."""
    paths = []
    for line, rel in written.items():
        try:
            paths.append(dataset_path(root, rel, allow_outside_root))
        except ValueError as exc:
            raise DatasetError(f"{csv}:{line}: path {rel!r} {exc}") from None
    return paths


def _read_pairs(path: Path, images: pd.DataFrame, written: pd.Series) -> pd.DataFrame:
    """The pairs CSV as a PairTable; every problem of every line is listed (DatasetError, capped)."""
    table = read_csv_rows(path)
    missing = [c for c in ("image_a", "image_b") if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}:1: no column(s) {missing}")
    # A pair may name an image by its image_id or by its path as written; ids take precedence.
    lookup = dict(zip(written, images["image_id"]))
    lookup.update(zip(images["image_id"], images["image_id"]))
    subject = dict(zip(images["image_id"], images["subject_id"]))
    problems: list[tuple[int, str]] = []

    pairs = pd.DataFrame(index=table.index)
    for side in ("image_a", "image_b"):
        named = table[side].str.replace("\\", "/", regex=False)
        pairs[side] = named.map(lookup)
        for line in pairs.index[pairs[side].isna()]:
            what = f"empty {side}" if table.at[line, side] == "" else f"{side} {table.at[line, side]!r} is not in the images CSV"
            problems.append((line, what))
    known = pairs["image_a"].notna() & pairs["image_b"].notna()

    same_image = known & (pairs["image_a"] == pairs["image_b"])
    problems += [(line, f"pairs image {pairs.at[line, 'image_a']!r} with itself") for line in pairs.index[same_image]]
    key = pd.Series([tuple(sorted(map(str, ab))) for ab in zip(pairs["image_a"], pairs["image_b"])], index=pairs.index)
    repeated = known & key.duplicated()
    for line in pairs.index[repeated]:
        first = key.index[key == key[line]][0]
        problems.append((line, f"repeats the pair on line {first}"))

    same_subject = pairs["image_a"].map(subject) == pairs["image_b"].map(subject)
    if "mated" in table.columns:
        word = table["mated"].str.lower()
        readable = word.isin(TRUE_WORDS | FALSE_WORDS)
        for line in table.index[~readable]:
            problems.append((line, f"mated {table.at[line, 'mated']!r} is not true/false, 1/0 or yes/no"))
        pairs["mated"] = word.isin(TRUE_WORDS)
        contradiction = known & readable & (pairs["mated"] != same_subject)
        for line in pairs.index[contradiction]:
            a, b = pairs.at[line, "image_a"], pairs.at[line, "image_b"]
            problems.append((line, f"mated={table.at[line, 'mated']} but {a!r} is subject "
                                   f"{subject[a]!r} and {b!r} is subject {subject[b]!r}"))
    else:
        pairs["mated"] = same_subject

    if "fold" in table.columns:
        fold = table["fold"]
        bad = ~fold.str.fullmatch(FOLD_PATTERN) | (fold.str.lstrip("0") == "")
        for line in fold.index[bad]:
            problems.append((line, f"fold {fold[line]!r} is not an integer >= 1 of at most 9 digits"))
        if not problems:
            pairs["fold"] = fold.astype(int)
    if problems:
        raise problems_error([f"{path}:{line}: {what}" for line, what in sorted(problems, key=lambda p: p[0])],
                             DatasetError, source=str(path))
    return validate_pair_table(pairs, images["image_id"])
