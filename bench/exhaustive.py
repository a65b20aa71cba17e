"""Benchmark of exact all-vs-all scoring (frbench.scoring.exhaustive) against a naive full-matrix pass.

    .venv/bin/python bench/exhaustive.py                      # random unit vectors, LFW size
    .venv/bin/python bench/exhaustive.py --embeddings emb.npy --labels labels.csv

Random data: 13,233 seeded unit vectors of dimension 128 (LFW's image count), subjects drawn
among 5,749 (LFW's subject count), two attributes with 3 and 6 random groups. Real data: an
(n, d) ``.npy`` matrix and a CSV with one row per embedding row, a ``subject_id`` column and one
column per attribute (every other column except ``image_id`` and ``path``).

Measured, each in a fresh process so that its peak RSS is its own:
* the plain float32 product ``X @ X.T`` of all embeddings (the floor any all-vs-all pass pays);
* ``exhaustive_scores`` with per-cell counts and exact thresholds at FMR 1e-3 .. 1e-6;
* on the first ``--naive-n`` rows, a naive numpy pass (full matrix, upper triangle, one boolean
  mask per cell) next to ``exhaustive_scores`` on the same rows, and the time per pair of each.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.scoring.exhaustive import exhaustive_scores, quantised_unit_rows
from frbench.metrics.thresholds import threshold_at_fmr

TARGETS = (1e-3, 1e-4, 1e-5, 1e-6)


def load_data(spec: dict) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    if spec["kind"] == "random":
        rng = np.random.default_rng(spec["seed"])
        x = rng.standard_normal((spec["n"], spec["d"]))
        emb = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        subject = rng.integers(0, 5749, spec["n"])
        groups = {"gender": rng.integers(0, 3, spec["n"]), "race": rng.integers(0, 6, spec["n"])}
    else:
        emb = np.load(spec["embeddings"]).astype(np.float32)
        labels = pd.read_csv(spec["labels"], dtype=str, keep_default_na=False)
        if len(labels) != len(emb):
            sys.exit(f"{spec['labels']}: {len(labels)} rows, but {spec['embeddings']} has {len(emb)}")
        subject = pd.factorize(labels["subject_id"])[0]
        attrs = [c for c in labels.columns if c not in ("subject_id", "image_id", "path")]
        groups = {a: pd.factorize(labels[a], sort=True)[0] for a in attrs}
    limit = spec.get("limit")
    if limit:
        emb, subject = emb[:limit], subject[:limit]
        groups = {a: g[:limit] for a, g in groups.items()}
    return emb, subject, groups


def naive(emb: np.ndarray, subject: np.ndarray, groups: dict[str, np.ndarray], bins: int) -> dict:
    """The straightforward way: all scores in memory, one mask per cell."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    S = x @ x.T
    a, b = np.triu_indices(len(x), 1)
    s = S[a, b]
    del S
    non = subject[a] != subject[b]
    s_non = s[non]
    thresholds = [threshold_at_fmr(s_non, f) for f in TARGETS]
    edges = np.linspace(-1.0, 1.0, bins + 1)
    counts = {}
    for attr, g in groups.items():
        ga, gb = g[a][non], g[b][non]
        G = int(g.max()) + 1
        for g1 in range(G):
            for g2 in range(g1, G):
                mask = ((ga == g1) & (gb == g2)) | ((ga == g2) & (gb == g1))
                cell = s_non[mask]
                np.histogram(cell, edges)
                counts[(attr, g1, g2)] = [int((cell >= t).sum()) for t in thresholds]
    return {"thresholds": thresholds, "counts": counts, "pairs": int(s.size)}


def run_job(job: str, spec: dict, block: int, bins: int) -> dict:
    emb, subject, groups = load_data(spec)
    tracemalloc.start()
    t0 = time.perf_counter()
    out: dict = {}
    if job == "matmul":
        (emb @ emb.T)[0, 0]
    elif job == "tiles":
        q = quantised_unit_rows(emb)
        for r0 in range(0, len(q), block):
            for c0 in range(r0, len(q), block):
                q[r0 : r0 + block] @ q[c0 : c0 + block].T
    elif job == "exhaustive":
        r = exhaustive_scores(emb, subject, groups, (), TARGETS, block=block, hist_bins=bins)
        out = {
            "thresholds": r.thresholds.tolist(),
            "n_fm": r.n_fm.tolist(),
            "n_nonmated": r.n_nonmated,
            "n_mated": int(r.mated_scores.size),
            "counts": {
                (a, g1, g2): r.cell_fm[a][:, g1, g2].tolist()
                for a in r.cell_fm
                for g1, g2 in zip(*np.triu_indices(r.cell_fm[a].shape[1]))
            },
        }
    elif job == "naive":
        out = naive(emb, subject, groups, bins)
    out["seconds"] = time.perf_counter() - t0
    out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out["n"] = len(emb)
    return out


