"""Markdown primitives every report.md section uses: a table, a rate with its interval, a threshold."""

from __future__ import annotations

import pandas as pd
from tabulate import tabulate


def md_table(frame: pd.DataFrame) -> str:
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt="g")


def fmt_rate(value: float, low: float | None = None, high: float | None = None) -> str:
    """A rate with its interval, e.g. ``0.0123 [0.0101, 0.0150]``; NaN (no pairs) shows as ``n/a``."""
    if pd.isna(value):
        return "n/a"
    text = f"{value:.4g}"
    if low is not None and high is not None and not pd.isna(low):
        text += f" [{low:.4g}, {high:.4g}]"
    return text


def fmt_threshold(value: float) -> str:
    """A threshold with as many digits as tell it apart: 6 significant where they give the value back,
    else the shortest exact form (a threshold just above tied scores at 0.7 is 0.7000000000000001,
    which "0.7" would hide: a fixed threshold at 0.7 lets those scores match)."""
    short = f"{value:.6g}"
    return short if float(short) == float(value) else repr(float(value))
