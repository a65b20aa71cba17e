"""Embedding stage: ImageTable -> one deepface embedding per image, cached on disk.

``embed_images`` checks the weights first (offline runs stop before any work), hashes every file once,
reuses cached results for (pipeline fingerprint, content hash), embeds only what is missing, and
commits results to the cache at least once a second, so that a run stopped in any way, SIGKILL
included, keeps its finished work and a rerun picks up from there. Identical files under several
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
from frbench.embed.backend import ALL_BEST, MISSING, UNREADABLE, EmbedResult, Pipeline
from frbench.embed.cache import EmbeddingCache, content_hash
from frbench.embed.weights import ensure_weights
from frbench.errors import ConfigError, DatasetError, FrbenchError
from frbench.embed.screening import MAX_PIXELS, check_image
from frbench.tables import OK

__all__ = ["EXECUTORS", "EmbedStats", "EmbeddingInterrupted", "Embeddings", "embed_images"]

EXECUTORS = ("serial", "processes", "dask")
CACHE_FILE = "embeddings.sqlite"
# With no more files than this to embed, a process pool costs more (starting the workers and
# building a model in each) than it saves: the work runs in this process.
MIN_PARALLEL = 16
# Results wait at most this long before they are committed: all a SIGKILL can lose, besides the
# images in progress. A commit (one fsync) costs milliseconds, an image hundreds of them.
COMMIT_INTERVAL_S = 1.0


@dataclass
class Embeddings:
    """Embeddings of an ImageTable (docs/ARCHITECTURE.md, Embeddings).

    ``matrix`` row i belongs to ``image_ids[i]``; rows of images whose status is not ``ok`` are NaN.
    When no image at all was embedded the matrix has 0 columns, the dimension being unknown.
    ``faces`` (only with ``multiple_faces: all-best``): per image, a (faces, d) matrix of every face
    found, largest first (its first row is the ``matrix`` row); (0, d) for a failed image.
    """

    image_ids: list[str]
    matrix: np.ndarray
    status: pd.Series
    detail: pd.Series
    faces: list[np.ndarray] | None = None


@dataclass
class EmbedStats:
    """Counts of one ``embed_images`` call, per image row.

    ``n_cached``: rows whose result came from the cache; ``n_computed``: rows whose file was embedded
    by this call (several rows sharing one file count each, the file is embedded once);
    ``n_failed``: rows whose status is not ``ok`` (missing files included); ``seconds``: wall time;
    ``executor`` and ``workers``: what embedded them (``serial`` and 1 when the work was too small for
    a pool; for a Dask scheduler, ``workers`` is the number asked for, the cluster decides).
    """

    n_images: int
    n_cached: int
    n_computed: int
    n_failed: int
    seconds: float
    executor: str
    workers: int

    def summary(self) -> str:
        """One line for the end of a run, e.g. ``807 images: 807 embedded, 0 from cache, 3 failed; 161.0 s``."""
        return (
            f"{self.n_images} images: {self.n_computed} embedded, {self.n_cached} from cache, "
            f"{self.n_failed} failed; {self.seconds:.1f} s"
        )


class EmbeddingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``embed_images``; everything finished before it is in the cache.

    A KeyboardInterrupt, so that code which handles interrupts still does; the message says how
    many images were saved and how to resume.
    """


def _check_inputs(images: pd.DataFrame, executor: str, workers: int | None, scheduler: str | None) -> None:
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
    if scheduler is not None and executor != "dask":
        raise ConfigError(
            f"execution.scheduler {scheduler!r} is set, but it only applies to executor 'dask' (got {executor!r})"
        )


