"""Scale benchmark: exhaustive scoring and top-L search, 1 process against a 2-worker LocalCluster,
each against the GEMM floor measured in the same run, and a projection to a 30M gallery.

    nice -n 10 python bench/scale.py                                       # the default sizes below
    nice -n 10 python bench/scale.py --gallery 1000000 --probes 10000 --exhaustive-n 100000

Default sizes are small enough to finish in minutes on two shared cores: a search of 1,000 probes
against 100,000 gallery images and all pairs of 10,000 images, all 512-dimensional synthetic unit
vectors (seeded). The issue's size (1M gallery x 10k probes) is ``--gallery 1000000 --probes 10000``;
all pairs of a 1M gallery (5e11 pairs) are only projected, never run here.

What is measured, on the same arrays, in this one run:

(a) the GEMM floor: the machine's float32 (search kernel) and float64 (exhaustive kernel: exact
    products of integer-quantised vectors) matrix-product rates, 1024 x d times d x 16,384, best of
    3, in one single-threaded process. The floor of a job is its 2 * pairs * d FLOP at that rate:
    no exact method that scores every pair runs faster in one process on this machine.
(b) ``search`` and ``exhaustive_scores`` in one fresh single-threaded process: wall time and the
    process's peak resident memory (VmHWM).
(c) ``sharded_search`` and ``distributed_exhaustive_scores`` on a LocalCluster of 2 single-threaded
    workers: wall time (including writing the memory-mapped arrays and starting no cluster: the
    cluster is started before timing), and each worker's peak resident memory. Their results must
    equal (b)'s bit for bit, or the benchmark fails.
(d) a projection, labelled as such: wall time and memory per worker for a 30M gallery on K
    workers, from (b)'s measured rate per process (pairs per second), under the assumptions printed.

The load average is printed before and after: on shared cores every time is an upper bound.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import tempfile
import time

import numpy as np

THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def synthetic(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def gemm_rate(dim: int, dtype: type) -> float:
    """FLOP/s of (1024 x dim) @ (dim x 16384) in this process, best of 3."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, dim)).astype(dtype)
    b = rng.standard_normal((16384, dim)).astype(dtype)
    out = np.empty((1024, 16384), dtype=dtype)
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        np.matmul(a, b.T, out=out)
        best = min(best, time.perf_counter() - t)
    return 2 * 1024 * 16384 * dim / best


def _child(job: str, paths: dict, top: int, block: int) -> dict:
    """One job in a fresh single-threaded process: its wall time, peak RSS, and its result arrays."""
    from frbench.scoring.exhaustive import exhaustive_scores
    from frbench.search.topk import search

    if job == "gemm":
        dim = int(np.load(paths["gallery"], mmap_mode="r").shape[1])
        return {"float32": gemm_rate(dim, np.float32), "float64": gemm_rate(dim, np.float64)}
    if job == "search":
        g = np.load(paths["gallery"], mmap_mode="r")
        p = np.load(paths["probes"])
        subjects = np.arange(g.shape[0])
        t = time.perf_counter()
        res = search(p, g, subjects, top)
        wall = time.perf_counter() - t
        out = {"rows": res.rows, "scores": res.scores}
    else:
        e = np.load(paths["exhaustive"])
        subj, groups = _labels(e.shape[0])
        t = time.perf_counter()
        res = exhaustive_scores(e, subj, groups, thresholds=[0.2], targets=[1e-3, 1e-5], block=block)
        wall = time.perf_counter() - t
        out = {"n_fm": res.n_fm, "thresholds": res.thresholds, "cell": res.cell_fm["g"], "hist": res.hist["g"]}
    return {"wall": wall, "maxrss": _vm_hwm(), **out}


