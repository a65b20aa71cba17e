"""Batch use (a shell loop, a job array, CI): no wrong result with exit status 0.

Each test drives a library call or the real command line on a tiny dataset with imported scores
(no model), so that it is quick; the tests that need a model say so.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from frbench.report.files import atomic_write_bytes


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_umask_mode_not_0600(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "table.csv", b"a,b\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o666 & ~umask
