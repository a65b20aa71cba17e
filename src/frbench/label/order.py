"""The order in which the labelling page shows subjects: seeded random, or most uncertain first.

Uncertainty of a subject's estimated tone, higher = less sure:

* from a calibrated P(darker) p: ``1 - |2 p - 1|`` (1 at p = 0.5, 0 at p = 0 or 1);
* from today's ITA estimate: ``-|ITA - cut|`` in degrees, ``cut`` being the ITA boundary between
  the categories frbench calls lighter and those it calls darker (28 degrees,
  :mod:`frbench.label.skin_tone_scale`), so subjects measured near the boundary come first.

A subject without an estimate (NaN) has the highest uncertainty: nothing is known of it, and a
an annotator's label helps most there. Ties keep the seeded random order, so ``uncertain-first`` with
equal uncertainties is the ``random`` order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows
from frbench.label.skin_tone_scale import ITA_BINARY, ITA_CATEGORY_BOUNDS, LIGHTER

ORDERS = ("random", "uncertain-first")
PROBABILITY_COLUMNS = ("subject_id", "p_darker")
# The lower bound of the darkest category frbench still calls lighter: the lighter/darker cut.
ITA_CUT = min(low for name, low, _ in ITA_CATEGORY_BOUNDS if ITA_BINARY[name] == LIGHTER)


def labelling_order(
    subjects: Sequence[str], seed: int = 0, order: str = "random", uncertainty: ArrayLike | None = None
) -> list[str]:
    """The subjects in the order they are shown.

    ``random``: the subject ids sorted, then permuted by ``np.random.default_rng(seed)``, so the
    order depends on the seed and the set of subjects only, not on the order given.
    ``uncertain-first``: that order, stably sorted by ``uncertainty`` (aligned with ``subjects``)
    from highest to lowest, NaN highest.
    """
    names = [str(s) for s in subjects]
    if len(set(names)) != len(names):
        raise ValueError("subjects must be unique")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    base = sorted(range(len(names)), key=names.__getitem__)
    perm = np.random.default_rng(seed).permutation(len(names))
    shuffled = [base[i] for i in perm]
    if order == "random":
        if uncertainty is not None:
            raise ValueError("uncertainty is for order 'uncertain-first'")
        return [names[i] for i in shuffled]
    if uncertainty is None:
        raise ValueError("order 'uncertain-first' needs an uncertainty per subject")
    u = np.asarray(uncertainty, dtype=np.float64)
    if u.shape != (len(names),):
        raise ValueError(f"uncertainty must have one value per subject ({len(names)}), got shape {u.shape}")
    key = np.where(np.isnan(u), np.inf, u)
    ranked = sorted(range(len(shuffled)), key=lambda j: -key[shuffled[j]])
    return [names[shuffled[j]] for j in ranked]


def uncertainty_from_p_darker(p: ArrayLike) -> NDArray[np.float64]:
    """``1 - |2 p - 1|`` for each P(darker) in [0, 1]; NaN stays NaN."""
    arr = np.asarray(p, dtype=np.float64)
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    return 1.0 - np.abs(2.0 * arr - 1.0)


def uncertainty_from_ita(ita: ArrayLike) -> NDArray[np.float64]:
    """``-|ITA - ITA_CUT|`` for each ITA in degrees; NaN stays NaN."""
    return -np.abs(np.asarray(ita, dtype=np.float64) - ITA_CUT)


def read_probabilities(path: Path, subjects: Iterable[str]) -> pd.Series:
    """P(darker) per subject from a CSV ``subject_id,p_darker`` (an estimator's output).

    Returns a Series indexed by every subject of ``subjects`` (NaN where the file has no
    probability, or an empty cell). Refused with file and line: another header, a subject not in
    the dataset or listed twice, a value that is not a number in [0, 1].
    """
    path = Path(path)

    def check_header(header: list[str]) -> None:
        if tuple(header) != PROBABILITY_COLUMNS:
            raise DatasetError(f"{path}:1: header {','.join(header)!r}, expected {','.join(PROBABILITY_COLUMNS)}")

    table = read_csv_rows(path, "probabilities file", empty_ok=True, unescape=False, check_header=check_header)
    known = list(dict.fromkeys(str(s) for s in subjects))
    known_set = set(known)
    values: dict[str, float] = {}
    for line, (subject, text_p) in zip(table.index, table.itertuples(index=False, name=None)):
        if subject not in known_set:
            raise DatasetError(f"{path}:{line}: subject {subject!r} is not in the dataset")
        if subject in values:
            raise DatasetError(f"{path}:{line}: subject {subject!r} is listed twice")
        try:
            p = float(text_p) if text_p else np.nan
        except ValueError:
            p = -1.0
        if not (np.isnan(p) and not text_p) and not 0.0 <= p <= 1.0:
            raise DatasetError(f"{path}:{line}: p_darker {text_p!r} is not a probability in [0, 1]")
        values[subject] = p
    return pd.Series([values.get(s, np.nan) for s in known], index=pd.Index(known, name="subject_id"), name="p_darker")