def _labels(n: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(1)
    return rng.integers(0, n // 3, n), {"g": rng.integers(0, 4, n)}


def _warm() -> None:
    """Imports done before timing, as on a cluster that has run tasks before."""
    import frbench.scoring.exhaustive  # noqa: F401
    import frbench.search.topk  # noqa: F401


def _worker_peak() -> int:
    return _vm_hwm()


def _vm_hwm() -> int:
    """This process's resident high-water mark (VmHWM) in bytes. Not ru_maxrss: Linux carries a
    forked parent's high-water mark into ru_maxrss across exec, so a spawned child reports its
    parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gallery", type=int, default=100_000)
    ap.add_argument("--probes", type=int, default=1_000)
    ap.add_argument("--exhaustive-n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--block", type=int, default=2048)
    ap.add_argument("--project-gallery", type=float, default=30e6)
    ap.add_argument("--project-probes", type=int, default=10_000)
    ap.add_argument("--project-workers", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--json", help="also write the measurements here")
    args = ap.parse_args()
    for name in THREADS:
        os.environ.setdefault(name, "1")

    from frbench.scoring.distributed import dask_client, distributed_exhaustive_scores
    from frbench.search.sharded import sharded_search

    print(f"cores {os.cpu_count()}; {load()} (before)")
    print(f"sizes measured: search {args.probes:,} probes x {args.gallery:,} gallery x {args.dim}, top {args.top}; "
          f"exhaustive all pairs of {args.exhaustive_n:,} x {args.dim}")
    tmp = tempfile.mkdtemp(prefix="frbench-scale-")
    paths = {"gallery": f"{tmp}/gallery.npy", "probes": f"{tmp}/probes.npy", "exhaustive": f"{tmp}/exhaustive.npy"}
    g = synthetic(args.gallery, args.dim, 0)
    p = synthetic(args.probes, args.dim, 1)
    p[: args.probes // 2] = g[: args.probes // 2] + 0.05 * p[: args.probes // 2]
    e = synthetic(args.exhaustive_n, args.dim, 2)
    for k, v in (("gallery", g), ("probes", p), ("exhaustive", e)):
        np.save(paths[k], v)
    del g, p, e

    ctx = multiprocessing.get_context("spawn")
    one = {}
    for job in ("gemm", "search", "exhaustive"):
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
            one[job] = pool.submit(_child, job, paths, args.top, args.block).result()
        if job != "gemm":
            print(f"1 process, {job}: {one[job]['wall']:.1f} s, peak RSS {one[job]['maxrss'] / 2**20:.0f} MiB  ({load()})")
    rates = one["gemm"]
    print(f"GEMM floor rates (1 thread): float32 {rates['float32'] / 1e9:.1f} GFLOP/s, "
          f"float64 {rates['float64'] / 1e9:.1f} GFLOP/s")

    two = {}
    with dask_client(workers=2) as client:
        client.run(_warm)
        g = np.load(paths["gallery"], mmap_mode="r")
        pr = np.load(paths["probes"])
        t = time.perf_counter()
        res = sharded_search(client, pr, g, np.arange(g.shape[0]), args.top, shards=2)
        two["search"] = {"wall": time.perf_counter() - t}
        same_search = np.array_equal(res.rows, one["search"]["rows"]) and np.array_equal(
            res.scores, one["search"]["scores"], equal_nan=True)
        two["search"]["peaks"] = list(client.run(_worker_peak).values())
        print(f"2 workers, search: {two['search']['wall']:.1f} s, identical lists: {same_search}  ({load()})")
    with dask_client(workers=2) as client:  # fresh workers: their peak memory is this job's
        client.run(_warm)
        e = np.load(paths["exhaustive"])
        subj, groups = _labels(e.shape[0])
        t = time.perf_counter()
        r = distributed_exhaustive_scores(client, e, subj, groups, thresholds=[0.2], targets=[1e-3, 1e-5], block=args.block)
        two["exhaustive"] = {"wall": time.perf_counter() - t}
        same_exh = (np.array_equal(r.n_fm, one["exhaustive"]["n_fm"]) and np.array_equal(r.thresholds, one["exhaustive"]["thresholds"])
                    and np.array_equal(r.cell_fm["g"], one["exhaustive"]["cell"]) and np.array_equal(r.hist["g"], one["exhaustive"]["hist"]))
        two["exhaustive"]["peaks"] = list(client.run(_worker_peak).values())
        print(f"2 workers, exhaustive: {two['exhaustive']['wall']:.1f} s, identical counts: {same_exh}  ({load()})")
    if not (same_search and same_exh):
        sys.exit("distributed results differ from the single-process ones")

    pairs = {"search": args.probes * args.gallery, "exhaustive": args.exhaustive_n * (args.exhaustive_n - 1) // 2}
    kind = {"search": "float32", "exhaustive": "float64"}
    rows = []
    for job in ("search", "exhaustive"):
        floor = 2 * pairs[job] * args.dim / rates[kind[job]]
        rows.append((job, pairs[job], floor, one[job]["wall"], one[job]["maxrss"], two[job]["wall"], max(two[job]["peaks"])))
    print()
    print("| job | pairs | GEMM floor, 1 thread (s) | 1 process wall (s) | x floor | 1 process peak RSS (MiB) "
          "| 2 workers wall (s) | x floor/2 | peak RSS per worker (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for job, n, floor, w1, m1, w2, m2 in rows:
        print(f"| {job} | {n:.2e} | {floor:.1f} | {w1:.1f} | {w1 / floor:.1f} | {m1 / 2**20:.0f} | {w2:.1f} | "
              f"{w2 / (floor / 2):.1f} | {m2 / 2**20:.0f} |")

    # (d) projection from the measured single-process rate
    rate = pairs["search"] / one["search"]["wall"]
    per_worker_fixed = max(two["search"]["peaks"])
    print()
    print(f"PROJECTION (model-based, not measured): top-{args.top} search of {args.project_probes:,} probes against "
          f"a {args.project_gallery:,.0f} gallery x {args.dim}, one contiguous gallery shard per worker.")
    print(f"Assumptions: each worker scores pairs at the rate measured here in one process ({rate:.3g} pairs/s, "
          f"{rate * 2 * args.dim / 1e9:.1f} GFLOP/s, on this loaded machine), time linear in pairs per worker; "
          "workers do not share cores; reading the shard (float32 .npy, memory-mapped from a shared file system) "
          "keeps up with that rate; the client's merge of K lists of L per probe and the dask overhead are neglected "
          "(a few seconds here). Memory per worker: the peak measured here (a worker's fixed cost plus its search "
          "buffers, which do not grow with the shard) plus the shard's pages while they are read (page cache, "
          "shared and evictable, not counted as the worker's own).")
    print("| workers K | gallery per worker | wall (h) | worker peak RSS (MiB, as measured) | shard on disk per worker (GiB) |")
    print("|---:|---:|---:|---:|---:|")
    proj = []
    for k in args.project_workers:
        per = args.project_gallery / k
        wall = args.project_probes * per / rate
        shard = per * args.dim * 4 / 2**30
        proj.append({"workers": k, "wall_h": wall / 3600, "worker_peak_mib": per_worker_fixed / 2**20, "shard_gib": shard})
        print(f"| {k} | {per:,.0f} | {wall / 3600:.2f} | {per_worker_fixed / 2**20:.0f} | {shard:.1f} |")
    print(f"\n{load()} (after)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "gemm": rates, "rows": rows, "projection": proj}, f, indent=1, default=float)
    for v in paths.values():
        os.remove(v)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