def measure(job: str, spec: dict, block: int, bins: int) -> dict:
    """Runs ``job`` in a fresh interpreter (spawn), so RSS and caches start clean."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_job, (job, spec, block, bins))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embeddings", type=Path, help="(n, d) float .npy of real embeddings")
    parser.add_argument("--labels", type=Path, help="CSV: subject_id and attribute columns, one row per embedding")
    parser.add_argument("--n", type=int, default=13233, help="random data: number of images")
    parser.add_argument("--dim", type=int, default=128, help="random data: embedding dimension")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--naive-n", type=int, default=4000, help="rows for the naive comparison")
    parser.add_argument("--block", type=int, default=2048)
    parser.add_argument("--bins", type=int, default=4096)
    args = parser.parse_args()
    if (args.embeddings is None) != (args.labels is None):
        parser.error("--embeddings and --labels go together")
    if args.embeddings:
        spec = {"kind": "file", "embeddings": str(args.embeddings), "labels": str(args.labels)}
        name = f"{args.embeddings.name}"
    else:
        spec = {"kind": "random", "n": args.n, "d": args.dim, "seed": args.seed}
        name = f"random unit vectors, seed {args.seed}"

    print(f"data: {name}; block {args.block}, {args.bins} histogram bins; numpy {np.__version__}")
    base = measure("matmul", spec, args.block, args.bins)
    tiles = measure("tiles", spec, args.block, args.bins)
    full = measure("exhaustive", spec, args.block, args.bins)
    pairs = full["n"] * (full["n"] - 1) // 2
    print(f"n = {full['n']}: {pairs:,} pairs, {full['n_nonmated']:,} non-mated, {full['n_mated']:,} mated")
    report("float32 X @ X.T, full n x n", base, pairs)
    report("exact float64 tiles, GEMM only", tiles, pairs)
    report("exhaustive_scores", full, pairs)
    for f, t, k in zip(TARGETS, full["thresholds"], full["n_fm"]):
        fmr = k / full["n_nonmated"]
        print(f"  target FMR {f:.0e}: threshold {t:.7f}, {k} false matches, achieved FMR {fmr:.3e}")

    small = {**spec, "limit": args.naive_n}
    nv = measure("naive", small, args.block, args.bins)
    ex = measure("exhaustive", small, args.block, args.bins)
    print(f"first {nv['n']} rows ({nv['pairs']:,} pairs):")
    report("naive (full matrix + masks)", nv, nv["pairs"])
    report("exhaustive_scores", ex, nv["pairs"])
    print(f"  speed ratio per pair (naive / exhaustive): {nv['seconds'] / ex['seconds']:.1f}x")
    # The naive pass scores in float32 (not the exact quantised score), so a count may differ
    # where a pair lies within ~1e-7 of a threshold; the thresholds themselves differ as much.
    diffs = [np.abs(np.subtract(nv["counts"][key], ex["counts"][key])).max() for key in ex["counts"]]
    gap = max(abs(a - b) for a, b in zip(nv["thresholds"], ex["thresholds"]))
    print(
        f"  naive float32 pass vs exact scores: {np.count_nonzero(diffs)} of {len(diffs)} cells differ, "
        f"by at most {max(diffs)} pair(s); largest threshold difference {gap:.1e}"
    )


def report(label: str, result: dict, pairs: int) -> None:
    print(
        f"  {label:34s} {result['seconds']:7.2f} s  {result['seconds'] / pairs * 1e9:6.1f} ns/pair"
        f"  peak RSS {result['maxrss_mb']:5.0f} MiB  traced peak {result['traced_peak_mb']:5.0f} MiB"
    )

if __name__ == "__main__":
    main()
