"""One folder per identity, and label tables joined onto any dataset's images.

``load_folder`` reads ``<identity>/<image>`` trees (VGGFace2, CASIA-WebFace, most in-house
collections); ``join_labels`` adds demographic columns from a CSV with one row per subject or per
image, for this layout or any other. Both are documented in data/README.md.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.datasets import Dataset

# read_csv_rows keeps the line each row came from, so label errors can name it.
from frbench.datasets.csv_manifest import check_spelling
from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows
from frbench.tables import IMAGE_COLUMNS, UNKNOWN, validate_image_table

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SOURCE_SUFFIX = "_source"


def load_folder(root: Path, images: str | None = None, name: str | None = None) -> Dataset:
    """Load a tree with one folder per identity, each holding that person's images.

    Parameters
    ----------
    root : Path
        Dataset folder.
    images : str, optional
        Folder of identity folders, relative to ``root``; default ``root`` itself.
    name : str, optional
        Dataset name; default the name of ``root``.

    Returns
    -------
    Dataset
        ``images`` has ``image_id`` ``<identity>/<file>`` (relative to the identity folders'
        parent), ``path`` and ``subject_id`` (the folder name); no attributes and no pairs. Files
        whose suffix is not an image suffix (``IMAGE_SUFFIXES``, any case) and identity folders
        without images are skipped and counted in ``caveats``; names starting with ``.`` are
        ignored.

    Raises
    ------
    DatasetError
        The folder is missing or holds no images, an image lies outside any identity folder, or an
        identity folder contains a folder.
    """
    root = Path(root).resolve()
    base = root / images if images else root
    if not base.is_dir():
        raise DatasetError(f"{base}: image folder not found (see data/README.md, format 'folder')")
    found: list[tuple[str, str]] = []
    skipped: list[str] = []
    empty: list[str] = []
    with os.scandir(base) as entries:
        top = sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in top:
        if not entry.is_dir():
            if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                raise DatasetError(
                    f"{entry.path}: image outside any identity folder (layout: <identity>/<image>)"
                )
            continue
        with os.scandir(entry.path) as files:
            inside = sorted((f for f in files if not f.name.startswith(".")), key=lambda f: f.name)
        kept = 0
        for file in inside:
            if file.is_dir():
                raise DatasetError(
                    f"{file.path}: folder inside identity folder {entry.name!r} "
                    "(layout: one folder per identity holding image files)"
                )
            if Path(file.name).suffix.lower() in IMAGE_SUFFIXES:
                found.append((entry.name, file.name))
                kept += 1
            else:
                skipped.append(f"{entry.name}/{file.name}")
        if not kept:
            empty.append(entry.name)
    if not found:
        raise DatasetError(f"{base}: no <identity>/<image> files found (suffixes {sorted(IMAGE_SUFFIXES)})")
    prefix = f"{base}{os.sep}"
    table = pd.DataFrame(
        {
            "image_id": [f"{s}/{f}" for s, f in found],
            "path": [f"{prefix}{s}{os.sep}{f}" for s, f in found],
            "subject_id": [s for s, _ in found],
        }
    )
    caveats = []
    if skipped:
        caveats.append(f"{len(skipped)} file(s) without an image suffix were not used (first: {skipped[0]}).")
    if empty:
        caveats.append(f"{len(empty)} identity folder(s) hold no image (first: {empty[0]}).")
    return Dataset(
        name=name or root.name,
        root=root,
        images=validate_image_table(table),
        pairs=None,
        caveats=caveats,
    )


def join_labels(
    dataset: Dataset,
    labels_csv: Path,
    by: str = "subject",
    columns: Mapping[str, str] | None = None,
) -> Dataset:
    """Add the attribute columns of a labels CSV to a dataset's images.

    Parameters
    ----------
    dataset : Dataset
        Any loaded dataset.
    labels_csv : Path
        UTF-8 CSV, header on line 1, one row per key: ``subject_id`` (``by="subject"``) or
        ``image_id`` (``by="image"``, ``\\`` read as ``/``). Every other column is an attribute,
        except ``<attr>_source`` columns, which give each label's provenance (default ``dataset``,
        or ``unknown`` for an unknown value). An empty cell is ``unknown``.
    by : {"subject", "image"}
        What one row describes.
    columns : mapping, optional
        Contract name (``subject_id``, ``image_id``, an attribute or ``<attr>_source``) -> column
        name in the CSV, for the names that differ.

    Returns
    -------
    Dataset
        A copy with the new attributes appended to ``attributes``, one ``label_sources`` line per
        attribute, and a caveat that counts rows naming keys the dataset lacks and keys the table
        does not label (their attributes are ``unknown``); nothing is dropped silently.

    Raises
    ------
    DatasetError
        The file is missing or malformed, the key column is absent or has an empty or repeated
        value, there is no attribute column, or an attribute is already a column of the images.
        The message names the file and the line.
    """
    labels_csv = Path(labels_csv)
    if by not in ("subject", "image"):
        raise DatasetError(f"{labels_csv}: labels_by must be 'subject' or 'image', got {by!r}")
    key = f"{by}_id"
    columns = dict(columns or {})
    table = read_csv_rows(labels_csv)
    to_contract = {csv_name: contract for contract, csv_name in columns.items()}
    table = table.rename(columns=lambda c: to_contract.get(c, c))
    if key not in table.columns:
        raise DatasetError(f"{labels_csv}:1: no column {columns.get(key, key)!r} (for {key})")
    keys = table[key]
    if by == "image":
        keys = keys.str.replace("\\", "/", regex=False)
    empty = keys == ""
    if empty.any():
        raise DatasetError(f"{labels_csv}:{empty.idxmax()}: empty {key}")
    repeated = keys.duplicated()
    if repeated.any():
        line = repeated.idxmax()
        first = keys.index[keys == keys[line]][0]
        raise DatasetError(f"{labels_csv}:{line}: {key} {keys[line]!r} already on line {first}")

    attributes = [c for c in table.columns if c != key and not c.endswith(SOURCE_SUFFIX)]
    if not attributes:
        raise DatasetError(f"{labels_csv}:1: no attribute column besides {columns.get(key, key)!r}")
    for attr in attributes:
        if attr in IMAGE_COLUMNS or attr in dataset.images.columns:
            raise DatasetError(
                f"{labels_csv}:1: column {columns.get(attr, attr)!r} would replace the images' "
                f"column {attr!r}; rename it with label_columns"
            )

    images = dataset.images.copy()
    label_sources = dict(dataset.label_sources)
    row_of = pd.Series(np.arange(len(table)), index=keys.to_numpy())
    position = images[key].map(row_of)
    labelled = position.notna().to_numpy()
    take = position[labelled].astype(int).to_numpy()
    for attr in attributes:
        check_spelling(table[attr], columns.get(attr, attr), labels_csv)
        values = table[attr].mask(table[attr] == "", UNKNOWN)
        source_col = attr + SOURCE_SUFFIX
        default = pd.Series(np.where(values == UNKNOWN, UNKNOWN, "dataset"), index=table.index)
        source = table[source_col].mask(table[source_col] == "", default) if source_col in table else default
        column = np.full(len(images), UNKNOWN, dtype=object)
        column[labelled] = values.to_numpy()[take]
        provenance = np.full(len(images), UNKNOWN, dtype=object)
        provenance[labelled] = source.to_numpy()[take]
        images[attr] = column
        images[source_col] = provenance
        label_sources[attr] = (
            f"column {columns.get(attr, attr)!r} of {labels_csv.name}, one row per {by}"
            + (f", provenance per row in {columns.get(source_col, source_col)!r}" if source_col in table else "")
        )

    caveats = list(dataset.caveats)
    caveats.append(f"Labels in {labels_csv.name} are taken as given; frbench did not verify them.")
    known = set(images[key])
    strangers = keys[~keys.isin(known)]
    if len(strangers):
        caveats.append(
            f"{len(strangers)} row(s) of {labels_csv.name} name a {by} not in the dataset and were not "
            f"used (first: line {strangers.index[0]}, {strangers.iloc[0]!r})."
        )
    unlabelled = pd.unique(images.loc[~labelled, key])
    if len(unlabelled):
        caveats.append(
            f"{len(unlabelled)} {by}(s) have no row in {labels_csv.name}, so their "
            f"{', '.join(attributes)} is unknown (first: {unlabelled[0]!r})."
        )
    all_attributes = [*dataset.attributes, *attributes]
    return dataclasses.replace(
        dataset,
        images=validate_image_table(images, all_attributes),
        attributes=all_attributes,
        caveats=caveats,
        label_sources=label_sources,
    )
