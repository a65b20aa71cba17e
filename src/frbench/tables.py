"""Column names and validators of the data contracts (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from frbench.errors import DatasetError

UNKNOWN = "unknown"
IMAGE_COLUMNS = ("image_id", "path", "subject_id")
PAIR_COLUMNS = ("image_a", "image_b", "mated")
OK = "ok"
INTERSECTION_SEP = "+"


UNCERTAIN = "uncertain"
# Labels that name no demographic group: no label, and an estimate that abstained. They are shown in
# every table but never compared in fairness summaries or tests, nor named a worst group.
NOT_A_GROUP = (UNKNOWN, UNCERTAIN)


def has_unknown(group: object) -> bool:
    """Whether a group label is, or (for an intersection) contains, one of ``NOT_A_GROUP``."""
    return any(part in NOT_A_GROUP for part in str(group).split(INTERSECTION_SEP))


def validate_image_table(images: pd.DataFrame, attributes: Iterable[str] = ()) -> pd.DataFrame:
    """Check an ImageTable: required columns, unique ids, attributes with no missing values.

    Missing attribute values are filled with ``UNKNOWN`` (never dropped). Returns a copy.
    """
    missing = [c for c in (*IMAGE_COLUMNS, *attributes) if c not in images.columns]
    if missing:
        raise DatasetError(f"image table lacks column(s) {missing}")
    dup = images["image_id"][images["image_id"].duplicated()]
    if len(dup):
        raise DatasetError(f"image table has duplicate image_id {dup.iloc[0]!r} ({len(dup)} duplicates)")
    out = images.copy()
    for col in attributes:
        out[col] = out[col].astype("string").fillna(UNKNOWN).replace("", UNKNOWN).astype(str)
    return out.reset_index(drop=True)


def validate_pair_table(pairs: pd.DataFrame, image_ids: Iterable[str]) -> pd.DataFrame:
    """Check a PairTable against the images it refers to; ``mated`` becomes bool. Returns a copy."""
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise DatasetError(f"pair table lacks column(s) {missing}")
    known = set(image_ids)
    for side in ("image_a", "image_b"):
        unknown = pairs.loc[~pairs[side].isin(known), side]
        if len(unknown):
            raise DatasetError(
                f"pair table names {len(unknown)} image(s) not in the image table, first {unknown.iloc[0]!r}"
            )
    out = pairs.copy()
    out["mated"] = out["mated"].astype(bool)
    return out.reset_index(drop=True)
