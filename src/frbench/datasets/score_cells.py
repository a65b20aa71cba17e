"""Score cells of another tool's file as floats, with the file and line of the first bad one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from frbench.errors import DatasetError


def parse_scores(cells: pd.Series, path: Path, what: str = "score") -> np.ndarray:
    """Floats from text cells indexed by line; ``nan`` (any case) and empty cells are NaN.

    Raises DatasetError naming ``path`` and the line of the first cell that is not a number or is
    infinite.
    """
    text = cells.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    declared_nan = text.str.lower().isin(["nan", ""]).to_numpy()
    bad = (np.isnan(values) & ~declared_nan) | np.isinf(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetError(f"{path}:{cells.index[i]}: {what} {text.iloc[i]!r} is not a finite number")
    return values
