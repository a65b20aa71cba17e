"""Bad inputs that real datasets hold, made by the tests in tmp_path (never committed as files).

Each maker writes one file and returns its path. ``write_image_corpus`` writes the whole image
corpus derived from one source picture and returns, per case, the file, the subject it is filed
under and what a run must report for it.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, width: int, height: int, rows: Iterable[bytes], bit_depth: int, colour_type: int) -> Path:
    """A PNG from raw scanlines (each starting with its filter byte), compressed as they come."""
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for row in rows) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


def png_bomb(path: Path, side: int = 30000) -> Path:
    """A valid side x side black PNG of ~110 KB (1-bit pixels): 0.9 G pixels, 2.7 GB once decoded to BGR."""
    row = b"\x00" * (1 + (side + 7) // 8)
    return write_png(path, side, side, (row for _ in range(side)), bit_depth=1, colour_type=0)


def png_bit_depth(path: Path) -> int:
    """The bit depth declared in a PNG's IHDR."""
    return Path(path).read_bytes()[24]


def jpeg(path: Path, bgr: np.ndarray, quality: int = 95) -> Path:
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())
    return path


def truncated_jpeg(path: Path, bgr: np.ndarray, keep: float = 0.6) -> Path:
    """The first ``keep`` of a JPEG's bytes: OpenCV decodes it, greying the missing part."""
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    path.write_bytes(data.tobytes()[: int(len(data) * keep)])
    return path


def corrupt_png(path: Path, bgr: np.ndarray) -> Path:
    """A PNG whose compressed pixel data has bytes flipped (its CRC no longer matches)."""
    ok, data = cv2.imencode(".png", bgr)
    assert ok
    raw = bytearray(data.tobytes())
    start = raw.find(b"IDAT") + 4
    for offset in range(16, 48):
        raw[start + offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def cmyk_jpeg(path: Path, bgr: np.ndarray) -> Path:
    Image.fromarray(bgr[:, :, ::-1]).convert("CMYK").save(path, "JPEG", quality=95)
    return path


def exif_rotated_jpeg(path: Path, bgr: np.ndarray) -> Path:
    """The picture stored turned a quarter to the left, with EXIF orientation 6 ("turn right to show")."""
    stored = np.ascontiguousarray(np.rot90(bgr, k=1))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    Image.fromarray(stored[:, :, ::-1]).save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


@dataclass(frozen=True)
class Case:
    """One corpus file: where it is (relative to the dataset root), whose it is, and its verdict.

    ``status`` and ``detail`` (None: any detail) are what a run must report for it.
    ``screened``: the verdict is ``frbench.embed.screening.check_image``'s, so a run gives it only where
    embed_images calls that function before decoding.
    """

    rel: str
    subject: str
    status: str
    detail: str | None = None
    screened: bool = False


UNDECODABLE = "OpenCV cannot decode the file"
TRUNCATED = "truncated JPEG: the file ends before its end-of-image marker"
LARGE_SIDE = (1250, 1000)  # 1.25 M pixels: too large under a limit of 1,000,000


def write_image_corpus(root: Path, source: Path, subject: str, folder: str = "corpus") -> dict[str, Case]:
    """Write every image case derived from ``source`` (a picture of ``subject``) under ``root/folder``.

    Pictures that must decode to the same person are filed under ``subject``; every broken file
    under a subject of its own, so that its pairs with ``subject``'s images are non-mated.
    """
    base = root / folder
    base.mkdir(parents=True, exist_ok=True)
    bgr = cv2.imread(str(source))
    assert bgr is not None, source
    cases: dict[str, Case] = {}

    def add(name: str, path: Path, owner: str, status: str, detail: str | None = None, screened: bool = False) -> None:
        cases[name] = Case(path.relative_to(root).as_posix(), owner, status, detail, screened)

    (base / "empty.jpg").write_bytes(b"")
    add("zero-byte file", base / "empty.jpg", "Empty_File", "unreadable", "empty file (0 bytes)", screened=True)
    (base / "notes.jpg").write_text("holiday notes, not a picture\n")
    add("text file named .jpg", base / "notes.jpg", "Text_File", "unreadable", UNDECODABLE)
    add("truncated JPEG", truncated_jpeg(base / "truncated.jpg", bgr), "Truncated_File", "unreadable", TRUNCATED,
        screened=True)
    add("corrupt PNG", corrupt_png(base / "corrupt.png", bgr), "Corrupt_File", "unreadable", UNDECODABLE)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(base / "gray.png"), gray)
    add("grayscale", base / "gray.png", subject, "ok")
    cv2.imwrite(str(base / "rgba.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    add("RGBA", base / "rgba.png", subject, "ok")
    cv2.imwrite(str(base / "sixteen.png"), bgr.astype(np.uint16) * 257)
    add("16-bit PNG", base / "sixteen.png", subject, "ok")
    add("CMYK JPEG", cmyk_jpeg(base / "cmyk.jpg", bgr), subject, "ok")
    add("EXIF-rotated photo", exif_rotated_jpeg(base / "rotated.jpg", bgr), subject, "ok")
    width, height = LARGE_SIDE
    jpeg(base / "large.jpg", cv2.resize(bgr, LARGE_SIDE))
    add("image above max_pixels", base / "large.jpg", "Large_File", "too_large",
        f"not decoded: {width} x {height} = {width * height:,} pixels, above the limit of 1,000,000", screened=True)
    (base / "Zoë Ünïcode").mkdir(exist_ok=True)
    add("non-ASCII and space in the name", jpeg(base / "Zoë Ünïcode" / "façade 01.jpg", bgr[:, ::-1]), subject, "ok")
    shutil.copyfile(source, base / "copy_of_source.jpg")
    add("duplicate file under another name and subject", base / "copy_of_source.jpg", "Copy_Person", "ok")
    return cases
