"""Shared fixtures. Every test runs with DEEPFACE_HOME, caches and matplotlib config in temp dirs,
so the suite never writes to the user's home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_LFW = REPO.parent / "shared" / "datasets" / "lfw"


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("home")
    for var, sub in [
        ("DEEPFACE_HOME", "deepface"),
        ("FRBENCH_CACHE", "frbench-cache"),
        ("MPLCONFIGDIR", "mpl"),
        ("XDG_CACHE_HOME", "xdg-cache"),
    ]:
        path = base / sub
        path.mkdir()
        os.environ[var] = str(path)
    os.environ.setdefault("MPLBACKEND", "Agg")
    # `frbench models` fetches pinned weights unless offline: tests list without downloading
    os.environ["FRBENCH_OFFLINE"] = "1"


def lfw_root() -> Path:
    """The shared LFW copy: $FRBENCH_DATA/lfw if set, else ../shared/datasets/lfw."""
    data = os.environ.get("FRBENCH_DATA")
    # absolute, since tests link to it from temporary folders
    if data and (Path(data) / "lfw" / "pairs.txt").is_file():
        return (Path(data) / "lfw").resolve()
    return SHARED_LFW.resolve()


@pytest.fixture(scope="session")
def lfw() -> Path:
    root = lfw_root()
    if not (root / "pairs.txt").is_file() or not (root / "images_deepfunneled").is_dir():
        pytest.skip(f"LFW not found at {root} (set FRBENCH_DATA or provide ../shared/datasets/lfw)")
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty DEEPFACE_HOME; returns its weights directory (not created)."""
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / ".deepface" / "weights"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection, any download through deepface and any pip download of a wheel fails the test."""
    import socket

    from deepface.commons import weight_utils

    from frbench.embed import provision

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(weight_utils, "download_weights_if_necessary", forbidden)
    monkeypatch.setattr(provision, "download_wheel", forbidden)


def default_sigint() -> None:
    """For Popen's ``preexec_fn``: Ctrl-C's default action in the child, as in a terminal.

    A background job of a non-interactive shell (``cmd &`` in a script, nohup) starts with SIGINT
    ignored, which its children inherit and Python then leaves ignored: a test that stops a child
    with SIGINT would wait for ever. The child gets SIGINT's default, whatever the test ran under.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def processes():
    """Processes a test starts (append each Popen): any still running when the test ends, however it
    ends, is killed and reaped, so that no server or run outlives its test."""
    import subprocess

    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
