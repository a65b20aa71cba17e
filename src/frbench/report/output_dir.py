"""Output paths checked before any work: a run that cannot write its tables must not start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
