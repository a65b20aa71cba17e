"""The SQLite store every per-image estimate (ITA, the estimator's features) is cached in.

Rows are keyed by (fingerprint of the options, sha256 of the file): a moved file is not measured
again, a changed one is. Writes are batched, committed every ``COMMIT_EVERY`` rows and on close,
so that an interrupted pass keeps what it measured.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

COMMIT_EVERY = 500


class ImageStore:
    """One table of per-image results for one options fingerprint; subclasses map rows to results."""

    def __init__(self, path: Path, fingerprint: str, create_table: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fingerprint = fingerprint
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute(create_table)
        self.pending = 0

    def _row(self, select: str, sha: str) -> tuple[Any, ...] | None:
        return self.db.execute(select, (self.fingerprint, sha)).fetchone()

    def _write(self, insert: str, values: tuple[Any, ...]) -> None:
        self.db.execute(insert, (self.fingerprint, *values))
        self.pending += 1
        if self.pending >= COMMIT_EVERY:
            self.db.commit()
            self.pending = 0

    def close(self) -> None:
        self.db.commit()
        self.db.close()
