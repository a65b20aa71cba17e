"""SQLite cache of embeddings keyed by (pipeline fingerprint, sha256 of the image file's bytes).

Keying by content rather than path means a moved or renamed image is not embedded again and an edited
one is. Vectors are stored as little-endian float32 bytes (``dim`` per face; a row of several
faces, for ``multiple_faces: all-best``, holds them one after another) and read back with ``np.frombuffer`` (never
pickle, so a cache file from elsewhere cannot execute code). Failures are stored too: for a given
pipeline and file they are deterministic. The database runs in WAL mode with a busy timeout so that
several processes can read and write one file at once.
"""

from __future__ import annotations

import os

import hashlib
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import numpy as np

from frbench.embed.backend import STATUSES, EmbedResult
from frbench.errors import FrbenchError
from frbench.tables import OK

_DTYPE = np.dtype("<f4")
_BUSY_TIMEOUT_S = 120.0
# stays below SQLite's default limit of host parameters per statement
_QUERY_BATCH = 500
_HASH_BLOCK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    fingerprint TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB,
    checksum TEXT,
    PRIMARY KEY (fingerprint, content_hash)
) WITHOUT ROWID
"""


def content_hash(path: str | Path) -> str | None:
    """sha256 hex digest of the file's bytes, read in 1 MiB blocks; None when there is no such file."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(_HASH_BLOCK):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _checksum(status: str, detail: str, dim: int, blob: bytes | None) -> str:
    """sha256 over a row's content, so a flipped bit in a stored vector is caught on reading."""
    digest = hashlib.sha256(f"{status}\0{detail}\0{dim}\0".encode())
    digest.update(blob or b"")
    return digest.hexdigest()


def _decode(status: str, detail: str, dim: int, blob: bytes | None, checksum: str | None) -> EmbedResult | None:
    """The stored result, or None for a row that cannot be trusted (treated as absent).

    A row without a checksum (written before checksums existed) is not trusted either.
    """
    if status not in STATUSES:
        return None
    if not isinstance(blob, (bytes, type(None))) or checksum != _checksum(status, detail, dim, blob):
        return None
    if status != OK:
        return EmbedResult(None, status, detail)
    row_bytes = dim * _DTYPE.itemsize
    if blob is None or dim <= 0 or len(blob) == 0 or len(blob) % row_bytes:
        return None
    vector = np.frombuffer(blob, dtype=_DTYPE).astype(np.float32)
    if not np.isfinite(vector).all():
        return None
    if len(blob) > row_bytes:
        # several faces of one image (multiple_faces: all-best), one row each
        vector = vector.reshape(-1, dim)
    return EmbedResult(vector, OK, detail)


def _encode(result: EmbedResult) -> tuple[str, str, int, bytes | None, str]:
    if result.status not in STATUSES:
        raise ValueError(f"unknown embedding status {result.status!r}")
    if result.status != OK:
        row: tuple[str, str, int, bytes | None] = (result.status, result.detail, 0, None)
    else:
        vector = result.vector
        if vector is None or vector.ndim not in (1, 2) or vector.size == 0 or not np.isfinite(vector).all():
            raise ValueError("an 'ok' result needs a non-empty, finite 1-d vector (or 2-d: one row per face)")
        # dim is the length of one embedding; a blob of several rows holds several faces
        row = (OK, result.detail, int(vector.shape[-1]), np.ascontiguousarray(vector, dtype=_DTYPE).tobytes())
    return (*row, _checksum(*row))


class EmbeddingCache:
    """One SQLite file of embeddings; safe to share between processes.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: put_many opens its own transaction
        self._conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            self._setup_with_retry()
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(embeddings)")}
            if "checksum" not in columns:
                # a cache from before checksums: its rows read as untrusted and are recomputed
                self._conn.execute("ALTER TABLE embeddings ADD COLUMN checksum TEXT")
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise self._unusable(err) from err

    def _setup_with_retry(self) -> None:
        """WAL mode and the schema. Two processes opening a new cache at once can get "database is
        locked" from the journal-mode switch without SQLite's busy handler being called: wait and
        retry, as the busy timeout would, before calling the cache unusable."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get_many(self, fingerprint: str, hashes: Iterable[str]) -> dict[str, EmbedResult]:
        """Cached results of ``fingerprint`` for these content hashes; absent or corrupt rows are left out."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, EmbedResult] = {}
        for start in range(0, len(wanted), _QUERY_BATCH):
            batch = wanted[start : start + _QUERY_BATCH]
            try:
                rows = self._conn.execute(
                    # CAST: a value stored as TEXT would otherwise come back decoded as UTF-8
                    "SELECT content_hash, status, detail, dim, CAST(vector AS BLOB), checksum FROM embeddings "
                    f"WHERE fingerprint = ? AND content_hash IN ({', '.join('?' * len(batch))})",
                    (fingerprint, *batch),
                ).fetchall()
            except sqlite3.DatabaseError as err:
                raise self._unusable(err) from err
            for content, status, detail, dim, blob, checksum in rows:
                result = _decode(status, detail, dim, blob, checksum)
                if result is not None:
                    found[content] = result
        return found

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, EmbedResult]]) -> int:
        """Store results (replacing any under the same key) in one transaction; returns how many."""
        rows = [(fingerprint, content, *_encode(result)) for content, result in items]
        if not rows:
            return 0
        # BEGIN IMMEDIATE takes the write lock up front, so a busy database waits out the timeout
        # instead of failing when a read transaction would have to be upgraded
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings (fingerprint, content_hash, status, detail, dim, vector, checksum) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.DatabaseError as err:
            self._conn.execute("ROLLBACK")
            raise self._unusable(err) from err
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return len(rows)

    def _unusable(self, err: sqlite3.DatabaseError) -> FrbenchError:
        return FrbenchError(f"embedding cache {self.path} is unusable ({err}); delete it to start afresh")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def resolve_cache_dir(configured: str | Path | None = None) -> Path:
    """Where embeddings are cached: ``cache.dir`` of the config, else ``$FRBENCH_CACHE``, else the
    platform's user cache directory for frbench."""
    if configured is not None:
        return Path(configured)
    env = os.environ.get("FRBENCH_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("frbench"))
