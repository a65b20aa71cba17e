"""Output paths checked before any work: a run that cannot write its tables must not start, and one
folder has one writer at a time (``output_lock``)."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from frbench.errors import OutputError


def check_output_dir(out_dir: Path) -> None:
    """Raise OutputError unless ``out_dir`` can be created (if absent) and written.

    The check is done, not guessed from permission bits (which root, read-only mounts, ``/proc``
    and network file systems make unreliable): missing folders are created, a probe file is
    written and removed in ``out_dir``, and the folders this check created are removed again, so
    that a run which stops later for another reason leaves nothing behind.
    """
    out_dir = Path(out_dir)
    missing: list[Path] = []
    created: list[Path] = []
    try:
        existing = out_dir
        while not existing.exists() and not existing.is_symlink():
            missing.append(existing)
            existing = existing.parent
        if not existing.is_dir():
            raise OutputError(f"output directory {out_dir} cannot be created: {existing} is a file, not a directory")
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".frbench-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise OutputError(f"output directory {out_dir} cannot be created or written: {exc.strerror or exc}{where}") from None
    finally:
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                pass


def check_output_file(path: Path) -> None:
    """Raise OutputError unless the folder of ``path`` can be created and written (and ``path`` is no folder)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output file {path} is a directory")
    check_output_dir(path.parent if str(path.parent) else Path("."))


# One writer per output folder: this file in the folder is locked (flock) by the run writing it.
LOCK_FILE = ".frbench.lock"
# Locks this process holds, by resolved folder: [open file, depth] (a reproduction or grid takes
# the lock its runs take again).
_held: dict[str, list[Any]] = {}


def describe_command(argv: Sequence[str] | None = None) -> str:
    """The command line of this process, as a user would recognise it (``frbench run ...``)."""
    args = list(sys.argv if argv is None else argv)
    first = Path(args[0]).name if args else "python"
    if first in ("__main__.py", "-m", "-c", "app.py") or not args:
        first = "frbench"
    return shlex.join([first, *args[1:]])


def _holder(handle: Any) -> str:
    """Who holds a lock, from what its holder wrote into the lock file."""
    try:
        handle.seek(0)
        info = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another frbench process"
    return f"PID {info['pid']}: {info.get('command', '?')}" + (f", since {info['started']}" if info.get("started") else "")


def _open_lock(path: Path) -> Any:
    try:
        return open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"output directory {path.parent} cannot be locked: {exc.strerror or exc}") from None


@contextmanager
def output_lock(out_dir: Path, command: str | None = None, run_id: str | None = None) -> Iterator[None]:
    """Hold ``out_dir``'s writer lock (creating the folder) while the block runs.

    An OS lock (``flock``) on ``out_dir/.frbench.lock``: the kernel releases it when its holder
    exits, however it ends (SIGKILL included), so a lock file left behind by a dead run is stale
    and simply taken over. A second writer is refused at once with OutputError naming the holder's
    PID and command. The same process may take a lock it holds again (a grid's cells, a
    reproduction's run). The lock file is removed on release.
    """
    out_dir = Path(out_dir)
    key = str(out_dir.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    while True:
        handle = _open_lock(path)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            handle.close()
            raise OutputError(
                f"output directory {out_dir} is being written by another run ({holder}); wait for it to finish "
                "or give another output directory (-o)"
            ) from None
        # the holder before us may have removed the file after we opened it: lock the file now there
        try:
            same = os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    record = {"pid": os.getpid(), "command": command or describe_command(), "run_id": run_id,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    _held[key] = [handle, 1]
    try:
        yield
    finally:
        del _held[key]
        try:
            path.unlink(missing_ok=True)
        finally:
            handle.close()
        if created:  # a run stopped before writing anything leaves no empty folder behind
            try:
                out_dir.rmdir()
            except OSError:
                pass


def writer_of(run_dir: Path) -> str | None:
    """Who is writing ``run_dir`` now (PID and command), or None when no run holds its lock."""
    path = Path(run_dir) / LOCK_FILE
    if str(Path(run_dir).resolve()) in _held or not path.is_file():
        return None
    try:
        handle = open(path, encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(handle)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None