def usable_cpus() -> int:
    """The CPUs this process may run on (a container or taskset may allow fewer than cpu_count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _plan(executor: str, workers: int | None, n_todo: int) -> tuple[str, int]:
    """The executor and worker count that will really run ``n_todo`` images."""
    workers = workers if workers is not None else usable_cpus()
    if executor == "dask":
        # explicitly asked for: the cluster may be elsewhere, even for a little work
        return executor, workers
    if executor == "serial" or workers == 1 or n_todo <= MIN_PARALLEL:
        return "serial", 1
    return executor, workers


def _run(
    paths: list[str], pipeline: Pipeline, executor: str, workers: int, scheduler: str | None
) -> Generator[tuple[int, EmbedResult], None, None]:
    if executor == "serial":
        return executors.run_serial(paths, pipeline)
    size = executors.chunk_size(len(paths), workers)
    if executor == "dask":
        return executors.run_dask(paths, pipeline, workers=workers, chunk_size=size, scheduler=scheduler)
    return executors.run_processes(paths, pipeline, workers=workers, chunk_size=size)


def _matrix(results: list[EmbedResult]) -> np.ndarray:
    """One row per result: its embedding (the largest face's, where there are several), NaN if it failed."""
    dims = {r.vector.shape[-1] for r in results if r.status == OK and r.vector is not None}
    if len(dims) > 1:
        raise FrbenchError(
            f"embeddings of one pipeline have different sizes {sorted(dims)}: inconsistent cache"
        )
    matrix = np.full((len(results), dims.pop() if dims else 0), np.nan, dtype=np.float32)
    for row, result in enumerate(results):
        if result.status == OK:
            matrix[row] = result.vector if result.vector.ndim == 1 else result.vector[0]
    return matrix


def _faces(results: list[EmbedResult], dim: int) -> list[np.ndarray]:
    """Every face's embedding per result, (faces, dim), largest first; (0, dim) for a failure."""
    empty = np.empty((0, dim), dtype=np.float32)
    return [np.atleast_2d(r.vector) if r.status == OK else empty for r in results]


def embed_images(
    images: pd.DataFrame,
    pipeline: Pipeline,
    cache_dir: Path,
    executor: str = "processes",
    workers: int | None = None,
    progress: bool = True,
    offline: bool = False,
    scheduler: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[Embeddings, EmbedStats]:
    """Embed every image of ``images`` (columns ``image_id``, ``path``) with ``pipeline``.

    Results are cached in ``cache_dir/embeddings.sqlite`` under (``pipeline.fingerprint()``, sha256 of
    the file); only files absent from the cache are embedded, by ``executor``:

    * ``serial``: in this process;
    * ``processes``: ``workers`` spawned processes (default: the usable CPU count); with one worker,
      or no more than ``MIN_PARALLEL`` files to embed, the work runs in this process instead. The
      calling script needs the ``if __name__ == "__main__":`` guard;
    * ``dask``: the Dask cluster whose scheduler is at ``scheduler``, or a LocalCluster of
      ``workers`` processes (same guard needed). Needs ``pip install 'frbench[dask]'``.

    Every executor gives the same results. The cache is written by this process alone, at least
    every ``COMMIT_INTERVAL_S``, in transactions that a kill cannot tear, and may be shared by runs
    working at the same time. A file that does not exist is recorded as ``missing`` without calling
    the model; every other outcome, failures included, is cached. Raises WeightsMissingError before
    any work when ``offline`` and a weight file is absent, and EmbeddingInterrupted on Ctrl-C, once
    the finished results are committed.
    """
    _check_inputs(images, executor, workers, scheduler)
    if executor == "dask":
        executors.import_distributed()
    ensure_weights(pipeline.model, pipeline.detector, offline)
    started = time.perf_counter()
    image_ids = images["image_id"].astype(str).tolist()
    paths = images["path"].astype(str).tolist()

    # one result per distinct path; files are identified by content for the cache
    by_path: dict[str, EmbedResult] = {}
    hash_of: dict[str, str] = {}
    for path in dict.fromkeys(paths):
        # Screened from the header alone, before hashing or decoding: a decompression bomb or a
        # truncated JPEG becomes a counted failure, and the verdict is never cached.
        problem = check_image(path, max_pixels)
        if problem is not None:
            by_path[path] = EmbedResult(None, *problem)
            continue
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
    cache_path = Path(cache_dir) / CACHE_FILE
    computed_hashes: set[str] = set()
    with EmbeddingCache(cache_path) as cache:
        by_hash = cache.get_many(fingerprint, hash_of.values())
        cached_hashes = set(by_hash)
        todo_hashes = list(dict.fromkeys(h for h in hash_of.values() if h not in by_hash))
        path_of = {h: p for p, h in reversed(hash_of.items())}
        todo_paths = [path_of[h] for h in todo_hashes]
        ran, n_workers = _plan(executor, workers, len(todo_paths))
        bar = tqdm(
            total=len(todo_paths), unit="img", desc=f"embedding {pipeline.model}/{pipeline.detector}",
            disable=not progress or not todo_paths,
        )
        pending: list[tuple[str, EmbedResult]] = []
        last_commit = time.monotonic()
        interrupted = False
        try:
            with closing(_run(todo_paths, pipeline, ran, n_workers, scheduler)) as computed:
                for index, result in computed:
                    by_hash[todo_hashes[index]] = result
                    computed_hashes.add(todo_hashes[index])
                    pending.append((todo_hashes[index], result))
                    bar.update()
                    if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                        cache.put_many(fingerprint, pending)
                        pending = []
                        last_commit = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            # also on an interruption or an error, so a stopped run keeps what it finished
            cache.put_many(fingerprint, pending)
            bar.close()
    if interrupted:
        raise EmbeddingInterrupted(
            f"interrupted: {len(computed_hashes)} of {len(todo_paths)} images to embed were finished and "
            f"saved in {cache_path}; run the same command again to resume"
        )

    for path, digest in hash_of.items():
        by_path[path] = by_hash[digest]
    results = [by_path[p] for p in paths]
    status = pd.Series([r.status for r in results], index=image_ids, name="status", dtype="str")
    detail = pd.Series([r.detail for r in results], index=image_ids, name="detail", dtype="str")
    matrix = _matrix(results)
    faces = _faces(results, matrix.shape[1]) if pipeline.multiple_faces == ALL_BEST else None
    embeddings = Embeddings(image_ids=image_ids, matrix=matrix, status=status, detail=detail, faces=faces)
    stats = EmbedStats(
        n_images=len(image_ids),
        n_cached=sum(hash_of.get(p) in cached_hashes for p in paths),
        n_computed=sum(hash_of.get(p) in computed_hashes for p in paths),
        n_failed=int((status != OK).sum()),
        seconds=time.perf_counter() - started,
        executor=ran,
        workers=n_workers,
    )
    return embeddings, stats
