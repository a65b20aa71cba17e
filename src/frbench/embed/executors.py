"""Run the backend over many images: in this process, in a pool of worker processes, or on Dask.

Every executor yields ``(index into paths, EmbedResult)`` as results become available, so the caller
can store them progressively; workers only compute, the caller alone writes the cache. A worker
builds the model at its first chunk and keeps it for the following ones. The results do not depend
on the executor: each image goes through the same :class:`Embedder` code.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from types import ModuleType

import cv2

from frbench.embed.backend import Embedder, EmbedResult, Pipeline
from frbench.errors import FrbenchError

# Thread pools of the native libraries a worker loads. One worker per core with one thread each:
# more threads per worker would only compete for the same cores.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# onnxruntime reads none of THREAD_ENV; its sessions are built with this many threads instead
WORKER_THREADS = 1
# The most images per task. A task costs about a millisecond in a process pool and a few on Dask,
# an image hundreds: small chunks cost little and keep the workers' finishing times within one
# chunk of each other (the last chunk leaves the other workers idle), Ctrl-C prompt, and results
# flowing to the cache.
MAX_CHUNK = 4
# tasks per worker to aim for, so that workers that finish early take over the remaining chunks
CHUNKS_PER_WORKER = 16

# A worker process's models, per pipeline. deepface caches one model object per process, which is
# not safe to call from several threads at once, so a process embeds one chunk at a time.
_embedders: dict[Pipeline, Embedder] = {}
_model_lock = threading.Lock()


def chunk_size(n_paths: int, workers: int) -> int:
    """Images per task: ``ceil(n / (CHUNKS_PER_WORKER * workers))``, between 1 and ``MAX_CHUNK``."""
    return max(1, min(MAX_CHUNK, math.ceil(n_paths / (CHUNKS_PER_WORKER * workers))))


def _chunks(n_paths: int, size: int) -> list[range]:
    return [range(start, min(start + size, n_paths)) for start in range(0, n_paths, size)]


def embed_chunk(pipeline: Pipeline, paths: list[str]) -> list[EmbedResult]:
    """Embed ``paths`` with this process's model for ``pipeline`` (built at the first call).

    The task every parallel executor runs. Raises FrbenchError when the model cannot be built.
    """
    with _model_lock:
        embedder = _embedders.get(pipeline)
        if embedder is None:
            # one onnxruntime thread, as for the other native libraries (THREAD_ENV)
            embedder = _embedders[pipeline] = Embedder(pipeline, onnx_threads=WORKER_THREADS)
        return [embedder.embed(path) for path in paths]


def run_serial(paths: Sequence[str], pipeline: Pipeline) -> Generator[tuple[int, EmbedResult], None, None]:
    """Embed ``paths`` one after another in this process (the model is built once, on first use)."""
    if not paths:
        return
    embedder = Embedder(pipeline)
    for i, path in enumerate(paths):
        yield i, embedder.embed(path)


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        # the parent was killed (SIGKILL cannot be caught): its pool would never send more work,
        # and a worker blocked on the task queue would otherwise live on holding a model in memory
        os._exit(1)


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group, as do the SIGTERM of `timeout` and batch schedulers and a
    # terminal's SIGHUP; the parent alone handles them and stops the pool, which ends these workers
    for stop in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if stop is not None:
            signal.signal(stop, signal.SIG_IGN)
    cv2.setNumThreads(1)
    threading.Thread(target=_exit_with_parent, name="frbench-exit-with-parent", daemon=True).start()


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Set THREAD_ENV to 1 (where the user has not set it) while worker processes are started.

    The libraries read these variables when they are loaded, which in a spawned worker happens
    before any frbench code runs, so they must be in the environment the worker inherits.
    """
    added = [name for name in THREAD_ENV if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Block SIGTERM and SIGHUP while helper processes start, so that they inherit the block.

    multiprocessing's resource tracker ignores SIGINT and SIGTERM but not SIGHUP: a hangup sent to the
    process group would end it before the pool's semaphores are released (a "leaked semaphore"
    warning and a traceback); and a worker would die of either before its initializer ignores them.
    Blocked in these processes, the signals reach the parent alone, which stops the pool.
    """
    stops = {s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    from multiprocessing import resource_tracker

    before = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        resource_tracker.ensure_running()
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def run_processes(
    paths: Sequence[str], pipeline: Pipeline, workers: int, chunk_size: int
) -> Generator[tuple[int, EmbedResult], None, None]:
    """Embed ``paths`` in ``workers`` processes, ``chunk_size`` images per task.

    Processes are started with "spawn", a fresh interpreter, because forking a process that already
    holds onnxruntime or dlib threads can deadlock, and a fresh interpreter sees the current
    environment (DEEPFACE_HOME). Workers run single-threaded native libraries, ignore SIGINT, SIGTERM and SIGHUP and
    exit when this process dies, even by SIGKILL. A chunk's results are yielded when the chunk
    finishes, in completion order. Stopping the iteration cancels the chunks not started and waits
    for the running ones (at most one chunk per worker). A worker that dies (killed, out of memory,
    a crash in native code) stops the run with FrbenchError.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunks = _chunks(len(paths), chunk_size)
    if not chunks:
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
    )
    try:
        # the pool starts its processes on submit
        with _single_threaded_children(), _stop_signals_blocked():
            pending: dict[Future[list[EmbedResult]], range] = {
                pool.submit(embed_chunk, pipeline, [paths[i] for i in chunk]): chunk for chunk in chunks
            }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = pending.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool as err:
                    raise FrbenchError(
                        "an embedding worker process died (killed, out of memory, or crashed in native "
                        "code); the results finished so far are cached: run again to resume, or use "
                        "the serial executor to find an image that crashes the model"
                    ) from err
                yield from zip(chunk, results)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def import_distributed() -> ModuleType:
    """``dask.distributed``, or FrbenchError naming the extra that installs it."""
    try:
        import dask.distributed
    except ImportError as err:
        raise FrbenchError(
            f"the dask executor needs dask.distributed, which is not installed ({err}): "
            "pip install 'frbench[dask]'"
        ) from err
    return dask.distributed


