"""The demographic groups a run reports: attributes, their intersections, and each row's label.

One rule for every attribute (docs/ARCHITECTURE.md): an image is in group g of attribute A when
its A is g; a pair is in g when **both** of its sides are. An intersection joins attributes with
``+`` (attribute ``race+gender``, group ``black+female``). :class:`Groups` owns these names and
labels, for images (column ``A``) and for the two sides of a pair (columns ``A_a``, ``A_b``), so
that no other module builds an ``a+b`` label or a side column name itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from frbench.tables import INTERSECTION_SEP

ALL = "all"  # the attribute and group of the row over every comparison; defined here only
SIDES = ("a", "b")


@dataclass(frozen=True)
class Groups:
    """Grouping attributes and intersections, e.g. ``Groups(("gender", "race"), (("race", "gender"),))``."""

    attributes: tuple[str, ...] = ()
    intersections: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.attributes, str):
            raise ValueError(f"attributes must be a sequence of names, got the string {self.attributes!r}")
        for combo in self.intersections:
            if isinstance(combo, str):
                raise ValueError(f"each intersection must be a sequence of attribute names, got {combo!r}")
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "intersections", tuple(tuple(c) for c in self.intersections))

    @classmethod
    def of(cls, attributes: Sequence[str] = (), intersections: Iterable[Sequence[str]] = ()) -> Groups:
        return cls(tuple(attributes), tuple(tuple(c) for c in intersections))

    @property
    def names(self) -> list[str]:
        """Reported attribute names: the attributes, then each intersection joined with ``+``."""
        return list(dict.fromkeys([*self.attributes, *(INTERSECTION_SEP.join(c) for c in self.intersections)]))

    @property
    def columns(self) -> list[str]:
        """The image-table columns these groups read, in first-mention order."""
        return list(dict.fromkeys([*self.attributes, *(a for c in self.intersections for a in c)]))

    def image_labels(self, images: pd.DataFrame, name: str) -> np.ndarray:
        """Each image's group for attribute or intersection ``name`` (object array of str)."""
        return _labels(images, name, "")

    def side_labels(self, pairs: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The group of side a and of side b of every pair for ``name``."""
        return _labels(pairs, name, "_a"), _labels(pairs, name, "_b")

    def pair_group(self, pairs: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The group rule for pairs: ``(label, within)``, a pair being in group ``label[i]`` of
        ``name`` only where ``within[i]``, i.e. where both of its sides are in that group.

        The one place that decides a pair's group; a pair whose sides differ is in no group of
        ``name`` (it counts in the ``all`` row and in the cross-group matrix).
        """
        la, lb = self.side_labels(pairs, name)
        return la, la == lb

    def pair_groups(self, pairs: pd.DataFrame, name: str, among: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
        """(group, mask) of every group of ``name`` by :meth:`pair_group`, sorted by label.

        A group is listed when at least one pair (of ``among``, a boolean mask, where given) has
        both sides in it; its mask marks those pairs (within ``among``).
        """
        label, within = self.pair_group(pairs, name)
        if among is not None:
            within = within & among
        return [(group, within & (label == group)) for group in sorted(set(label[within]))]

    def pair_units(self, pairs: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
        """(attribute, group, mask) for the ``all`` row, then every group (both sides in it) of every name.

        Groups are those of :meth:`pair_groups`: sorted by label, present when at least one pair
        has both sides in it.
        """
        units = [(ALL, ALL, np.ones(len(pairs), dtype=bool))]
        for name in self.names:
            units.extend((name, group, mask) for group, mask in self.pair_groups(pairs, name))
        return units

    def image_units(self, images: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
        """(attribute, group, mask) over images: the ``all`` row, then every group of every name."""
        units = [(ALL, ALL, np.ones(len(images), dtype=bool))]
        for name in self.names:
            labels = self.image_labels(images, name)
            units.extend((name, group, labels == group) for group in sorted(set(labels)))
        return units

    def join_sides(self, pairs: pd.DataFrame, images: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """``pairs`` with ``subject_a/b`` and ``<attr>_a/b`` from the ImageTable (by ``image_a/b``).

        ``columns``: the image columns to join, default :attr:`columns`.
        """
        out = pairs.reset_index(drop=True).copy()
        info = images.set_index("image_id")
        for side in SIDES:
            ids = out[f"image_{side}"]
            out[f"subject_{side}"] = info.loc[ids, "subject_id"].to_numpy()
            for attr in self.columns if columns is None else columns:
                out[f"{attr}_{side}"] = info.loc[ids, attr].to_numpy()
        return out

    def side_columns(self) -> list[str]:
        """``<attr>_a, <attr>_b`` for every column, the order in which scores.csv lists them."""
        return [f"{attr}_{side}" for attr in self.columns for side in SIDES]


def _labels(frame: pd.DataFrame, name: str, suffix: str) -> np.ndarray:
    columns = [f"{part}{suffix}" for part in name.split(INTERSECTION_SEP)]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"table lacks attribute column(s) {missing} needed for '{name}'")
    values = frame[columns]
    if values.isna().any().any():
        bad = values.columns[values.isna().any()].tolist()
        raise ValueError(f"attribute column(s) {bad} contain missing values; use 'unknown'")
    labels = values[columns[0]].astype(str).to_numpy(dtype=object)
    for col in columns[1:]:
        labels = labels + INTERSECTION_SEP + values[col].astype(str).to_numpy(dtype=object)
    return labels
