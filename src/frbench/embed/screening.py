"""What an image file is, checked before any pixel is decoded: its declared size and a JPEG's completeness.

OpenCV, which decodes images for deepface, trusts the header: it allocates whatever size a file
declares (up to 2**30 pixels, 3 GiB of BGR for one file of a few hundred KB) and fills a truncated
JPEG with grey, warning only on stderr ("Premature end of JPEG file"), so half an image would be
embedded as if it were whole. ``check_image`` reads the header with Pillow (``Image.open`` parses it
without decoding pixels) and walks a JPEG's marker segments to its end-of-image marker, and returns
the failure an image should be counted as, or None when the file may be decoded.

Files Pillow does not recognise are left to the decoder: a format OpenCV reads and Pillow does not
is not refused, and a file neither reads is ``unreadable`` when decoding it fails.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

# defined with the setting it is the default of (execution.max_pixels), below every stage
from frbench.config.schema import MAX_PIXELS

# Failure statuses, the values of frbench.embed.backend's constants of the same names.
MISSING = "missing"
UNREADABLE = "unreadable"
TOO_LARGE = "too_large"

# JPEG markers that stand alone, without a length field: TEM, RST0-RST7, SOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
_EOI, _SOS = 0xD9, 0xDA
# The end of entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart marker (which
# may occur inside a scan) nor another 0xFF (a fill byte before the marker).
_SCAN_END = re.compile(rb"\xff(?![\x00\xd0-\xd7\xff])")


def check_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> tuple[str, str] | None:
    """The failure ``(status, detail)`` an image file is to be counted as, or None to decode it.

    Parameters
    ----------
    path : str or Path
        The image file.
    max_pixels : int
        Largest ``width * height`` accepted. Whatever the value, a file above Pillow's
        decompression-bomb limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``) is refused too.

    Returns
    -------
    tuple of (str, str) or None
        ``("missing", ...)``: no such file; ``("unreadable", ...)``: the file cannot be read, is not a
        regular file (a folder, a pipe, a link to a device such as /dev/zero: reading could block or
        never end), is empty or is a JPEG that ends before its end-of-image marker (truncated);
        ``("too_large", ...)``: its header declares more than ``max_pixels`` pixels. Apart from
        ``missing``, ``detail`` does not name the path, as the result depends only on the file.
        None: the file may be decoded (which can still fail for a file Pillow does not recognise).

    Only the header is parsed and a JPEG's bytes scanned, through a memory map: no pixel is decoded
    and nothing of the size the header declares is allocated.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return UNREADABLE, "not a regular file"
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return UNREADABLE, "empty file (0 bytes)"
            problem, fmt = _header_problem(handle, max_pixels)
            if problem is not None or fmt != "JPEG":
                return problem
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                complete = jpeg_is_complete(data)
    except FileNotFoundError:
        return MISSING, f"no file at {path}"
    except OSError as err:
        return UNREADABLE, f"{type(err).__name__}: {err.strerror or err}"
    if not complete:
        return UNREADABLE, "truncated JPEG: the file ends before its end-of-image marker"
    return None


def _header_problem(handle: BinaryIO, max_pixels: int) -> tuple[tuple[str, str] | None, str | None]:
    """(failure or None, Pillow's format name or None when Pillow does not recognise the file)."""
    try:
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; the limit applied is
        # max_pixels, checked below, so the warning is silenced and only the error is kept.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                (width, height), fmt = image.size, image.format
    except Image.DecompressionBombError as err:
        return (TOO_LARGE, f"not decoded: {err}"), None
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, OSError, IndexError, TypeError):
        # Pillow cannot tell the size (a format it does not know, or a header it cannot parse):
        # decoding decides, and OpenCV refuses such a file or decodes it within its own limit.
        return None, None
    if width * height > max_pixels:
        detail = f"not decoded: {width} x {height} = {width * height:,} pixels, above the limit of {max_pixels:,}"
        return (TOO_LARGE, detail), fmt
    return None, fmt


def jpeg_is_complete(data: bytes | mmap.mmap) -> bool:
    """Whether JPEG bytes reach their end-of-image marker (EOI) through well-formed segments.

    Walks the marker segments by their lengths (ITU-T T.81, B.1.1) and every scan's entropy-coded
    data to the marker that ends it, so an EOI inside an embedded thumbnail does not count. Bytes
    after the EOI (some cameras append data there) are ignored. False for data that does not start
    with SOI, ends inside a segment or scan, or has a segment length below 2.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False
    pos = 2
    while True:
        # Decoders skip stray bytes before a marker, with a warning, and so does this walk.
        pos = data.find(b"\xff", pos)
        if pos < 0:
            return False
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            return False
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            return True
        if marker in _STANDALONE:
            continue
        if pos + 2 > n:
            return False
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2:
            return False
        pos += length
        if pos > n:
            return False
        if marker == _SOS:
            end = _SCAN_END.search(data, pos)
            if end is None:
                return False
            pos = end.start()
