"""Run the backend over many images: in this process, or in a pool of worker processes.

Both executors yield ``(index into paths, EmbedResult)`` as results become available, so the caller
can store them progressively. Workers only compute; the caller alone writes the cache.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from frbench.embed.backend import Embedder, EmbedResult, Pipeline

# a worker process's Embedder, or the error that prevented building it
_worker_embedder: Embedder | None = None
_worker_error: Exception | None = None


def run_serial(paths: Sequence[str], pipeline: Pipeline) -> Generator[tuple[int, EmbedResult], None, None]:
    """Embed ``paths`` one after another in this process (the model is built once, on first use)."""
    if not paths:
        return
    embedder = Embedder(pipeline)
    for i, path in enumerate(paths):
        yield i, embedder.embed(path)


def _init_worker(pipeline: Pipeline) -> None:
    global _worker_embedder, _worker_error
    try:
        _worker_embedder = Embedder(pipeline)
    except Exception as err:
        # raised again from the first task: an exception in a pool initializer only shows up
        # as an unexplained BrokenProcessPool
        _worker_error = err


def _embed_chunk(paths: list[str]) -> list[EmbedResult]:
    if _worker_error is not None:
        raise _worker_error
    assert _worker_embedder is not None
    return [_worker_embedder.embed(path) for path in paths]


def run_processes(
    paths: Sequence[str], pipeline: Pipeline, workers: int, chunk_size: int
) -> Generator[tuple[int, EmbedResult], None, None]:
    """Embed ``paths`` in ``workers`` processes, ``chunk_size`` images per task.

    Each worker builds the model once (pool initializer). Processes are started with "spawn", a fresh
    interpreter, because forking a process that already holds onnxruntime or dlib threads can deadlock,
    and a fresh interpreter sees the current environment (DEEPFACE_HOME). A chunk's results are yielded
    when the chunk finishes, in completion order. Stopping the iteration cancels the chunks not started.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunks = [range(start, min(start + chunk_size, len(paths))) for start in range(0, len(paths), chunk_size)]
    if not chunks:
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(pipeline,),
    )
    try:
        pending: dict[Future[list[EmbedResult]], range] = {
            pool.submit(_embed_chunk, [paths[i] for i in chunk]): chunk for chunk in chunks
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = pending.pop(future)
                yield from zip(chunk, future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
