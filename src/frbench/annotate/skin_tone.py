"""Skin-tone scales and the lighter/darker split used to group subjects.

ITA categories (Chardon et al., 1991; Del Bino & Bernerd, 2013, Br. J. Dermatol. 169 Suppl 3),
ITA in degrees:

    very_light  ITA > 55
    light       41 < ITA <= 55
    intermediate 28 < ITA <= 41
    tan         10 < ITA <= 28
    brown      -30 < ITA <= 10
    dark        ITA <= -30

The binary split follows Gender Shades (Buolamwini & Gebru, FAT* 2018), which reports skin type,
not race: Fitzpatrick I-III are ``lighter`` and IV-VI ``darker``. The first three ITA categories
are taken as the analogue of I-III, and Monk Skin Tone (Monk, 2019) 1-5 / 6-10 likewise. These
correspondences are conventions, not calibrated equivalences between the scales.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

import numpy as np
import pandas as pd

from frbench.errors import DatasetError
# The scales live in frbench.label.skin_tone_scale, below both the labelling tools and this module.
from frbench.label.skin_tone_scale import (  # noqa: F401 (re-exported: the scales' long-standing home)
    DARKER,
    FITZPATRICK_BINARY,
    FITZPATRICK_TYPES,
    ITA_BINARY,
    ITA_CATEGORIES,
    ITA_CATEGORY_BOUNDS,
    LIGHTER,
    MONK_BINARY,
    MONK_TONES,
    fitzpatrick_type,
    monk_tone,
)
from frbench.tables import UNKNOWN, validate_image_table

SCALES = ("ita", "fitzpatrick", "monk")
FITZPATRICK_WHAT = "Fitzpatrick type (1-6 or I-VI)"
MONK_WHAT = "Monk skin tone (1-10)"


def ita_category(ita: np.ndarray | pd.Series | list[float] | float) -> np.ndarray:
    """The ITA category of each value (``ITA_CATEGORY_BOUNDS``); NaN gives ``unknown``."""
    values = np.atleast_1d(np.asarray(ita, dtype=np.float64))
    out = np.full(values.shape, UNKNOWN, dtype=object)
    for name, low, high in ITA_CATEGORY_BOUNDS:
        out[(values > low) & (values <= high)] = name
    # -inf is not > -inf, yet it is as dark as it gets.
    out[values == -math.inf] = "dark"
    return out


def binary_from_ita_category(categories: np.ndarray | pd.Series | list[str]) -> np.ndarray:
    """``lighter`` for very_light/light/intermediate, ``darker`` for tan/brown/dark; ``unknown`` stays.
    Any other value raises DatasetError naming it."""
    return _map_labels(categories, _ita_category, ITA_BINARY, f"ITA category (one of {list(ITA_CATEGORIES)})")


def binary_from_fitzpatrick(types: np.ndarray | pd.Series | list) -> np.ndarray:
    """``lighter`` for Fitzpatrick I-III, ``darker`` for IV-VI.

    Accepts 1-6 (int, integral float or digit string) and roman numerals I-VI (any case);
    missing values (NaN, None, ``""``, ``unknown``) give ``unknown``; anything else raises
    DatasetError naming the value.
    """
    return _map_labels(types, fitzpatrick_type, FITZPATRICK_BINARY, FITZPATRICK_WHAT)


def binary_from_monk(tones: np.ndarray | pd.Series | list) -> np.ndarray:
    """``lighter`` for Monk Skin Tone 1-5, ``darker`` for 6-10 (int, integral float or digit string);
    missing values give ``unknown``; anything else raises DatasetError naming the value."""
    return _map_labels(tones, monk_tone, MONK_BINARY, MONK_WHAT)


def annotate_skin_tone(
    images: pd.DataFrame,
    per_subject_ita: pd.DataFrame | None = None,
    source_column: str | None = None,
    scale: str = "ita",
) -> pd.DataFrame:
    """Add subject-level skin-tone columns to an ImageTable.

    Parameters
    ----------
    images : ImageTable.
    per_subject_ita : ``subject_id, ita`` (from :func:`frbench.annotate.ita.subject_ita`); used with
        ``scale='ita'``. Subjects absent from it are ``unknown``.
    source_column : a column of ``images`` holding per-image values: ITA in degrees for
        ``scale='ita'`` (instead of ``per_subject_ita``), or the dataset's own Fitzpatrick / Monk labels.
    scale : ``ita``, ``fitzpatrick`` or ``monk``.

    Returns
    -------
    A copy of ``images`` with ``skin_tone`` (``lighter``/``darker``/``unknown``),
    ``skin_tone_category`` (ITA category, Fitzpatrick ``I``-``VI`` or Monk ``1``-``10``),
    ``ita`` (the subject's ITA, NaN for the label scales) and ``skin_tone_source`` (``ita``,
    ``dataset`` for the dataset's own Fitzpatrick or Monk labels, or ``unknown`` where the tone is
    unknown).

    A subject's value is the median over its images, applied to all of them. For the ordinal
    label scales it is the lower median (``statistics.median_low``), so it stays on the scale; an
    even number of disagreeing labels therefore resolves one step lighter.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    images = validate_image_table(images)
    if source_column is not None and source_column not in images.columns:
        raise DatasetError(f"image table has no skin-tone source column {source_column!r}")
    subjects = images["subject_id"]
    ids = images["image_id"].to_numpy()
    if scale == "ita":
        if (per_subject_ita is None) == (source_column is None):
            raise ValueError("scale='ita' needs exactly one of per_subject_ita and source_column")
        if per_subject_ita is not None:
            by_subject = _subject_table_ita(per_subject_ita)
        else:
            by_subject = _numeric_ita(images[source_column], ids, source_column).groupby(subjects).median()
        ita = subjects.map(by_subject).astype(float).to_numpy()
        category = ita_category(ita)
        source = "ita"
    else:
        if source_column is None:
            raise ValueError(f"scale={scale!r} needs source_column (the column of the dataset's labels)")
        if scale == "fitzpatrick":
            normalise, order, what = fitzpatrick_type, FITZPATRICK_TYPES, FITZPATRICK_WHAT
        else:
            normalise, order, what = monk_tone, MONK_TONES, MONK_WHAT
        labels = _map_labels(images[source_column], normalise, {t: t for t in order}, what, ids, source_column)
        rank = {t: i for i, t in enumerate(order)}
        ranks: dict[str, list[int]] = {}
        for subject, label in zip(subjects, labels):
            if label != UNKNOWN:
                ranks.setdefault(subject, []).append(rank[label])
        by_subject = {s: order[statistics.median_low(r)] for s, r in ranks.items()}
        category = np.array([by_subject.get(s, UNKNOWN) for s in subjects], dtype=object)
        ita = np.full(len(images), np.nan)
        source = "dataset"
    mapping = {"ita": ITA_BINARY, "fitzpatrick": FITZPATRICK_BINARY, "monk": MONK_BINARY}[scale]
    binary = np.array([mapping.get(c, UNKNOWN) for c in category], dtype=object)
    out = images.copy()
    out["skin_tone"] = binary.astype(str)
    out["skin_tone_category"] = category.astype(str)
    out["ita"] = ita
    out["skin_tone_source"] = np.where(binary == UNKNOWN, UNKNOWN, source)
    return out


