"""Exact top-L search over gallery shards on a Dask cluster, merged with the one tie rule.

The gallery is cut into contiguous row ranges (shards). Each task runs
:func:`frbench.search.topk.search` of every probe against one shard and returns its top-L subjects
with their representatives' gallery rows and exact scores. The client merges them with the tie
rule of :mod:`frbench.search.topk` (score descending, then gallery row ascending; a subject is
represented by its first image in that order) and keeps the first L subjects.

Why the merge is exact: a subject S in the global top L has its representative image r in some
shard. Any subject ranked above S within that shard has an image ranked above r, hence a
representative ranked above r globally, so fewer than L subjects rank above S in its shard and S is
in that shard's list, with r as its representative. A subject's scores are the same numbers in
every shard (an exact pairwise score, :func:`frbench.scoring.pair_similarities`), so the merged
lists equal the single-process search bit for bit.

Probes and gallery reach the workers as memory-mapped ``.npy`` files
(:func:`frbench.scoring.distributed.shared_arrays`): on a cluster of several machines
``scratch_dir`` must be a folder all of them see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from frbench.errors import FrbenchError
from frbench.scoring.distributed import import_distributed, n_workers, shared_arrays
from frbench.search.topk import DEFAULT_BLOCK_BYTES, SearchResult, _first_subjects, _order, _subject_codes, resolve_kernel, search


def _search_shard(probe_path: str, gallery_path: str, subjects: np.ndarray, g0: int, g1: int, length: int,
                  kernel: str, block_bytes: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The task: top-L subjects of every probe in gallery rows g0..g1 (rows returned as global rows)."""
    probes = np.load(probe_path, mmap_mode="r", allow_pickle=False)
    gallery = np.load(gallery_path, mmap_mode="r", allow_pickle=False)
    res = search(probes, gallery[g0:g1], subjects[g0:g1], length, kernel=kernel, block_bytes=block_bytes)
    rows = np.where(res.rows >= 0, res.rows + g0, -1)
    return rows, res.scores, res.n_rechecked


def merge_shard_lists(rows: list[np.ndarray], scores: list[np.ndarray], subject_codes: np.ndarray,
                      length: int) -> tuple[np.ndarray, np.ndarray]:
    """Per probe, the first ``length`` subjects of the shards' lists in tie-rule order (global rows)."""
    r = np.concatenate(rows, axis=1)
    s = np.concatenate(scores, axis=1)
    order = _order(s, r)
    r, s = np.take_along_axis(r, order, axis=1), np.take_along_axis(s, order, axis=1)
    # the one tie rule, as a single process applies it: a subject's first image in that order
    return _first_subjects(r, s, np.asarray(subject_codes), length, k_max=2)


def sharded_search(
    client: Any,
    probes: ArrayLike,
    gallery: ArrayLike,
    gallery_subjects: ArrayLike,
    length: int,
    *,
    kernel: str = "auto",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    shards: int | None = None,
    scratch_dir: str | Path | None = None,
) -> SearchResult:
    """:func:`frbench.search.topk.search` with the gallery split into ``shards`` Dask tasks.

    Parameters are those of ``search``, plus ``client`` (a ``dask.distributed.Client``), ``shards``
    (default: one per worker) and ``scratch_dir`` (where probes and gallery are written for the
    workers to memory-map). Returns a SearchResult equal to ``search``'s (module docstring);
    ``n_rechecked`` adds up the shards' second passes.
    """
    distributed = import_distributed()
    p, g = np.asarray(probes), np.asarray(gallery)
    subjects = np.asarray(gallery_subjects)
    if p.ndim != 2 or g.ndim != 2 or p.shape[1] != g.shape[1]:
        raise ValueError(f"probes and gallery must be 2-D of equal width, got {p.shape} and {g.shape}")
    if subjects.shape != (g.shape[0],):
        raise ValueError(f"gallery_subjects must have one entry per gallery row ({g.shape[0]}), got {subjects.shape}")
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"candidate-list length must be an integer >= 1, got {length!r}")
    used = resolve_kernel(kernel)
    n_shards = max(1, min(shards or n_workers(client), g.shape[0]))
    if p.shape[0] == 0 or g.shape[0] == 0:
        return search(p, g, subjects, length, kernel=kernel, block_bytes=block_bytes)
    codes = _subject_codes(subjects)
    bounds = np.linspace(0, g.shape[0], n_shards + 1).round().astype(int)
    with shared_arrays({"probes": p, "gallery": g}, scratch_dir) as paths:
        codes_remote = client.scatter(codes, broadcast=True)
        futures = [
            client.submit(_search_shard, paths["probes"], paths["gallery"], codes_remote, int(a), int(b), int(length),
                          used, int(block_bytes), pure=False)
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a
        ]
        try:
            parts = client.gather(futures)
        except distributed.KilledWorker as err:
            raise FrbenchError(f"dask workers kept dying while searching gallery shards ({err})") from err
        finally:
            client.cancel([f for f in futures if not f.done()])
    rows, scores = merge_shard_lists([x[0] for x in parts], [x[1] for x in parts], codes, length)
    return SearchResult(rows, scores, used, int(sum(x[2] for x in parts)))
