"""Embedding throughput of ``frbench run`` against a naive DeepFace.verify loop, on LFW View 2 fold 1.

    .venv/bin/python bench/throughput.py                        # the whole fold: 600 pairs, 807 images
    .venv/bin/python bench/throughput.py --pairs 100 --workers 2

Measured in one process, one after the other, on the same pairs (the first ``--pairs``/2 mated and
the first ``--pairs``/2 non-mated pairs of fold 1 of pairs.txt, linked into a temporary LFW folder):

(a) naive: ``DeepFace.verify`` once per pair with the config's model, detector, alignment and metric,
    in this process: every image is embedded again for every pair it is in. Against it, frbench's
    ``run_benchmark`` on the same pairs with ``configs/lfw-dlib-quick.yaml``, ``--workers`` processes
    and an empty cache (the whole run: dataset, hashing, workers' start-up, scoring, tables, figures).
(b) single-process throughput: a built ``Embedder`` embeds every distinct image of the run in this
    process (the same per-image work as a worker, without start-up, cache or transfer costs).
    Parallel efficiency = frbench's embedding throughput with W workers / (W x that throughput), the
    embedding stage timed from ``embed_images`` call to return, start-up of the pool included.
    As a control, W independent processes with models built beforehand embed the same images (every
    W-th each), timed from a barrier: the best these cores give at the moment. On cores shared with
    other work a worker may get much less than a core, so the workers' CPU time is reported too:
    CPU-time efficiency = single-process CPU per image x images / workers' CPU, the share of the
    workers' CPU spent on the per-image work rather than on start-up and transfers.
(c) warm: the frbench run again on its now complete cache.

It also compares frbench's scores with the naive loop's distances (similarity = -distance for
euclidean): they agree except for pairs with an image holding several faces, where verify takes the
closest of all face combinations and frbench embeds the largest face (frbench.embed.backend).
The machine's load average is printed: on shared cores every wall-clock figure is a lower bound.
Weights are read from $DEEPFACE_HOME; the run's cache and outputs live in a temporary directory
that is removed at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TypeVar

import pandas as pd

from frbench.config import load_config
from frbench.embed import usable_cpus
from frbench.embed.backend import Embedder, Pipeline, quiet_deepface
from frbench.embed.weights import provision_packaged_weights

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
FOLD_PAIRS = 300  # mated pairs, then as many non-mated, per fold of pairs.txt


def default_lfw() -> Path:
    data = os.environ.get("FRBENCH_DATA")
    # absolute: the benchmark links to it from a temporary folder
    if data and (Path(data) / "lfw" / "pairs.txt").is_file():
        return (Path(data) / "lfw").resolve()
    return (REPO.parent / "shared" / "datasets" / "lfw").resolve()


def image_id(name: str, number: str) -> str:
    """LFW's image id (docs/ARCHITECTURE.md): the path under images_deepfunneled."""
    return f"{name}/{name}_{int(number):04d}.jpg"


def fold_one_subset(lfw: Path, dest: Path, n_pairs: int) -> list[tuple[str, str]]:
    """Link an LFW-layout folder at ``dest`` whose pairs.txt holds the chosen pairs; returns their image ids."""
    lines = (lfw / "pairs.txt").read_text().splitlines()
    half = n_pairs // 2
    chosen = lines[1 : 1 + half] + lines[1 + FOLD_PAIRS : 1 + FOLD_PAIRS + half]
    (dest / "labels").mkdir(parents=True)
    for label in (lfw / "labels").iterdir():
        (dest / "labels" / label.name).symlink_to(label)
    (dest / "images_deepfunneled").symlink_to(lfw / "images_deepfunneled")
    (dest / "pairs.txt").write_text(f"1\t{half}\n" + "\n".join(chosen) + "\n")
    pairs = []
    for line in chosen:
        parts = line.split("\t")
        if len(parts) == 3:
            pairs.append((image_id(parts[0], parts[1]), image_id(parts[0], parts[2])))
        else:
            pairs.append((image_id(parts[0], parts[1]), image_id(parts[2], parts[3])))
    return pairs


@dataclass
class Timed:
    """Wall time and CPU time of one step: this process's, and its finished children's (workers)."""

    wall: float
    cpu_self: float
    cpu_children: float


def timed(step: Callable[[], T]) -> tuple[T, Timed]:
    def cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    s0, c0, t0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = step()
    wall = time.perf_counter() - t0
    return out, Timed(wall, cpu(resource.RUSAGE_SELF) - s0, cpu(resource.RUSAGE_CHILDREN) - c0)


