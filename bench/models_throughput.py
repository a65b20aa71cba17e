"""Images per second per recognition model and detector: frbench with one and all workers against
the naive DeepFace.verify loop, on the same LFW pairs, in one run.

    .venv/bin/python bench/models_throughput.py                          # 40 pairs, 4 pipelines
    .venv/bin/python bench/models_throughput.py --pairs 20 --pipelines SFace/yunet Dlib/dlib

For each pipeline (model/detector, aligned), on the first ``--pairs``/2 mated and ``--pairs``/2
non-mated pairs of LFW View 2 fold 1, each measurement in a fresh spawned process (deepface keeps
one model per process, so a model built for one measurement would otherwise serve the next):

(a) naive: ``DeepFace.verify`` once per pair: every image slot is embedded again (2 per pair).
(b) frbench, one process: a built ``Embedder`` embeds each distinct image once, as the serial
    executor does, with onnxruntime's default thread pool and with one onnxruntime thread (what a
    frbench worker process uses, frbench.embed.onnx_threads). The build is not timed.
(c) frbench, all workers: ``embed_images`` with the processes executor, ``--workers`` workers and an
    empty cache, timed from call to return (workers' start-up and model builds included).
(d) batching: the recognition model's forward pass over the detected, aligned faces of the
    distinct images, one face at a time and as one batch (what DeepFace.represent does with a list).

images/s = embeddings computed per second of wall time (naive: 2 x pairs; frbench: distinct images).
The pairs' time is what a user waits to score the pairs: the naive loop's wall time against
frbench's embedding stage (c). The machine's load average is printed: on shared cores every
wall-clock figure is a lower bound. Weights must be ready (``frbench models``): the benchmark runs
offline and stops at once naming any missing file.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from frbench.embed import embed_images, usable_cpus
from frbench.embed.backend import Embedder, Pipeline, quiet_deepface
from frbench.embed.executors import WORKER_THREADS
from frbench.embed.weights import ensure_weights

REPO = Path(__file__).resolve().parents[1]
FOLD_PAIRS = 300  # mated pairs, then as many non-mated, per fold of pairs.txt
PIPELINES = ("Dlib/dlib", "SFace/yunet", "SFace/ssd", "Dlib/yunet")


def default_lfw() -> Path:
    data = os.environ.get("FRBENCH_DATA")
    if data and (Path(data) / "lfw" / "pairs.txt").is_file():
        return Path(data) / "lfw"
    return REPO.parent / "shared" / "datasets" / "lfw"


def fold_one_pairs(lfw: Path, n_pairs: int) -> list[tuple[str, str]]:
    """Paths of the first n/2 mated and n/2 non-mated pairs of fold 1 of pairs.txt."""
    lines = (lfw / "pairs.txt").read_text().splitlines()
    half = n_pairs // 2
    images = lfw / "images_deepfunneled"

    def path(name: str, number: str) -> str:
        return str(images / name / f"{name}_{int(number):04d}.jpg")

    pairs = []
    for line in lines[1 : 1 + half] + lines[1 + FOLD_PAIRS : 1 + FOLD_PAIRS + half]:
        parts = line.split("\t")
        if len(parts) == 3:
            pairs.append((path(parts[0], parts[1]), path(parts[0], parts[2])))
        else:
            pairs.append((path(parts[0], parts[1]), path(parts[2], parts[3])))
    return pairs


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _naive(pairs: list[tuple[str, str]], pipeline: Pipeline) -> dict[str, Any]:
    from deepface import DeepFace

    quiet_deepface()
    # the model is built before the clock starts, as for frbench's single process
    from deepface.modules import modeling

    modeling.build_model(task="facial_recognition", model_name=pipeline.model)
    modeling.build_model(task="face_detector", model_name=pipeline.detector)
    failed = 0
    t0, c0 = time.perf_counter(), _cpu()
    for a, b in pairs:
        try:
            DeepFace.verify(a, b, model_name=pipeline.model, detector_backend=pipeline.detector,
                            align=pipeline.align, distance_metric="cosine", silent=True)
        except ValueError:
            failed += 1  # no face in one of the two images
    return {"wall": time.perf_counter() - t0, "cpu": _cpu() - c0, "failed": failed}


def _single(paths: list[str], pipeline: Pipeline, onnx_threads: int | None) -> dict[str, Any]:
    embedder = Embedder(pipeline, onnx_threads=onnx_threads)
    t0, c0 = time.perf_counter(), _cpu()
    results = [embedder.embed(path) for path in paths]
    return {"wall": time.perf_counter() - t0, "cpu": _cpu() - c0, "failed": sum(r.status != "ok" for r in results)}


def _forward(paths: list[str], pipeline: Pipeline) -> dict[str, Any]:
    """Forward pass over the detected faces, one by one and as one batch (one onnxruntime thread)."""
    import cv2
    import numpy as np
    from deepface.modules import detection, modeling, preprocessing

    Embedder(pipeline, onnx_threads=WORKER_THREADS)  # builds both models, one thread each
    model = modeling.build_model(task="facial_recognition", model_name=pipeline.model)
    faces = []
    for path in paths:
        objs = detection.extract_faces(cv2.imread(path), detector_backend=pipeline.detector,
                                       enforce_detection=False, align=pipeline.align)
        face = preprocessing.resize_image(objs[0]["face"][:, :, ::-1], (model.input_shape[1], model.input_shape[0]))
        faces.append(preprocessing.normalize_input(face, pipeline.normalization))
    t0 = time.perf_counter()
    one = np.asarray([model.forward(face) for face in faces])
    t_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = np.asarray(model.forward(np.concatenate(faces, axis=0)))
    t_batch = time.perf_counter() - t0
    return {"one": t_one, "batch": t_batch, "n": len(faces), "max_diff": float(np.abs(one - batch).max())}


def _child(target: str, args: tuple[Any, ...], out: Any) -> None:
    quiet_deepface()
    out.put(globals()[target](*args))


def in_fresh_process(target: str, *args: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, out))
    proc.start()
    result = out.get()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"{target} failed in its process (exit status {proc.exitcode})")
    return result


def _pool(paths: list[str], pipeline: Pipeline, workers: int, cache: Path) -> dict[str, Any]:
    images = pd.DataFrame({"image_id": [f"img{i}" for i in range(len(paths))], "path": paths})
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    _, stats = embed_images(images, pipeline, cache, executor="processes", workers=workers, progress=False,
                            offline=True)
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {"wall": stats.seconds, "cpu": cpu, "workers": stats.workers, "executor": stats.executor,
            "computed": stats.n_computed, "failed": stats.n_failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=40, help="pairs of fold 1, half mated and half non-mated [40]")
    parser.add_argument("--workers", type=int, default=usable_cpus(), help="frbench worker processes [usable CPUs]")
    parser.add_argument("--pipelines", nargs="+", default=list(PIPELINES), metavar="MODEL/DETECTOR")
    parser.add_argument("--lfw", type=Path, default=default_lfw(), help="LFW folder with pairs.txt")
    args = parser.parse_args()
    if not 2 <= args.pairs <= 2 * FOLD_PAIRS or args.pairs % 2:
        sys.exit(f"--pairs must be even, between 2 and {2 * FOLD_PAIRS}")
    if not (args.lfw / "pairs.txt").is_file():
        sys.exit(f"no LFW at {args.lfw} (pairs.txt not found): pass --lfw or set FRBENCH_DATA")
    pipelines = []
    for spec in args.pipelines:
        model, _, detector = spec.partition("/")
        pipeline = Pipeline(model=model, detector=detector, align=True)
        ensure_weights(model, detector, offline=True)  # a missing weight file stops here, named
        pipelines.append(pipeline)
    pairs = fold_one_pairs(args.lfw, args.pairs)
    distinct = list(dict.fromkeys(p for pair in pairs for p in pair))
    w = args.workers
    print(f"LFW View 2 fold 1: {len(pairs)} pairs ({len(pairs) // 2} mated), {2 * len(pairs)} image slots, "
          f"{len(distinct)} distinct images; {usable_cpus()} usable CPUs, {w} frbench workers", flush=True)
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="frbench-models-throughput-") as tmp:
        for pipeline in pipelines:
            name = f"{pipeline.model}/{pipeline.detector}"
            naive = in_fresh_process("_naive", pairs, pipeline)
            default = in_fresh_process("_single", distinct, pipeline, None)
            one = in_fresh_process("_single", distinct, pipeline, WORKER_THREADS)
            pool = _pool(distinct, pipeline, w, Path(tmp) / name.replace("/", "-"))
            forward = in_fresh_process("_forward", distinct, pipeline)
            row = {
                "pipeline": name,
                "naive_img_s": 2 * len(pairs) / naive["wall"],
                "one_default_img_s": len(distinct) / default["wall"],
                "one_1thread_img_s": len(distinct) / one["wall"],
                "all_workers_img_s": pool["computed"] / pool["wall"],
                "naive_s": naive["wall"],
                "frbench_s": pool["wall"],
                "cpu_ms_per_img_default": 1000 * default["cpu"] / len(distinct),
                "cpu_ms_per_img_1thread": 1000 * one["cpu"] / len(distinct),
                "forward_ms_one": 1000 * forward["one"] / forward["n"],
                "forward_ms_batch": 1000 * forward["batch"] / forward["n"],
                "batch_max_diff": forward["max_diff"],
                "failed": f"{naive['failed']} pairs / {pool['failed']} images",
                "pool": f"{pool['executor']} x{pool['workers']}",
            }
            rows.append(row)
            print(f"{name}: naive {row['naive_img_s']:.1f} img/s ({naive['wall']:.1f} s); frbench 1 process "
                  f"{row['one_default_img_s']:.1f} img/s (onnxruntime default) / {row['one_1thread_img_s']:.1f} "
                  f"(1 thread); {row['pool']} {row['all_workers_img_s']:.1f} img/s ({pool['wall']:.1f} s, "
                  f"start-up included); forward {row['forward_ms_one']:.1f} ms/face one by one, "
                  f"{row['forward_ms_batch']:.1f} batched", flush=True)
    load_end = os.getloadavg()
    table = pd.DataFrame(rows)
    table["speed_up"] = table["naive_s"] / table["frbench_s"]
    print()
    print(f"load average (1 min): {load_start[0]:.1f} at start, {load_end[0]:.1f} at end, on {os.cpu_count()} CPUs")
    cols = ["pipeline", "naive_img_s", "one_default_img_s", "one_1thread_img_s", "all_workers_img_s", "pool",
            "naive_s", "frbench_s", "speed_up", "cpu_ms_per_img_default", "cpu_ms_per_img_1thread",
            "forward_ms_one", "forward_ms_batch", "batch_max_diff", "failed"]
    print(table[cols].to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
