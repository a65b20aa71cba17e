"""Spreadsheet-safe CSV: text cells no spreadsheet runs as a formula, written atomically, read back unchanged."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.io.atomic import write_text


# A text cell starting with one of these is run as a formula by Excel, LibreOffice and Google
# Sheets (OWASP, "CSV Injection"; ASVS 5.0 V1.2.10 adds NUL).
FORMULA_START = "=+-@\t\r\0"
_NEEDS_QUOTE = re.compile("^'*[" + re.escape(FORMULA_START) + "]")
_QUOTED = re.compile("^'+[" + re.escape(FORMULA_START) + "]")


def escape_cell(value: str) -> str:
    """``value`` made safe to open in a spreadsheet: a leading ``'`` where it would start a formula.

    OWASP's advice: a cell beginning with ``=``, ``+``, ``-``, ``@``, tab, carriage return (or
    NUL) gets a single quote in front, which spreadsheets take as "text" and do not show. A value
    that already starts with quotes before such a character gets one more, so that
    :func:`unescape_cell` gives back exactly the value written.
    """
    return "'" + value if _NEEDS_QUOTE.match(value) else value


def unescape_cell(value: str) -> str:
    """The value :func:`escape_cell` was given: one leading ``'`` removed where it precedes a formula start."""
    return value[1:] if _QUOTED.match(value) else value


_CARRIAGE_RETURN = re.compile(".*\r", re.S)


def _text_matching(values: pd.Series, pattern: re.Pattern[str]) -> np.ndarray:
    """Which cells are strings matching ``pattern`` (an object column may also hold booleans or numbers)."""
    return np.fromiter((isinstance(v, str) and pattern.match(v) is not None for v in values), dtype=bool, count=len(values))


def _is_text(dtype: object) -> bool:
    return dtype == object or isinstance(dtype, pd.StringDtype)


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and column name through :func:`escape_cell`; numbers (a negative score) stay numbers."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if _is_text(values.dtype) or isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
            hit = _text_matching(values, _NEEDS_QUOTE)
            if hit.any():
                values = values.copy()
                values[hit] = "'" + values[hit]
            out[column] = values
    out.columns = [escape_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A table read from a CSV frbench (or a spreadsheet) wrote, text cells and column names unescaped."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if _is_text(values.dtype):
            hit = _text_matching(values, _QUOTED)
            if hit.any():
                values = values.copy()
                values[hit] = values[hit].str[1:]
                out[column] = values
    out.columns = [unescape_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """CSV with floats at full (round-trip) precision (scores read back decide exactly as written) and
    text cells that no spreadsheet runs as a formula (:func:`escape_cell`)."""
    safe = escape_frame(frame)
    # The csv module quotes a cell holding "\n" but not one holding a bare "\r", which every
    # reader takes as a line end: a table with one quotes all its text.
    text_cells = [safe[c].astype(object) for c in safe.columns if _is_text(safe[c].dtype)]
    has_cr = any(_text_matching(col, _CARRIAGE_RETURN).any() for col in text_cells)
    quoting = csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL
    write_text(path, safe.to_csv(index=False, lineterminator="\n", quoting=quoting))
