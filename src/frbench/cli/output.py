"""How the command line shows things: tables fitted to the terminal, JSON, the command to resume.

Presentation only; the tables themselves come from the commands (``frbench.cli.models``' status
table) and the library (``frbench.workflows.summary``).
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
from collections.abc import Sequence
from typing import Any

import pandas as pd
from tabulate import tabulate

# tabulate's "simple" format puts two spaces between columns
GAP = 2
# A column narrower than this after wrapping is more noise than help: it is left out instead.
MIN_WRAPPED = 20


def terminal_width(default: int = 80) -> int:
    """Columns of the terminal: ``$COLUMNS`` first, then the terminal itself, else ``default``."""
    return shutil.get_terminal_size(fallback=(default, 24)).columns


def command_line(argv: Sequence[str], prog: str = "frbench") -> str:
    """The command as the user gave it, quoted for a POSIX shell, so that pasting it repeats it exactly."""
    return shlex.join([prog, *argv])


def _natural_width(frame: pd.DataFrame, column: str) -> int:
    cells = frame[column].astype(str)
    return max([len(column), *(max(map(len, c.splitlines() or [""])) for c in cells)])


def fit_table(frame: pd.DataFrame, width: int, keep: Sequence[str]) -> tuple[str, list[str]]:
    """``frame`` as a plain-text table whose lines are at most ``width`` characters.

    The ``keep`` columns are always shown (their cells wrapped, the widest first, if they alone
    are too wide); every other column follows in order if it fits, wrapped to the room left but no
    narrower than ``MIN_WRAPPED``, and is left out otherwise. Returns the text and the names of the
    columns left out.
    """
    keep = [c for c in keep if c in frame.columns]
    widths = {c: _natural_width(frame, c) for c in frame.columns}
    chosen = {c: widths[c] for c in keep}
    budget = width - GAP * (len(chosen) - 1)
    while sum(chosen.values()) > budget and max(chosen.values()) > 1:
        widest = max(chosen, key=lambda c: chosen[c])
        chosen[widest] -= 1
    for column in frame.columns:
        if column in chosen:
            continue
        room = width - sum(chosen.values()) - GAP * len(chosen)
        if room >= min(widths[column], MIN_WRAPPED):
            chosen[column] = min(widths[column], room)
    while True:
        columns = [c for c in frame.columns if c in chosen]
        text = tabulate(
            frame[columns], headers="keys", tablefmt="simple", showindex=False, disable_numparse=True,
            maxcolwidths=[chosen[c] for c in columns], maxheadercolwidths=[chosen[c] for c in columns],
        )
        # tabulate pads short headers and cannot break every word: measure, then give way
        overflow = max(map(len, text.splitlines())) - width
        optional = [c for c in columns if c not in keep]
        if overflow <= 0 or (not optional and max(chosen.values()) <= 1):
            return text, [c for c in frame.columns if c not in chosen]
        if optional:
            del chosen[optional[-1]]
        else:
            widest = max(chosen, key=lambda c: chosen[c])
            chosen[widest] = max(1, chosen[widest] - overflow)


def full_table(frame: pd.DataFrame) -> str:
    """Every column, nothing wrapped: one line per row (``--wide``)."""
    return tabulate(frame, headers="keys", tablefmt="simple", showindex=False, disable_numparse=True)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def to_json(obj: Any, sort_keys: bool = True) -> str:
    """Strict JSON (NaN and infinities as null), keys sorted unless ``sort_keys`` is False."""
    return json.dumps(_json_safe(obj), indent=2, sort_keys=sort_keys, default=str, allow_nan=False)


def table_json(frame: pd.DataFrame) -> str:
    """A table as a JSON list of records, every column kept, in the table's column order."""
    return to_json(json.loads(frame.to_json(orient="records")), sort_keys=False)
