"""Batch use (a shell loop, a job array, CI): no wrong result with exit status 0.

Each test drives a library call or the real command line on a tiny dataset with imported scores
(no model), so that it is quick; the tests that need a model say so.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from frbench.report.files import atomic_write_bytes
from frbench.report.output_dir import LOCK_FILE, output_lock
from frbench.workflows.manifest import run_dir_problems
from tests.builders import make_scored_dataset, scored_config


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_umask_mode_not_0600(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "table.csv", b"a,b\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o666 & ~umask


# --- one writer per output folder -------------------------------------------------------------

# `frbench run` whose run, once it holds its folder's lock, waits at the scoring step until the
# file GATE exists: the test decides when the run may finish, however loaded the machine is.
GATED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import frbench.measure.protocols as protocols

    gate = Path(sys.argv[1])
    real = protocols.import_scores

    def gated(*args, **kwargs):
        Path(str(gate) + ".waiting").touch()
        while not gate.exists():
            time.sleep(0.05)
        return real(*args, **kwargs)

    protocols.import_scores = gated
    from frbench.cli.app import main
    main(sys.argv[2:], prog_name="frbench")
    """
)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts: killed, if still running, when the test ends, however it ends."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def scored_run(tmp_path: Path, **extra: object) -> Path:
    """A config file of the imported-scores dataset (made once per test folder)."""
    data = tmp_path / "data"
    if not data.is_dir():
        data.mkdir()
        make_scored_dataset(data)
    path = tmp_path / f"scored-{len(list(tmp_path.glob('scored-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(scored_config(data, **extra)))
    return path


def cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frbench.cli", *args], capture_output=True, text=True, timeout=600,
                          **kwargs)


def test_a_second_run_into_a_locked_folder_refuses_at_once_naming_the_first(tmp_path: Path) -> None:
    cfg = scored_run(tmp_path)
    out = tmp_path / "same"
    with output_lock(out, command="frbench run other.yaml -o same"):
        done = cli("run", str(cfg), "-o", str(out), "-q")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        done.stderr.splitlines()[0]
    ] and f"being written by another run (PID {os.getpid()}: frbench run other.yaml -o same" in done.stderr
    # nothing of the refused run was written, and the lock went with its holder
    assert not (out / "manifest.json").exists() and not (out / LOCK_FILE).exists()


def test_two_runs_into_one_folder_at_once_one_refuses_the_other_is_consistent(
    tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    script = tmp_path / "gated.py"
    script.write_text(GATED_RUN)
    gate = tmp_path / "gate"
    out = tmp_path / "same"
    settings = {"low": 0.4, "high": 0.6}
    for name, fixed in settings.items():
        cfg = scored_run(tmp_path, name=name, thresholds={"deepface_default": False, "target_fmr": [0.1], "fixed": [fixed]})
        processes.append(subprocess.Popen(
            [sys.executable, str(script), str(gate), "run", str(cfg), "-o", str(out), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    # the one holding the lock waits at the gate; the other must have been refused, not queued
    refused = None
    deadline = time.monotonic() + 300
    while refused is None and time.monotonic() < deadline:
        refused = next((p for p in processes if p.poll() is not None), None)
        time.sleep(0.05)
    assert refused is not None, "neither run was refused"
    holder = next(p for p in processes if p is not refused)
    _, err = refused.communicate()
    assert refused.returncode == 2, err
    assert f"is being written by another run (PID {holder.pid}: " in err
    gate.touch()
    _, err = holder.communicate(timeout=300)
    assert holder.returncode == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert run_dir_problems(out, manifest) == []
    winner = manifest["config"]["name"]
    thresholds = pd.read_csv(out / "thresholds.csv")
    assert f"fixed={settings[winner]}" in set(thresholds["threshold_name"]), (winner, thresholds)
    assert f"fixed={settings[winner]}" in (out / "report.md").read_text()
    assert f"fixed={settings[winner]}" in set(pd.read_csv(out / "per_group.csv")["threshold_name"])


def test_compare_and_from_refuse_a_folder_mixing_two_runs(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for out, fixed in ((first, 0.4), (second, 0.6)):
        cfg = scored_run(tmp_path, thresholds={"deepface_default": False, "target_fmr": [0.1], "fixed": [fixed]})
        assert cli("run", str(cfg), "-o", str(out), "-q").returncode == 0
    shutil.copy(second / "scores.csv", first / "scores.csv")  # a mix made by hand
    done = cli("compare", str(first), str(second))
    assert done.returncode == 2, done.stderr
    assert "scores.csv: not the file run " in done.stderr and "sha256 differs" in done.stderr
    done = cli("run", "--from", str(first / "manifest.json"), "-o", str(tmp_path / "again"), "-q")
    assert done.returncode == 2, done.stderr
    assert "scores.csv: not the file run " in done.stderr
