"""Top-L search of many probes against a large synthetic gallery: time and peak memory.

    nice -n 10 python bench/search.py                          # 10,000 probes x 1,000,000 x 512, top 50
    nice -n 10 python bench/search.py --gallery 100000 --probes 2000

All in one process, one after the other, on the same arrays:

(a) the machine's float32 matrix-product rate: ``probes_block @ gallery_block.T`` (1024 x d times
    d x 65,536), best of 5. The FLOP limit of the search is 2 * n_probes * n_gallery * d FLOP at
    that rate: no exact search that scores every pair can be faster on this machine.
(b) ``frbench.search.topk.search`` with each kernel (numpy sgemm + argpartition, faiss.knn), exact
    results (float64 rescoring, tie rule): wall time, and peak memory above what was held
    before the call, both as traced by tracemalloc (numpy's own allocations) and as the growth of
    the process's resident high-water mark (VmHWM, reset through /proc/self/clear_refs; includes
    BLAS and faiss buffers). The two kernels must return identical candidate lists.
(c) the naive baseline: the full float32 score matrix of a slice of the probes against the whole
    gallery, then ``np.argsort`` of each row, first L kept. Its time is scaled to all probes
    (linear in probes) and its memory for all probes is computed (scores 4 bytes + argsort
    indices 8 bytes per pair), since it cannot fit; the slice's own figures are printed too.

The gallery is n_gallery random unit vectors (float32, seeded); half the probes are noisy copies
of gallery rows (their mate should come first) and half are fresh random vectors. The load
average is printed: on shared cores every time is an upper bound of what the code needs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from frbench.search.topk import faiss_available, search

T = TypeVar("T")


def synthetic(n_gallery: int, n_probes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit float32 gallery rows, probes (the first half noisy copies of gallery rows) and the
    rows they copy, built in chunks."""
    rng = np.random.default_rng(seed)
    gallery = np.empty((n_gallery, dim), dtype=np.float32)
    for r0 in range(0, n_gallery, 65536):
        block = rng.standard_normal((min(65536, n_gallery - r0), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        gallery[r0 : r0 + block.shape[0]] = block
    probes = rng.standard_normal((n_probes, dim), dtype=np.float32)
    mated = n_probes // 2
    mates = rng.choice(n_gallery, size=mated, replace=False)
    probes[:mated] = gallery[mates] + 0.05 * probes[:mated]
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    return gallery, probes, mates


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (``VmRSS``, ``VmHWM``), in KiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return -1


def measured(fn: Callable[[], T]) -> tuple[T, float, float, float, float]:
    """(result, wall seconds, CPU seconds of all threads, tracemalloc peak MiB, resident high-water
    growth MiB) of one call."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS
        hwm_ok = True
    except OSError:
        hwm_ok = False
    rss0 = _status_kib("VmRSS")
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = (_status_kib("VmHWM") - rss0) / 1024 if hwm_ok else float("nan")
    return out, seconds, cpu, peak / 2**20, hwm


def matmul_rate(probes: np.ndarray, gallery: np.ndarray, repeats: int = 5) -> tuple[float, float]:
    """Best observed float32 GFLOP per wall second and per CPU second of a 1024 x d by d x 65,536
    product (BLAS, all threads)."""
    a = np.ascontiguousarray(probes[:1024])
    b = np.ascontiguousarray(gallery[: min(65536, gallery.shape[0])])
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.float32)
    best, best_cpu = np.inf, np.inf
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        np.matmul(a, b.T, out=out)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    flop = 2.0 * a.shape[0] * b.shape[0] * a.shape[1]
    return flop / best / 1e9, flop / best_cpu / 1e9


def naive(probes: np.ndarray, gallery: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    scores = probes @ gallery.T
    order = np.argsort(-scores, axis=1)[:, :length]
    return order, np.take_along_axis(scores, order, axis=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", type=int, default=1_000_000)
    ap.add_argument("--probes", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--length", type=int, default=50)
    ap.add_argument("--naive-probes", type=int, default=200, help="probes in the naive baseline's slice")
    ap.add_argument("--kernels", default="numpy,faiss")
    ap.add_argument("--block-mb", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    kernels = [k for k in args.kernels.split(",") if k]
    if "faiss" in kernels and not faiss_available():
        print("faiss-cpu not installed: skipping the faiss kernel")
        kernels.remove("faiss")

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    t0 = time.perf_counter()
    gallery, probes, mates = synthetic(args.gallery, args.probes, args.dim, args.seed)
    print(f"gallery {gallery.shape} float32 ({gallery.nbytes / 2**30:.2f} GiB), probes {probes.shape}, "
          f"built in {time.perf_counter() - t0:.1f} s")
    subjects = np.arange(args.gallery)
    flops = 2.0 * args.probes * args.gallery * args.dim

    rate, rate_cpu = matmul_rate(probes, gallery)
    print(f"(a) float32 matmul: {rate:.1f} GFLOP/s wall, {rate_cpu:.1f} GFLOP per CPU-second -> FLOP limit "
          f"for the search ({flops:.3g} FLOP): {flops / rate / 1e9:.1f} s wall, {flops / rate_cpu / 1e9:.1f} CPU-s")

    results, times = {}, {}
    for kernel in kernels:
        res, secs, cpu, traced, hwm = measured(
            lambda kernel=kernel: search(probes, gallery, subjects, args.length, kernel=kernel,
                                         block_bytes=args.block_mb << 20)
        )
        results[kernel] = res
        times[kernel] = secs
        print(f"(b) search kernel={kernel}: {secs:.1f} s wall ({secs / (flops / rate / 1e9):.2f} x the FLOP limit), "
              f"{cpu:.1f} CPU-s ({cpu / (flops / rate_cpu / 1e9):.2f} x); peak memory: traced {traced:.0f} MiB, "
              f"resident growth {hwm:.0f} MiB; rechecked probes {res.n_rechecked}")
    if len(results) == 2:
        a, b = results.values()
        same = np.array_equal(a.rows, b.rows) and np.array_equal(a.scores, b.scores, equal_nan=True)
        print(f"    kernels agree exactly: {same}")

    n_slice = min(args.naive_probes, args.probes)
    (order, _top), secs, cpu, traced, hwm = measured(lambda: naive(probes[:n_slice], gallery, args.length))
    scale = args.probes / n_slice
    full_bytes = args.probes * args.gallery * 12
    print(f"(c) naive full matrix + argsort, {n_slice} probes: {secs:.1f} s wall, {cpu:.1f} CPU-s, "
          f"traced {traced:.0f} MiB, resident growth {hwm:.0f} MiB")
    print(f"    scaled to {args.probes} probes: {secs * scale:.0f} s wall, {cpu * scale:.0f} CPU-s; memory for all at once: "
          f"{full_bytes / 2**30:.0f} GiB (RAM here: {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB)")
    if results:
        ref = next(iter(results.values()))
        overlap = np.mean([np.intersect1d(order[i], ref.rows[i]).size / args.length for i in range(n_slice)])
        mated = args.probes // 2
        print(f"    naive float32 top-{args.length} vs exact search, same rows: {overlap:.4f} of entries; "
              f"exact search puts the source row first for {np.mean(ref.rows[:mated, 0] == mates):.4f} of noisy copies")
        print("    naive (scaled) / search time: " + ", ".join(f"{k} {secs * scale / t:.1f}x" for k, t in times.items()))
    print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB; "
          f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
