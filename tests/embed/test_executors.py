"""The serial, process-pool and Dask executors give identical embeddings; Dask is optional."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from frbench.embed import EmbedStats, embed_images, executors, weights
from frbench.embed.backend import Pipeline
from frbench.errors import ConfigError, FrbenchError

# the whole frame goes into the model, so any picture is embedded: no faces needed
SKIP = Pipeline(model="Dlib", detector="skip", align=False)

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models",
)
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="needs frbench[dask]")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """20 distinct noise pictures (more than MIN_PARALLEL, so a pool is used), a copy, a broken and a missing file."""
    weights.provision_packaged_weights()
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    paths = []
    for i in range(20):
        paths.append(root / f"img{i:02d}.png")
        cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (120, 120, 3), dtype=np.uint8))
    (root / "copy.png").write_bytes(paths[0].read_bytes())
    (root / "broken.jpg").write_text("not an image")
    paths += [root / "copy.png", root / "broken.jpg", root / "absent.jpg"]
    return pd.DataFrame({"image_id": [p.name for p in paths], "path": [str(p) for p in paths]})


@pytest.fixture(scope="module")
def serial(images: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return embed_images(images, SKIP, tmp_path_factory.mktemp("serial"), executor="serial", progress=False)


def assert_same(got: tuple, expected: tuple) -> None:
    (emb, stats), (ref, _) = got, expected
    assert emb.image_ids == ref.image_ids
    assert emb.matrix.tobytes() == ref.matrix.tobytes()
    assert emb.status.equals(ref.status) and emb.detail.equals(ref.detail)
    # 21 files embedded (the copy shares img00's bytes), the missing one never reaches the model
    assert (stats.n_images, stats.n_cached, stats.n_computed, stats.n_failed) == (23, 0, 22, 2)


@needs_dlib
def test_serial_reference_is_sane(serial: tuple) -> None:
    emb, stats = serial
    assert (stats.executor, stats.workers) == ("serial", 1)
    assert list(emb.status.iloc[-3:]) == ["ok", "unreadable", "missing"]
    assert (emb.status.iloc[:21] == "ok").all() and emb.matrix.shape == (23, 128)
    assert emb.matrix[0].tobytes() == emb.matrix[20].tobytes()
    # distinct pictures, distinct embeddings
    assert len({row.tobytes() for row in emb.matrix[:20]}) == 20


@needs_dlib
def test_process_pool_matches_serial(images: pd.DataFrame, serial: tuple, tmp_path: Path) -> None:
    got = embed_images(images, SKIP, tmp_path, executor="processes", workers=2, progress=False)
    assert (got[1].executor, got[1].workers) == ("processes", 2)
    assert_same(got, serial)


@needs_dlib
@needs_dask
def test_dask_on_a_given_scheduler_matches_serial(images: pd.DataFrame, serial: tuple, tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    # two threads in one process: chunks meet the per-process model lock
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        got = embed_images(
            images, SKIP, tmp_path, executor="dask", scheduler=cluster.scheduler_address, progress=False
        )
    assert got[1].executor == "dask"
    assert_same(got, serial)


@needs_dlib
@needs_dask
def test_dask_local_process_cluster_matches_serial(images: pd.DataFrame, serial: tuple, tmp_path: Path) -> None:
    got = embed_images(images, SKIP, tmp_path, executor="dask", workers=2, progress=False)
    assert (got[1].executor, got[1].workers) == ("dask", 2)
    assert_same(got, serial)


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a None entry makes the import fail as if the package were absent
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    frame = pd.DataFrame({"image_id": ["a"], "path": [str(tmp_path / "a.png")]})
    with pytest.raises(FrbenchError, match=r"pip install 'frbench\[dask\]'"):
        embed_images(frame, SKIP, tmp_path / "cache", executor="dask", progress=False)
    assert not (tmp_path / "cache").exists()


@needs_dask
def test_unreachable_scheduler_is_named(tmp_path: Path) -> None:
    import dask

    frame = pd.DataFrame({"image_id": ["a"], "path": [str(tmp_path / "a.png")]})
    cv2.imwrite(frame["path"][0], np.zeros((8, 8, 3), np.uint8))
    # port 9 (discard) on localhost: nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(FrbenchError, match="dask scheduler at tcp://127.0.0.1:9"):
            embed_images(frame, SKIP, tmp_path, executor="dask", scheduler="tcp://127.0.0.1:9", progress=False)


def test_scheduler_without_dask_is_a_config_error(tmp_path: Path) -> None:
    frame = pd.DataFrame({"image_id": ["a"], "path": ["a.png"]})
    with pytest.raises(ConfigError, match="scheduler 'tcp://h:8786'.*only applies to executor 'dask'"):
        embed_images(frame, SKIP, tmp_path, executor="processes", scheduler="tcp://h:8786", progress=False)


@pytest.mark.parametrize(
    ("n", "workers", "expected"),
    [(807, 2, 4), (100, 2, 4), (40, 2, 2), (32, 2, 1), (1, 4, 1), (10_000, 16, 4)],
)
def test_chunk_size_gives_every_worker_several_tasks(n: int, workers: int, expected: int) -> None:
    # ceil(n / (16 * workers)), capped at 4: 807 / 32 -> 26 -> 4; 40 / 32 -> 2; 32 / 32 -> 1
    assert executors.chunk_size(n, workers) == expected


def test_summary_line() -> None:
    stats = EmbedStats(
        n_images=807, n_cached=7, n_computed=797, n_failed=3, seconds=161.04, executor="processes", workers=2
    )
    assert stats.summary() == "807 images: 797 embedded, 7 from cache, 3 failed; 161.0 s"


def test_workers_start_with_single_threaded_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # the user's choice wins
    with executors._single_threaded_children():
        assert [os.environ.get(n) for n in executors.THREAD_ENV] == ["1", "3", "1"]
    assert "OMP_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
