"""The one line-numbered CSV reader: every table frbench reads (dataset manifests, pair and score
lists, label files) goes through :func:`read_csv_rows`, so every problem names the file and the
line an editor shows (the header is line 1; a quoted cell spanning lines counts its lines)."""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.errors import DatasetError
from frbench.io.spreadsheet import unescape_cell, unescape_frame


def read_csv_rows(
    path: Path,
    what: str = "file",
    *,
    empty_ok: bool = False,
    unescape: bool = True,
    check_header: Callable[[list[str]], None] | None = None,
) -> pd.DataFrame:
    """All cells as stripped strings (empty, never NaN), indexed by the line each row starts on.

    A UTF-8 CSV (a byte-order mark is skipped), header line first; header names are stripped, blank
    lines skipped. Every problem is a DatasetError naming ``path`` and, where there is one, the
    line: a missing file (``"<path>: <what> not found"``), text that is not UTF-8, a column named
    twice, a row with more or fewer fields than the header, a quoted field never closed, an empty
    file or (unless ``empty_ok``) no rows below the header. With ``empty_ok``, an empty file gives
    a frame without columns and a header-only file one without rows, for the caller to judge.
    ``unescape``: undo :func:`frbench.io.spreadsheet.escape_cell` (for tables frbench or a
    spreadsheet wrote); formats written without it (label files) pass False. ``check_header``:
    called with the stripped header names (``[]`` for an empty file) before any row is read, so a
    file of another format is refused as such rather than by its first row that does not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: {what} not found")
    header = _read_header(path) if check_header is not None else None
    if check_header is not None and header is not None:
        check_header(header)
    try:
        with warnings.catch_warnings():
            # pandas drops the extra cells of a first data row longer than the header, with only
            # a warning (or, without index_col=False, silently shifts every column).
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # keep_default_na=False: "NA", "None", "null" are values here, not missing data.
            table = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
                encoding="utf-8-sig",
            )
    except pd.errors.ParserWarning as exc:
        line = _record_start_line(path, 2)
        raise DatasetError(f"{path}:{line}: more fields than the header has") from exc
    except pd.errors.EmptyDataError as exc:
        if empty_ok:
            return pd.DataFrame()
        raise DatasetError(f"{path}:1: the file is empty, expected a header line") from exc
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, record, saw = (int(g) for g in found.groups())
            line = _record_start_line(path, record)
            raise DatasetError(f"{path}:{line}: {saw} fields, the header has {expected}") from exc
        unclosed = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if unclosed:
            # pandas counts rows from 0 at the header: row r is the (r + 1)-th record
            line = _record_start_line(path, int(unclosed.group(1)) + 1)
            raise DatasetError(f"{path}:{line}: a quoted field opened on this line is never closed") from exc
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    _check_header(path)
    if check_header is not None and header is None:  # the csv module could not read it; pandas could
        check_header([str(c).strip() for c in table.columns])
    # A cell frbench (or a spreadsheet) wrote as '=... to keep it from running as a formula reads
    # back as written (frbench.io.spreadsheet.escape_cell), so tables frbench wrote round-trip.
    table.columns = [(unescape_cell if unescape else str)(str(c).strip()) for c in table.columns]
    # Per-cell passes cost a Python call per cell; the raw bytes say which a file can need.
    raw = path.read_bytes()
    # A quoted cell may span lines; count them so that reported lines match the editor's. Without
    # a '"' in the file no cell is quoted, so none spans lines.
    spans = (
        sum((table[c].str.count("\n") for c in table.columns), pd.Series(0, index=table.index))
        if b'"' in raw else pd.Series(0, index=table.index)
    )
    before = np.concatenate([[0], np.cumsum(spans.to_numpy())])[: len(table)]
    table.index = 2 + np.arange(len(table)) + before
    table = table.apply(lambda col: col.str.strip())
    blank = ~(table != "").any(axis=1)
    _refuse_short_rows(path, table, blank)
    # An escaped cell holds a "'"; without one below the header line (the names are unescaped
    # above), none does. A file without "\n" is searched whole.
    below_header = raw[raw.find(b"\n") + 1:]
    if unescape and b"'" in below_header:
        table = unescape_frame(table)
    # skip_blank_lines=False keeps line numbering exact; blank rows are then dropped here.
    table = table[~blank]
    if table.empty and not empty_ok:
        raise DatasetError(f"{path}:2: no rows below the header")
    return table


def _refuse_short_rows(path: Path, table: pd.DataFrame, blank: pd.Series) -> None:
    """Refuse a row with fewer fields than the header (pandas fills it with empty cells).

    Left unchecked, ``a.jpg,b.jpg`` under ``file_x,file_y,Decision`` would read as an empty
    Decision. A short row always ends in an empty cell, so the file is re-read with the csv module
    only when some row does.
    """
    if table.empty or not (table.iloc[:, -1] == "").to_numpy()[~blank.to_numpy()].any():
        return
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        try:
            counts = np.array([len(record) for record in reader])
        except csv.Error:
            return  # pandas read it; nothing more to learn here
    if counts.size != len(table):
        return  # the two parsers split records differently: no reliable row to name
    short = (counts < len(table.columns)) & ~blank.to_numpy()
    if short.any():
        row = int(np.argmax(short))
        n = int(counts[row])
        raise DatasetError(
            f"{path}:{table.index[row]}: {n} field{'s' if n != 1 else ''}, the header has {len(table.columns)} "
            f"({', '.join(map(str, table.columns))})"
        )


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> DatasetError:
    return DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})")


def _read_header(path: Path) -> list[str] | None:
    """The header's names, stripped, as the csv module reads them (``[]`` for an empty file); None
    where it cannot parse them (pandas then names the problem)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except csv.Error:
        return None
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _check_header(path: Path) -> None:
    """Refuse a column named twice: pandas would rename the second ('x.1') and use the first only."""
    header = _read_header(path)
    if header is None:
        return  # pandas read the file; a header the csv module cannot parse has no repeats to find
    repeated = [name for i, name in enumerate(header) if name and name in header[:i]]
    if repeated:
        raise DatasetError(f"{path}:1: column {repeated[0]!r} appears twice in the header")


def _record_start_line(path: Path, record: int) -> int:
    """Line on which the 1-based CSV record starts; records differ from lines when a quoted cell
    spans lines (pandas reports records)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for _ in range(record - 1):
            if next(reader, None) is None:
                break
        return reader.line_num + 1