def naive_verify(pairs: list[tuple[str, str]], model: str, detector: str, align: bool, metric: str,
                 enforce: bool) -> list[float]:
    """One DeepFace.verify call per pair of paths (the model is built at the first); the distances."""
    from deepface import DeepFace
    from deepface.modules.exceptions import FaceNotDetected

    distances = []
    for a, b in pairs:
        try:
            out = DeepFace.verify(a, b, model_name=model, detector_backend=detector, align=align,
                                  distance_metric=metric, enforce_detection=enforce, silent=True)
            distances.append(float(out["distance"]))
        except ValueError as err:
            # only a face the detector cannot find (deepface wraps it in a ValueError) is a per-pair
            # failure; anything else, such as weights that cannot be loaded, would make the
            # baseline meaninglessly fast, so it stops the benchmark
            if not isinstance(err, FaceNotDetected) and not isinstance(err.__cause__, FaceNotDetected):
                raise
            distances.append(float("nan"))
    return distances


def single_process(paths: list[str], pipeline: Pipeline) -> Timed:
    """A built Embedder embeds ``paths`` one by one in this process (the build is not timed)."""
    embedder = Embedder(pipeline)
    return timed(lambda: [embedder.embed(path) for path in paths])[1]


def _independent_worker(paths: list[str], pipeline: Pipeline, ready: Barrier, done: Queue) -> None:
    embedder = Embedder(pipeline)
    ready.wait()
    for path in paths:
        embedder.embed(path)
    done.put(time.perf_counter())


