"""Datasets: an ImageTable, an optional PairTable and the provenance of their labels.

Column names follow docs/ARCHITECTURE.md (ImageTable, PairTable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from frbench.errors import DatasetError

if TYPE_CHECKING:
    from frbench.config import DatasetConfig


@dataclass
class Dataset:
    """One loaded dataset.

    Attributes
    ----------
    name : str
        Short name used in reports, e.g. ``"lfw"``.
    root : Path
        Folder the dataset was loaded from (for a CSV manifest, the folder its paths are relative to).
    images : pd.DataFrame
        ImageTable: ``image_id``, ``path``, ``subject_id``, one column per attribute and, where
        known, ``<attr>_source``.
    pairs : pd.DataFrame or None
        PairTable (``image_a``, ``image_b``, ``mated`` and ``fold`` when the protocol has folds), or
        None when the dataset comes without a pair protocol.
    attributes : list of str
        Attribute columns present in ``images``, e.g. ``["gender", "race"]``.
    caveats : list of str
        Sentences that every report built on this data must carry.
    label_sources : dict of str to str
        Attribute -> one line saying where its labels came from.
    labels_not_on_disk : dict of str to int
        Label file name -> entries naming an image or subject that is not on disk (a copy of part
        of a dataset keeps the full label files); ignored, reported in a caveat and the manifest.
    """

    name: str
    root: Path
    images: pd.DataFrame
    pairs: pd.DataFrame | None
    attributes: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    label_sources: dict[str, str] = field(default_factory=dict)
    labels_not_on_disk: dict[str, int] = field(default_factory=dict)


# The loaders import Dataset from this module, so they are imported after it is defined.
from frbench.datasets.bfw import load_bfw  # noqa: E402
from frbench.datasets.csv_manifest import load_csv_manifest  # noqa: E402
from frbench.datasets.deepface_pairs import load_deepface_pairs  # noqa: E402
from frbench.datasets.folder import join_labels, load_folder  # noqa: E402
from frbench.datasets.lfw import load_lfw  # noqa: E402
from frbench.datasets.rfw import load_rfw  # noqa: E402
from frbench.datasets.score_files import load_score_dataset  # noqa: E402

__all__ = [
    "Dataset",
    "join_labels",
    "load_bfw",
    "load_csv_manifest",
    "load_dataset",
    "load_deepface_pairs",
    "load_folder",
    "load_lfw",
    "load_rfw",
    "load_score_dataset",
]


def load_dataset(cfg: "DatasetConfig", data_root: Path) -> Dataset:
    """Open the dataset a config names, from ``cfg.root`` or ``data_root/cfg.name``, and join
    ``cfg.labels`` onto its images when given."""
    root = Path(cfg.root) if cfg.root is not None else Path(data_root) / cfg.name
    if not root.is_dir():
        from frbench.datasets.registry import not_found_hint

        raise DatasetError(f"dataset '{cfg.name}' not found at {root} {not_found_hint('dataset.root')}")
    if cfg.format == "lfw":
        dataset = load_lfw(root, folds=cfg.folds)
    elif cfg.format == "rfw":
        dataset = load_rfw(root, folds=cfg.folds)
    elif cfg.format == "bfw":
        dataset = load_bfw(
            root, table=cfg.pairs, images=cfg.images, folds=cfg.folds, allow_outside_root=cfg.allow_outside_root
        )
    elif cfg.format == "folder":
        dataset = load_folder(root, images=cfg.images, name=cfg.name)
    elif cfg.format == "scores":
        dataset = load_score_dataset(
            root, cfg.name, str(cfg.scores), str(cfg.score_format), impostors=cfg.impostors,
            score_column=cfg.score_column, folds=cfg.folds,
        )
    elif cfg.format == "deepface-pairs":
        dataset = load_deepface_pairs(root, pairs=cfg.pairs, name=cfg.name, allow_outside_root=cfg.allow_outside_root)
    else:
        dataset = load_csv_manifest(
            root / str(cfg.images),
            pairs_csv=root / cfg.pairs if cfg.pairs else None,
            columns=cfg.columns or None,
            attributes=cfg.attributes,
            root=root,
            name=cfg.name,
            allow_outside_root=cfg.allow_outside_root,
        )
    if cfg.labels:
        dataset = join_labels(dataset, root / cfg.labels, by=cfg.labels_by, columns=cfg.label_columns)
    return dataset
