"""Columns that several table formats share, read one way: a pair's two image references and the
``mated`` column. Cells come from :func:`frbench.io.csv_rows.read_csv_rows` (indexed by line), so
every problem names the file and line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from frbench.errors import DatasetError

TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


def image_references(table: pd.DataFrame, columns: tuple[str, str], path: Path | str) -> tuple[pd.Series, pd.Series]:
    """The two image columns of a pairs or scores file, with ``\\`` separators turned into ``/``.

    An empty reference is a DatasetError naming the file, line and column.
    """
    refs = []
    for column in columns:
        names = table[column].str.replace("\\", "/", regex=False)
        empty = names == ""
        if empty.any():
            raise DatasetError(f"{path}:{empty.idxmax()}: empty {column}")
        refs.append(names)
    return refs[0], refs[1]


def parse_mated(words: pd.Series, path: Path | str) -> pd.Series:
    """A ``mated`` column (true/false, 1/0, yes/no, any case) as bools; the index is the file line.

    Anything else is a DatasetError naming the file and line.
    """
    word = words.str.lower()
    unreadable = ~word.isin(TRUE_WORDS | FALSE_WORDS)
    if unreadable.any():
        line = unreadable.idxmax()
        raise DatasetError(f"{path}:{line}: mated {words.at[line]!r} is not true/false, 1/0 or yes/no")
    return word.isin(TRUE_WORDS)