def independent_processes(paths: list[str], pipeline: Pipeline, workers: int) -> float:
    """Seconds for ``workers`` independent processes, models built beforehand, to embed ``paths``
    (every ``workers``-th image each): what the machine's cores allow, with no pool, transfer or cache.
    """
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_independent_worker, args=(paths[i::workers], pipeline, ready, done))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    ready.wait()
    started = time.perf_counter()
    finished = max(done.get() for _ in procs)
    for proc in procs:
        proc.join()
    return finished - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2 * FOLD_PAIRS,
                        help="pairs of fold 1, half mated and half non-mated [600, the whole fold]")
    parser.add_argument("--workers", type=int, default=usable_cpus(), help="frbench worker processes [usable CPUs]")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "lfw-dlib-quick.yaml")
    parser.add_argument("--lfw", type=Path, default=default_lfw(), help="LFW folder with pairs.txt")
    args = parser.parse_args()
    if not 2 <= args.pairs <= 2 * FOLD_PAIRS or args.pairs % 2:
        sys.exit(f"--pairs must be even, between 2 and {2 * FOLD_PAIRS}")
    if args.workers < 1:
        sys.exit("--workers must be >= 1")
    if not (args.lfw / "pairs.txt").is_file():
        sys.exit(f"no LFW at {args.lfw} (pairs.txt not found): pass --lfw or set FRBENCH_DATA")
    # imported here, not at the top: spawned workers import this script as their __main__, and
    # matplotlib and scipy (pulled in by frbench.workflows.run) would slow every worker's start, which the
    # frbench command line does not
    from frbench.workflows.run import pipeline_from_config, run_benchmark

    quiet_deepface()
    # the naive loop runs first and must find the Dlib weights where deepface looks for them
    provision_packaged_weights()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="frbench-throughput-") as tmp_dir:
        tmp = Path(tmp_dir)
        pairs = fold_one_subset(args.lfw, tmp / "lfw", args.pairs)
        images = args.lfw / "images_deepfunneled"
        paths = [(str(images / a), str(images / b)) for a, b in pairs]
        distinct = list(dict.fromkeys(p for pair in paths for p in pair))
        config = load_config(args.config, [
            f"dataset.root={tmp / 'lfw'}", f"cache.dir={tmp / 'cache'}", "execution.executor=processes",
            f"execution.workers={args.workers}", "offline=true",
        ])
        m = config.model
        pipeline = pipeline_from_config(config)
        print(f"LFW View 2 fold 1, first {args.pairs // 2} mated + {args.pairs // 2} non-mated pairs: "
              f"{len(pairs)} pairs, {2 * len(pairs)} image slots, {len(distinct)} distinct images")
        print(f"pipeline: {m.name}/{m.detector}, align={m.align}, metric {m.distance_metric}; "
              f"{usable_cpus()} usable CPUs, {args.workers} frbench workers", flush=True)

        distances, naive = timed(lambda: naive_verify(paths, m.name, m.detector, m.align, m.distance_metric,
                                                      m.enforce_detection))
        print(f"naive verify loop: {naive.wall:.1f} s", flush=True)
        cold, cold_t = timed(lambda: run_benchmark(config, out_dir=tmp / "cold", progress=False))
        stats = cold.embed_stats
        print(f"frbench run, cold: {cold_t.wall:.1f} s ({stats.summary()})", flush=True)
        # right after the cold run, so that both see much the same load on the machine
        single = single_process(distinct, pipeline)
        print(f"single process: {single.wall:.1f} s for {len(distinct)} images", flush=True)
        independent = independent_processes(distinct, pipeline, stats.workers)
        print(f"{stats.workers} independent processes: {independent:.1f} s", flush=True)
        warm, warm_t = timed(lambda: run_benchmark(config, out_dir=tmp / "warm", progress=False))
        print(f"frbench run, warm: {warm_t.wall:.1f} s ({warm.embed_stats.summary()})", flush=True)
        load_end = os.getloadavg()

    naive_pairs = pd.DataFrame(pairs, columns=["image_a", "image_b"]).assign(distance=distances)
    joined = cold.scores.merge(naive_pairs, on=["image_a", "image_b"], validate="one_to_one")
    assert len(joined) == len(pairs), "frbench scored other pairs than the naive loop"
    # docs/ARCHITECTURE.md, Scores: euclidean distances -> -d, cosine and angular -> 1 - d
    similarity = -joined["distance"] if m.distance_metric.startswith("euclidean") else 1 - joined["distance"]
    both = joined["ok"] & joined["distance"].notna()
    gap = (similarity - joined["score"])[both]
    differ = gap.abs() > 1e-5

    w = stats.workers
    single_ips = len(distinct) / single.wall
    frbench_ips = stats.n_computed / stats.seconds
    control_ips = len(distinct) / independent
    single_cpu_per_image = single.cpu_self / len(distinct)
    worker_cpu = cold_t.cpu_children  # the pool's workers: children of this process, reaped at shutdown
    timings = ", ".join(f"{k} {v:.1f}" for k, v in warm.manifest["timings_s"].items())
    print()
    print(f"load average (1 min): {load_start[0]:.1f} at start, {load_end[0]:.1f} at end, on {os.cpu_count()} CPUs")
    print(f"(a) naive DeepFace.verify loop, 1 process, {2 * len(pairs)} embeddings: {naive.wall:.1f} s")
    print(f"    frbench run, cold cache, {stats.n_computed} embeddings ({stats.executor}, {w} workers): "
          f"{cold_t.wall:.1f} s, of which embedding {stats.seconds:.1f} s")
    print(f"    speed-up: {naive.wall / cold_t.wall:.2f}x (whole run), "
          f"{naive.wall / stats.seconds:.2f}x (embedding stage)")
    print(f"(b) single process, built model: {single_ips:.2f} img/s ({1000 * single_cpu_per_image:.0f} ms "
          f"CPU per image, {single.cpu_self / single.wall:.2f} of a core)")
    print(f"    frbench, {w} workers: {frbench_ips:.2f} img/s; parallel efficiency {frbench_ips:.2f} / "
          f"({w} x {single_ips:.2f}) = {100 * frbench_ips / (w * single_ips):.0f}%")
    print(f"    control, {w} independent processes with built models, no pool: {control_ips:.2f} img/s "
          f"= {100 * control_ips / (w * single_ips):.0f}% of {w} x single (what these cores give now); "
          f"frbench reaches {100 * frbench_ips / control_ips:.0f}% of it")
    if stats.executor == "processes":
        print(f"    workers' CPU {worker_cpu:.1f} s, {1000 * worker_cpu / stats.n_computed:.0f} ms per image "
              f"(start-up included): CPU-time efficiency "
              f"{100 * single_cpu_per_image * stats.n_computed / worker_cpu:.0f}%; "
              f"the workers got {worker_cpu / (w * stats.seconds):.2f} of each of their {w} cores")
    print(f"(c) warm rerun: {warm_t.wall:.1f} s = {100 * warm_t.wall / cold_t.wall:.1f}% of the cold run "
          f"(timings: {timings})")
    print(f"results: {int(both.sum())} pairs scored by both; {int((~differ).sum())} agree within 1e-5 "
          f"(max {gap[~differ].abs().max():.1e}); {int(differ.sum())} differ, all with a closer naive "
          f"distance: {bool((gap[differ] > 0).all())} (verify takes the closest of all face combinations, "
          f"frbench the largest face); failed pairs: naive {int(joined['distance'].isna().sum())}, "
          f"frbench {int((~joined['ok']).sum())}")

if __name__ == "__main__":
    main()