def run_dask(
    paths: Sequence[str], pipeline: Pipeline, workers: int, chunk_size: int, scheduler: str | None = None
) -> Generator[tuple[int, EmbedResult], None, None]:
    """Embed ``paths`` on a Dask cluster, ``chunk_size`` images per task.

    ``scheduler`` is the address of a running scheduler (``tcp://host:8786``); its workers need
    frbench and the model's weights installed, must see ``paths`` under the same names, and should
    have one thread each (``dask worker --nthreads 1``: a process embeds one chunk at a time). Without
    a scheduler, a LocalCluster of ``workers`` single-threaded processes is started and closed again.
    A task whose worker dies is rerun by Dask elsewhere; one that kills worker after worker stops the
    run with FrbenchError. Stopping the iteration cancels what is left.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    distributed = import_distributed()
    chunks = _chunks(len(paths), chunk_size)
    if not chunks:
        return
    cluster = None
    if scheduler is None:
        # Dask's nanny starts each worker with OMP/OpenBLAS/MKL threads set to 1 and ends it when
        # this process dies
        cluster = distributed.LocalCluster(
            n_workers=min(workers, len(chunks)), threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.ERROR,
        )
    try:
        try:
            client = distributed.Client(cluster if cluster is not None else scheduler, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise FrbenchError(f"cannot connect to the dask scheduler at {scheduler}: {err}") from err
        futures: dict[object, range] = {}
        try:
            for chunk in chunks:
                future = client.submit(embed_chunk, pipeline, [paths[i] for i in chunk], pure=False)
                futures[future] = chunk
            try:
                for future, results in distributed.as_completed(futures, loop=client.loop, with_results=True):
                    yield from zip(futures[future], results)
            except distributed.KilledWorker as err:
                raise FrbenchError(
                    f"dask workers kept dying while embedding a chunk of images ({err}); the results "
                    "finished so far are cached: run again to resume"
                ) from err
        finally:
            unfinished = [future for future in futures if not future.done()]
            if unfinished:
                client.cancel(unfinished)
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
