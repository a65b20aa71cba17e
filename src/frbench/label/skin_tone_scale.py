"""The skin-tone scales frbench reads, and their lighter/darker split: ITA categories, Fitzpatrick
types, Monk Skin Tone.

ITA categories (Chardon et al., 1991; Del Bino & Bernerd, 2013, Br. J. Dermatol. 169 Suppl 3),
ITA in degrees, lower bound exclusive, upper inclusive (``ITA_CATEGORY_BOUNDS``). The binary split
follows Gender Shades (Buolamwini & Gebru, FAT* 2018): Fitzpatrick I-III are ``lighter``, IV-VI
``darker``; the first three ITA categories and Monk 1-5 likewise (conventions, not calibrated
equivalences; see :mod:`frbench.annotate.skin_tone`, which maps images to them).

Kept here, at the bottom of the labelling tools, so that label files, the labelling order and
the annotation code all read one definition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

LIGHTER = "lighter"
DARKER = "darker"

# (category, lower bound exclusive, upper bound inclusive), in degrees, lightest first.
ITA_CATEGORY_BOUNDS = (
    ("very_light", 55.0, math.inf),
    ("light", 41.0, 55.0),
    ("intermediate", 28.0, 41.0),
    ("tan", 10.0, 28.0),
    ("brown", -30.0, 10.0),
    ("dark", -math.inf, -30.0),
)
ITA_CATEGORIES = tuple(name for name, _, _ in ITA_CATEGORY_BOUNDS)
ITA_BINARY: Mapping[str, str] = {
    "very_light": LIGHTER,
    "light": LIGHTER,
    "intermediate": LIGHTER,
    "tan": DARKER,
    "brown": DARKER,
    "dark": DARKER,
}
FITZPATRICK_TYPES = ("I", "II", "III", "IV", "V", "VI")
FITZPATRICK_BINARY: Mapping[str, str] = {t: LIGHTER if i <= 3 else DARKER for i, t in enumerate(FITZPATRICK_TYPES, 1)}
MONK_TONES = tuple(str(i) for i in range(1, 11))
MONK_BINARY: Mapping[str, str] = {t: LIGHTER if int(t) <= 5 else DARKER for t in MONK_TONES}


def fitzpatrick_type(value: object) -> str:
    """Normalise one Fitzpatrick label to its roman numeral ``I``-``VI``; KeyError when it is none."""
    text = _label_text(value).upper()
    if text in FITZPATRICK_TYPES:
        return text
    if text.isdigit() and 1 <= int(text) <= 6:
        return FITZPATRICK_TYPES[int(text) - 1]
    raise KeyError(value)


def monk_tone(value: object) -> str:
    """Normalise one Monk Skin Tone label to ``1``-``10``; KeyError when it is none."""
    text = _label_text(value)
    if text.isdigit() and 1 <= int(text) <= 10:
        return str(int(text))
    raise KeyError(value)


def _label_text(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
