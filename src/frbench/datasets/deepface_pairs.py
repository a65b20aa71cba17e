"""deepface's test layout: a folder of images and a CSV of labelled pairs.

``master.csv`` (deepface ``tests/unit/dataset``) has a header ``file_x,file_y,Decision`` and one row
per pair: two image paths relative to the CSV's folder and ``Yes`` (same person) or ``No``. There
are no identity labels, so people are inferred: images joined by a chain of ``Yes`` pairs are one
person, named after the first of their images in sorted order.

Reference: https://github.com/serengil/deepface (MIT licence), tests/unit/dataset/master.csv.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from frbench.datasets import Dataset
from frbench.datasets.paths import dataset_path
from frbench.errors import DatasetError
from frbench.io.csv_columns import image_references
from frbench.io.csv_rows import read_csv_rows
from frbench.tables import validate_image_table, validate_pair_table

PAIRS_FILE = "master.csv"
COLUMNS = ("file_x", "file_y", "Decision")

CAVEATS = [
    "Subjects are inferred from the 'Yes' pairs (images linked by a chain of them are one person); "
    "the pair list carries no identity or demographic labels of its own.",
]


def load_deepface_pairs(
    root: Path, pairs: str | None = None, name: str | None = None, allow_outside_root: bool = False
) -> Dataset:
    """Load a deepface-style pair list and the images it names.

    Parameters
    ----------
    root : Path
        Folder the image paths are relative to.
    pairs : str, optional
        The pairs CSV relative to ``root``; default ``PAIRS_FILE``.
    name : str, optional
        Dataset name; default the name of ``root``.
    allow_outside_root : bool
        Accept image paths that lead outside ``root`` (``..`` or absolute paths elsewhere).

    Returns
    -------
    Dataset
        ``images``: every image the CSV names (``image_id`` the path as written, ``\\`` read as
        ``/``), ``subject_id`` the inferred person; ``pairs``: ``image_a, image_b, mated``.

    Raises
    ------
    DatasetError
        A column is missing, ``Decision`` is not Yes/No (any case), a pair joins an image with
        itself or repeats an earlier pair, an image path leads outside ``root``, an image file is
        absent, or a ``No`` pair joins two images that ``Yes`` pairs make one person. The message
        names the file and line.
    """
    root = Path(root).resolve()
    path = root / (pairs or PAIRS_FILE)
    table = read_csv_rows(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}:1: missing column(s) {missing} (deepface's header is file_x,file_y,Decision)")
    a, b = image_references(table, ("file_x", "file_y"), path)
    decision = table["Decision"].str.lower()
    unreadable = ~decision.isin(["yes", "no"])
    if unreadable.any():
        line = unreadable.idxmax()
        raise DatasetError(f"{path}:{line}: Decision {table.at[line, 'Decision']!r} is not Yes or No")
    same = a == b
    if same.any():
        line = same.idxmax()
        raise DatasetError(f"{path}:{line}: pairs image {a[line]!r} with itself")
    key = pd.Series([x + "\n" + y if x < y else y + "\n" + x for x, y in zip(a, b)], index=table.index)
    repeated = key.duplicated()
    if repeated.any():
        line = repeated.idxmax()
        first = key.index[key == key[line]][0]
        raise DatasetError(f"{path}:{line}: repeats the pair on line {first}")

    names = pd.unique(pd.concat([a, b]))
    first_line = pd.concat([pd.Series(a.index, index=a.to_numpy()), pd.Series(b.index, index=b.to_numpy())])
    first_line = first_line.groupby(level=0).min()
    image_ids = np.sort(names.astype(str))
    paths = []
    for image_id in image_ids:
        try:
            paths.append(dataset_path(root, image_id, allow_outside_root))
        except ValueError as exc:
            raise DatasetError(f"{path}:{first_line[image_id]}: path {image_id!r} {exc}") from None
    absent = [i for i, p in zip(image_ids, paths) if not os.path.isfile(p)]
    if absent:
        raise DatasetError(
            f"{path}:{first_line[absent[0]]}: {len(absent)} image file(s) named here are not in {root} "
            f"(first: {absent[0]})"
        )

    index = pd.Series(np.arange(len(image_ids)), index=image_ids)
    ia, ib = index[a].to_numpy(), index[b].to_numpy()
    mated = (decision == "yes").to_numpy()
    graph = coo_matrix((np.ones(mated.sum()), (ia[mated], ib[mated])), shape=(len(image_ids),) * 2)
    _, component = connected_components(graph, directed=False)
    # image_ids is sorted, so the first image of each component is its smallest id.
    first_of = pd.Series(image_ids).groupby(component).first()
    subject = first_of[component].to_numpy()
    conflict = ~mated & (component[ia] == component[ib])
    if conflict.any():
        row = int(np.argmax(conflict))
        line = table.index[row]
        raise DatasetError(
            f"{path}:{line}: Decision No, but 'Yes' pairs make {a[line]!r} and {b[line]!r} one person"
        )
    images = pd.DataFrame({"image_id": image_ids, "path": paths, "subject_id": subject})
    pair_table = pd.DataFrame({"image_a": a.to_numpy(), "image_b": b.to_numpy(), "mated": mated})
    return Dataset(
        name=name or root.name,
        root=root,
        images=validate_image_table(images),
        pairs=validate_pair_table(pair_table, image_ids),
        caveats=list(CAVEATS),
    )
