"""Embedding stage: ImageTable -> one deepface embedding per image, cached on disk.

``embed_images`` checks the weights first (offline runs stop before any work), hashes every file once,
reuses cached results for (pipeline fingerprint, content hash), embeds only what is missing, and stores
results chunk by chunk so an interrupted run keeps its finished work. Identical files under several
image ids are embedded once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from frbench.embed import executors
from frbench.embed.backend import MISSING, UNREADABLE, EmbedResult, Pipeline
from frbench.embed.cache import EmbeddingCache, content_hash
from frbench.embed.weights import ensure_weights
from frbench.errors import ConfigError, DatasetError, FrbenchError
from frbench.tables import OK

__all__ = ["EXECUTORS", "EmbedStats", "Embeddings", "embed_images"]

EXECUTORS = ("serial", "processes")
CACHE_FILE = "embeddings.sqlite"
# images per worker task, and per cache commit
CHUNK_SIZE = 16


@dataclass
class Embeddings:
    """Embeddings of an ImageTable (docs/ARCHITECTURE.md, Embeddings).

    ``matrix`` row i belongs to ``image_ids[i]``; rows of images whose status is not ``ok`` are NaN.
    When no image at all was embedded the matrix has 0 columns, the dimension being unknown.
    """

    image_ids: list[str]
    matrix: np.ndarray
    status: pd.Series
    detail: pd.Series


@dataclass
class EmbedStats:
    """Counts of one ``embed_images`` call, per image row.

    ``n_cached``: rows whose result came from the cache; ``n_computed``: rows whose file was embedded
    by this call (several rows sharing one file count each, the file is embedded once);
    ``n_failed``: rows whose status is not ``ok`` (missing files included); ``seconds``: wall time.
    """

    n_images: int
    n_cached: int
    n_computed: int
    n_failed: int
    seconds: float


def _check_inputs(images: pd.DataFrame, executor: str, workers: int | None) -> None:
    absent = [c for c in ("image_id", "path") if c not in images.columns]
    if absent:
        raise DatasetError(f"image table lacks column(s) {absent}")
    dup = images["image_id"][images["image_id"].duplicated()]
    if len(dup):
        raise DatasetError(f"image table has duplicate image_id {dup.iloc[0]!r} ({len(dup)} duplicates)")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")


def _run(
    paths: list[str], pipeline: Pipeline, executor: str, workers: int | None
) -> Generator[tuple[int, EmbedResult], None, None]:
    if workers is None:
        # the CPUs this process may run on (a container or taskset may allow fewer than cpu_count)
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # one worker, or a single chunk of work, gains nothing from a pool but its start-up time
    if executor == "serial" or workers == 1 or len(paths) <= CHUNK_SIZE:
        return executors.run_serial(paths, pipeline)
    return executors.run_processes(paths, pipeline, workers=workers, chunk_size=CHUNK_SIZE)


def _matrix(results: list[EmbedResult]) -> np.ndarray:
    dims = {r.vector.size for r in results if r.status == OK and r.vector is not None}
    if len(dims) > 1:
        raise FrbenchError(
            f"embeddings of one pipeline have different sizes {sorted(dims)}: inconsistent cache"
        )
    matrix = np.full((len(results), dims.pop() if dims else 0), np.nan, dtype=np.float32)
    for row, result in enumerate(results):
        if result.status == OK:
            matrix[row] = result.vector
    return matrix


def embed_images(
    images: pd.DataFrame,
    pipeline: Pipeline,
    cache_dir: Path,
    executor: str = "processes",
    workers: int | None = None,
    progress: bool = True,
    offline: bool = False,
) -> tuple[Embeddings, EmbedStats]:
    """Embed every image of ``images`` (columns ``image_id``, ``path``) with ``pipeline``.

    Results are cached in ``cache_dir/embeddings.sqlite`` under (``pipeline.fingerprint()``, sha256 of
    the file); only files absent from the cache are embedded, by ``executor`` (``serial`` or
    ``processes``; ``workers`` defaults to the usable CPU count; with one worker, or no more than
    ``CHUNK_SIZE`` files to embed, the work runs in this process). With ``processes`` the calling
    script needs the ``if __name__ == "__main__":`` guard (workers are spawned). A file that
    does not exist is recorded as ``missing`` without calling the model; every other outcome, failures
    included, is cached. Raises WeightsMissingError before any work when ``offline`` and a weight file
    is absent.
    """
    _check_inputs(images, executor, workers)
    ensure_weights(pipeline.model, pipeline.detector, offline)
    started = time.perf_counter()
    image_ids = images["image_id"].astype(str).tolist()
    paths = images["path"].astype(str).tolist()

    # one result per distinct path; files are identified by content for the cache
    by_path: dict[str, EmbedResult] = {}
    hash_of: dict[str, str] = {}
    for path in dict.fromkeys(paths):
        try:
            digest = content_hash(path)
        except OSError as err:
            by_path[path] = EmbedResult(None, UNREADABLE, f"{type(err).__name__}: {err}")
            continue
        if digest is None:
            by_path[path] = EmbedResult(None, MISSING, f"no file at {path}")
        else:
            hash_of[path] = digest

    fingerprint = pipeline.fingerprint()
    computed_hashes: set[str] = set()
    with EmbeddingCache(Path(cache_dir) / CACHE_FILE) as cache:
        by_hash = cache.get_many(fingerprint, hash_of.values())
        cached_hashes = set(by_hash)
        todo_hashes = list(dict.fromkeys(h for h in hash_of.values() if h not in by_hash))
        path_of = {h: p for p, h in reversed(hash_of.items())}
        todo_paths = [path_of[h] for h in todo_hashes]
        bar = tqdm(
            total=len(todo_paths), unit="img", desc=f"embedding ({pipeline.model}/{pipeline.detector})",
            disable=not progress or not todo_paths,
        )
        pending: list[tuple[str, EmbedResult]] = []
        try:
            with closing(_run(todo_paths, pipeline, executor, workers)) as computed:
                for index, result in computed:
                    by_hash[todo_hashes[index]] = result
                    computed_hashes.add(todo_hashes[index])
                    pending.append((todo_hashes[index], result))
                    bar.update()
                    if len(pending) >= CHUNK_SIZE:
                        cache.put_many(fingerprint, pending)
                        pending = []
        finally:
            # also on an interruption, so a stopped run keeps what it finished
            cache.put_many(fingerprint, pending)
            bar.close()

    for path, digest in hash_of.items():
        by_path[path] = by_hash[digest]
    results = [by_path[p] for p in paths]
    status = pd.Series([r.status for r in results], index=image_ids, name="status", dtype="str")
    detail = pd.Series([r.detail for r in results], index=image_ids, name="detail", dtype="str")
    embeddings = Embeddings(image_ids=image_ids, matrix=_matrix(results), status=status, detail=detail)
    stats = EmbedStats(
        n_images=len(image_ids),
        n_cached=sum(hash_of.get(p) in cached_hashes for p in paths),
        n_computed=sum(hash_of.get(p) in computed_hashes for p in paths),
        n_failed=int((status != OK).sum()),
        seconds=time.perf_counter() - started,
    )
    return embeddings, stats