def _subject_table_ita(per_subject_ita: pd.DataFrame) -> pd.Series:
    missing = [c for c in ("subject_id", "ita") if c not in per_subject_ita.columns]
    if missing:
        raise ValueError(f"per_subject_ita lacks column(s) {missing}")
    dup = per_subject_ita["subject_id"][per_subject_ita["subject_id"].duplicated()]
    if len(dup):
        raise ValueError(f"per_subject_ita has duplicate subject_id {dup.iloc[0]!r}")
    return per_subject_ita.set_index("subject_id")["ita"].astype(float)


def _numeric_ita(column: pd.Series, ids: np.ndarray, name: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce").astype(float)
    bad = values.isna().to_numpy() & ~np.array([_is_missing(v) for v in column], dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"column {name!r}, image {ids[i]!r}: ITA value {column.iloc[i]!r} is not a number")
    return values


def _ita_category(value: object) -> str:
    if value in ITA_BINARY:
        return str(value)
    raise KeyError(value)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", UNKNOWN)


def _map_labels(
    values, normalise, mapping: Mapping[str, str], what: str, ids=None, column: str | None = None
) -> np.ndarray:
    """Map each label through ``normalise`` then ``mapping``; missing -> unknown, else DatasetError."""
    items = [values] if isinstance(values, str) else list(values)
    out = np.empty(len(items), dtype=object)
    for i, value in enumerate(items):
        if _is_missing(value):
            out[i] = UNKNOWN
            continue
        try:
            out[i] = mapping[normalise(value)]
        except (KeyError, ValueError):
            where = f"column {column!r}, image {ids[i]!r}: " if ids is not None else ""
            raise DatasetError(f"{where}{value!r} is not a valid {what}") from None
    return out
