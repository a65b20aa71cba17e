"""Exhaustive scoring and 1:N search on a 2-worker Dask LocalCluster give what one process gives,
bit for bit: the arrays of the scoring functions and every output file of a run."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

pytest.importorskip("dask.distributed")

from frbench.config import validate_config  # noqa: E402
from frbench.scoring.distributed import dask_client, distributed_exhaustive_scores, split_tiles  # noqa: E402
from frbench.scoring.exhaustive import exhaustive_scores  # noqa: E402
from frbench.search.sharded import merge_shard_lists, sharded_search  # noqa: E402
from frbench.search.topk import search  # noqa: E402
from frbench.workflows.run import run_benchmark  # noqa: E402
from tests.builders import csv_config, make_csv_dataset, needs_dlib  # noqa: E402


def _children() -> set[int]:
    """This process's descendants, but multiprocessing's resource tracker: Python starts one for the
    first spawned child and it lives exactly as long as this process (it exits when its pipe closes)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "multiprocessing.resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


def _describe(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(" ".join(psutil.Process(pid).cmdline()))
        except psutil.Error:
            pass
    return out


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    before = _children()
    with dask_client(workers=2) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        yield c
    # the cluster's worker processes are gone once it is closed
    psutil.wait_procs([psutil.Process(p) for p in _children() - before if psutil.pid_exists(p)], timeout=10)
    assert _describe(_children() - before) == []


def assert_same_result(x: object, y: object) -> None:
    for f in dataclasses.fields(x):
        a, b = getattr(x, f.name), getattr(y, f.name)
        if isinstance(a, dict):
            assert a.keys() == b.keys(), f.name
            for k in a:
                assert np.array_equal(a[k], b[k]), (f.name, k)
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), f.name
        else:
            assert a == b, f.name


def scoring_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    n, d = 500, 12
    emb = rng.normal(size=(n, d))
    # exact duplicates: tied scores at the target thresholds
    emb[250:270] = emb[230:250]
    subject = rng.integers(0, 150, n)
    groups = {"gender": rng.integers(0, 2, n), "race": rng.integers(0, 4, n)}
    groups["race+gender"] = groups["race"] * 2 + groups["gender"]
    return emb, subject, groups


@pytest.mark.parametrize("metric", ["cosine", "euclidean_l2"])
def test_exhaustive_counts_on_two_workers_equal_one_process(client: object, metric: str) -> None:
    emb, subject, groups = scoring_data()
    kw = dict(thresholds=[0.3, 0.6] if metric == "cosine" else [-1.2], targets=[1e-2, 1e-3, 1e-4], block=48,
              metric=metric, hist_bins=256)
    ref = exhaustive_scores(emb, subject, groups, **kw)
    got = distributed_exhaustive_scores(client, emb, subject, groups, **kw, n_tasks=7)
    assert_same_result(ref, got)
    assert ref.n_fm[-1] <= 1e-4 * ref.n_nonmated


def test_tiles_are_dealt_evenly_and_all_once() -> None:
    tiles = [(i, j) for i in range(10) for j in range(i, 10)]
    parts = split_tiles(tiles, 4)
    assert [t for p in parts for t in p] == tiles
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert len(split_tiles(tiles[:3], 8)) == 3


def test_sharded_search_on_two_workers_equals_one_process(client: object) -> None:
    rng = np.random.default_rng(3)
    gallery = rng.normal(size=(400, 16)).astype(np.float32)
    gallery[300:320] = gallery[10:30]  # tied scores across shards: ranked by gallery row
    gallery[5] = np.nan  # a template that failed to enrol
    subjects = rng.integers(0, 120, 400)  # subjects with images in several shards
    probes = rng.normal(size=(60, 16)).astype(np.float32)
    probes[:10] = gallery[10:20]
    probes[7] = np.nan  # a failed probe
    ref = search(probes, gallery, subjects, 10)
    got = sharded_search(client, probes, gallery, subjects, 10, shards=5)
    assert np.array_equal(ref.rows, got.rows)
    assert np.array_equal(ref.scores, got.scores, equal_nan=True)
    assert (got.rows[7] == -1).all()


def test_merging_shard_lists_applies_the_tie_rule() -> None:
    codes = np.array([0, 1, 2, 1, 3])
    # shard A has rows 0, 1; shard B rows 2, 3, 4; subject 1 appears in both
    rows = [np.array([[1, 0]]), np.array([[3, 2, 4]])]
    scores = [np.array([[0.9, 0.5]]), np.array([[0.9, 0.7, 0.5]])]
    out_rows, out_scores = merge_shard_lists(rows, scores, codes, 3)
    # 0.9 at rows 1 and 3 (both subject 1): row 1 represents it; then row 2 (0.7); then row 0 before 4 (0.5)
    assert out_rows.tolist() == [[1, 2, 0]]
    assert out_scores.tolist() == [[0.9, 0.7, 0.5]]


def _run(root: Path, tmp_path: Path, name: str, execution: dict, **extra: object) -> Path:
    cfg = csv_config(root, tmp_path / "cache", execution=execution, **extra)
    out = tmp_path / name
    run_benchmark(validate_config(cfg), out_dir=out, progress=False)
    return out


def _untimed(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.endswith("_seconds")}


def assert_same_outputs(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    compared = 0
    for rel in files_a:
        if rel.name == "manifest.json" or rel.suffix == ".png":
            continue  # the manifest records the executor and timings; plots embed no numbers of their own
        if rel.name == "identification.json":  # equal but for how long the searches took
            assert _untimed(json.loads((a / rel).read_text())) == _untimed(json.loads((b / rel).read_text()))
            continue
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        compared += 1
    assert compared >= 5


@needs_dlib
@pytest.mark.parametrize(
    "protocol",
    [
        {"pairs": {"protocol": "exhaustive", "block": 4}, "thresholds": {"target_fmr": [0.1, 0.01], "fixed": [0.9]}},
        {"pairs": {"protocol": "identification"},
         "identification": {"candidates": 3, "ranks": [1, 3], "target_fpir": [0.5], "enrolled_fraction": 0.5,
                            "gallery_size": {"steps": 2, "smallest": 2, "repeats": 2}},
         "thresholds": {"target_fmr": []}},
    ],
    ids=["exhaustive", "identification"],
)
def test_run_on_a_two_worker_cluster_writes_the_same_files(tmp_path: Path, protocol: dict) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=8, per_subject=3)
    before = _children()
    one = _run(root, tmp_path, "serial", {"executor": "serial"}, **protocol)
    # embeddings now come from the cache: only the scoring or search runs on the cluster
    two = _run(root, tmp_path, "dask", {"executor": "dask", "workers": 2, "scratch_dir": str(tmp_path / "scratch")},
               **protocol)
    assert_same_outputs(one, two)
    assert not any((tmp_path / "scratch").iterdir())  # the memory-mapped arrays are removed
    psutil.wait_procs([psutil.Process(p) for p in _children() - before if psutil.pid_exists(p)], timeout=10)
    assert _describe(_children() - before) == []
