"""Exhaustive scoring on a Dask cluster: tiles of the all-pairs matrix as tasks, merged exactly.

One process scores LFW's 87.5 million pairs in minutes; a million images (5e11 pairs) need many
machines. This module hands the tiles of :func:`frbench.scoring.exhaustive.plan_exhaustive` to
Dask workers in groups and adds up what they send back:

* each task scores its tiles with the very code of the single-process run
  (:func:`frbench.scoring.exhaustive._stream_tiles`) and returns its histograms, its per-cell
  counts at every given threshold, its K best non-mated scores and its mated pairs' scores;
* the client adds the integer counts and keeps the K best of the union of the top-K sets (the K
  best overall are in that union), then finishes as one process does
  (:func:`~frbench.scoring.exhaustive.finish_exhaustive`).

Every score is exact in any blocking (integer-quantised unit vectors, see
:mod:`frbench.scoring.exhaustive`), so every count, threshold and table equals the
single-process result bit for bit, whatever the number of workers, tasks or their finishing order.

The embeddings reach the workers without passing through the client: the quantised matrix is
written once to ``scratch_dir`` as ``.npy`` and each task memory-maps it and reads only its tiles'
rows. With a LocalCluster any local folder serves; on a real cluster ``scratch_dir`` must be a
folder every worker sees under the same path (a shared file system). The client and clusters are
Dask's own (``dask.distributed``, or ``dask-jobqueue`` on a batch system): nothing is scheduled here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from frbench.errors import FrbenchError
from frbench.scoring.exhaustive import (
    ExhaustivePlan, ExhaustiveResult, _stream_tiles, finish_exhaustive, plan_exhaustive,
)

# Tasks per worker: enough that a worker finishing early takes over work, few enough that each
# task's histograms (up to 32 MiB per bundle) are sent back only a handful of times.
TASKS_PER_WORKER = 4


def import_distributed() -> ModuleType:
    """``dask.distributed``, or FrbenchError naming the extra that installs it."""
    try:
        import dask.distributed
    except ImportError as err:
        raise FrbenchError(
            f"scoring on dask needs dask.distributed, which is not installed ({err}): pip install 'frbench[dask]'"
        ) from err
    return dask.distributed


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``dask.distributed.Client`` of the scheduler at ``scheduler``, or of a LocalCluster of
    ``workers`` single-threaded processes (default: the CPU count) started here and closed on exit.

    Raises FrbenchError when the scheduler cannot be reached.
    """
    distributed = import_distributed()
    cluster = None
    if scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.ERROR,
        )
    try:
        try:
            client = distributed.Client(cluster if cluster is not None else scheduler, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise FrbenchError(f"cannot connect to the dask scheduler at {scheduler}: {err}") from err
        try:
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def n_workers(client: Any) -> int:
    """Workers the client's scheduler has now (at least 1)."""
    return max(1, len(client.scheduler_info().get("workers", {})))


@contextmanager
def shared_arrays(arrays: Mapping[str, np.ndarray], scratch_dir: str | Path | None = None) -> Iterator[dict[str, str]]:
    """Write ``arrays`` as ``.npy`` files in a fresh folder under ``scratch_dir`` (default: the
    system temp folder) for workers to memory-map; yields name -> path; the folder is removed on exit."""
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="frbench-shared-", dir=None if scratch_dir is None else str(scratch_dir))
    try:
        paths = {}
        for name, arr in arrays.items():
            path = os.path.join(folder, f"{name}.npy")
            np.save(path, np.ascontiguousarray(arr))
            paths[name] = path
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _score_tile_group(plan: ExhaustivePlan, q_path: str, tiles: list[tuple[int, int]]):
    """The task: score ``tiles`` of ``plan`` (its matrix memory-mapped from ``q_path``)."""
    q = np.load(q_path, mmap_mode="r", allow_pickle=False)
    state = plan.accumulators()
    mated_raw = _stream_tiles(q, plan.metric, plan.block, plan.mated_a, plan.mated_b, state, tiles)
    return state.partial(), mated_raw


def split_tiles(tiles: Sequence[tuple[int, int]], n_tasks: int) -> list[list[tuple[int, int]]]:
    """``tiles`` dealt into at most ``n_tasks`` groups of equal size (within one), in order."""
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    bounds = np.linspace(0, len(tiles), min(n_tasks, len(tiles)) + 1).round().astype(int)
    return [list(tiles[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def distributed_exhaustive_scores(
    client: Any,
    emb: np.ndarray,
    subject: np.ndarray,
    groups: Mapping[str, np.ndarray],
    thresholds: Sequence[float] = (),
    targets: Sequence[float] = (),
    block: int = 2048,
    metric: str = "cosine",
    hist_bins: int = 4096,
    *,
    n_tasks: int | None = None,
    scratch_dir: str | Path | None = None,
) -> ExhaustiveResult:
    """:func:`frbench.scoring.exhaustive.exhaustive_scores` with its tiles run as Dask tasks.

    Parameters are those of ``exhaustive_scores``, plus:

    client : dask.distributed.Client
    n_tasks : int, optional
        Groups of tiles, one task each; default :data:`TASKS_PER_WORKER` per worker.
    scratch_dir : path, optional
        Where the quantised embeddings are written for the workers to memory-map; on a cluster of
        several machines, a folder all of them see under this path.

    Returns
    -------
    ExhaustiveResult
        Equal, array for array, to the single-process result (module docstring).
    """
    distributed = import_distributed()
    plan = plan_exhaustive(emb, subject, groups, thresholds, targets, block, metric, hist_bins)
    groups_of_tiles = split_tiles(plan.tiles(), n_tasks or TASKS_PER_WORKER * n_workers(client))
    state = plan.accumulators()
    mated_raw = np.full(plan.mated_a.size, np.nan)
    with shared_arrays({"q": plan.q}, scratch_dir) as paths:
        # Everything but the matrix goes to each worker once (group codes and mated rows only).
        light = client.scatter(dataclasses.replace(plan, q=np.empty((0, 0))), broadcast=True)
        futures = [client.submit(_score_tile_group, light, paths["q"], tiles, pure=False) for tiles in groups_of_tiles]
        try:
            for _, (part, mated) in distributed.as_completed(futures, loop=client.loop, with_results=True):
                state.merge(part)
                scored = ~np.isnan(mated)
                mated_raw[scored] = mated[scored]
        except distributed.KilledWorker as err:
            raise FrbenchError(f"dask workers kept dying while scoring tiles ({err})") from err
        finally:
            client.cancel([f for f in futures if not f.done()])
    if np.isnan(mated_raw).any():
        raise AssertionError("a mated pair was scored by no task")
    return finish_exhaustive(plan, state, mated_raw)
