"""Image paths written in a dataset's files, joined to the folder they are relative to, never beyond it.

A pair list or manifest downloaded with a dataset is data, not configuration: a line naming
``../../etc/passwd`` or ``/home/me/photo.jpg`` must not make frbench read (and report on) files
outside the dataset. Only a config's ``dataset.allow_outside_root`` permits it.
"""

from __future__ import annotations

import os
from pathlib import Path


def dataset_path(base: str | Path, written: str, allow_outside: bool = False) -> str:
    """``written`` joined to ``base`` and normalised: the absolute path of a dataset's image.

    Normalisation is lexical (``..`` and ``.`` removed, symlinks kept), so images stored as symlinks
    into a cache outside the root (DVC, git-annex, a link to a shared copy) stay allowed while
    ``../`` and absolute paths elsewhere are not. ``base`` should be absolute; ``written`` may use
    ``/`` on every platform.

    Raises
    ------
    ValueError
        The path leads outside ``base`` (unless ``allow_outside``), is empty or holds a NUL
        character; the message says which, for the caller to prefix with file and line.
    """
    if not written:
        raise ValueError("is empty")
    if "\0" in written:
        raise ValueError("contains a NUL character")
    base = os.path.normpath(str(base))
    full = os.path.normpath(os.path.join(base, written.replace("/", os.sep)))
    prefix = base if base.endswith(os.sep) else base + os.sep
    if not allow_outside and not full.startswith(prefix):
        raise ValueError(f"leads outside the dataset root {base} (dataset.allow_outside_root permits it)")
    return full
