"""SQLite embedding cache: round trip, corrupted rows, concurrent writers, content hashing."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from frbench.embed.backend import EmbedResult
from frbench.embed.cache import EmbeddingCache, content_hash
from frbench.errors import FrbenchError

FP = "f" * 64


def vec(seed: int, dim: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def test_round_trip_keeps_vectors_bit_exact_and_failures(tmp_path: Path) -> None:
    v = vec(0)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.put_many(FP, [("h1", EmbedResult(v, "ok")), ("h2", EmbedResult(None, "no_face", "no face"))]) == 2
        got = cache.get_many(FP, ["h1", "h2", "h3"])
        assert set(got) == {"h1", "h2"}
        assert got["h1"].status == "ok" and got["h1"].vector.dtype == np.float32
        assert got["h1"].vector.tobytes() == v.tobytes()
        assert (got["h2"].status, got["h2"].detail, got["h2"].vector) == ("no_face", "no face", None)
        assert cache.get_many("other-pipeline", ["h1", "h2"]) == {}
    # persisted: a new connection sees the same
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.get_many(FP, ["h1"])["h1"].vector.tobytes() == v.tobytes()


def test_put_replaces_and_get_handles_many_keys(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(FP, [("h", EmbedResult(None, "error", "boom"))])
        cache.put_many(FP, [("h", EmbedResult(vec(1), "ok"))])
        assert cache.get_many(FP, ["h"])["h"].status == "ok"
        # more keys than one query takes
        cache.put_many(FP, [(f"k{i}", EmbedResult(vec(i, 4), "ok")) for i in range(1200)])
        got = cache.get_many(FP, [f"k{i}" for i in range(1200)])
        assert len(got) == 1200 and got["k1100"].vector.tobytes() == vec(1100, 4).tobytes()


def test_corrupted_rows_are_treated_as_absent(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put_many(FP, [("good", EmbedResult(vec(2), "ok"))])
    bad = [
        ("short", "ok", 128, vec(3).tobytes()[:-4]),
        ("nan", "ok", 4, np.array([1, np.nan, 0, 0], dtype="<f4").tobytes()),
        ("nobytes", "ok", 128, None),
        ("badstatus", "weird", 0, None),
    ]
    with sqlite3.connect(path) as raw:
        raw.executemany(
            "INSERT INTO embeddings (fingerprint, content_hash, status, detail, dim, vector) VALUES (?, ?, ?, '', ?, ?)",
            [(FP, *row) for row in bad],
        )
    with EmbeddingCache(path) as cache:
        assert set(cache.get_many(FP, ["good", "short", "nan", "nobytes", "badstatus"])) == {"good"}


def test_invalid_results_are_refused(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(ValueError):
            cache.put_many(FP, [("h", EmbedResult(np.array([np.nan], dtype=np.float32), "ok"))])
        with pytest.raises(ValueError):
            cache.put_many(FP, [("h", EmbedResult(None, "ok"))])
        with pytest.raises(ValueError):
            cache.put_many(FP, [("h", EmbedResult(None, "unknown-status"))])
        assert cache.get_many(FP, ["h"]) == {}


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FrbenchError, match=str(path)):
        EmbeddingCache(path)


WRITER = textwrap.dedent(
    """
    import sys, time, numpy as np
    from pathlib import Path
    from frbench.embed.backend import EmbedResult
    from frbench.embed.cache import EmbeddingCache
    path, prefix = Path(sys.argv[1]), sys.argv[2]
    while not path.with_suffix(".go").exists():  # both writers start together
        time.sleep(0.01)
    with EmbeddingCache(path) as cache:
        for batch in range(40):
            items = [(f"{prefix}{batch}-{i}", EmbedResult(np.full(64, batch * 10 + i, np.float32), "ok"))
                     for i in range(10)]
            cache.put_many("fp", items)
            cache.get_many("fp", [k for k, _ in items])
    """
)


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), prefix], stderr=subprocess.PIPE, text=True)
        for prefix in ("a", "b")
    ]
    path.with_suffix(".go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    keys = [f"{p}{b}-{i}" for p in "ab" for b in range(40) for i in range(10)]
    with EmbeddingCache(path) as cache:
        got = cache.get_many("fp", keys)
    assert len(got) == 800
    assert np.all(got["b39-9"].vector == 399)


def test_content_hash_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    small = tmp_path / "a.jpg"
    small.write_bytes(b"abc")
    assert content_hash(small) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 "abc"
    big = tmp_path / "b.bin"
    data = np.random.default_rng(0).bytes(3 * 2**20 + 17)  # spans several read blocks
    big.write_bytes(data)
    assert content_hash(big) == hashlib.sha256(data).hexdigest()
    assert content_hash(str(big)) == content_hash(big)
    assert content_hash(tmp_path / "absent.jpg") is None
