"""PNG figures written atomically and byte-identically on reruns."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from frbench.io.atomic import atomic_write_bytes

if TYPE_CHECKING:  # a figure is passed in; this module does not need matplotlib to import
    from matplotlib.figure import Figure


def save_png(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG atomically, without creation metadata, so reruns give identical bytes."""
    buf = io.BytesIO()
    # A fixed creation date in the metadata keeps reruns byte-identical.
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue())
