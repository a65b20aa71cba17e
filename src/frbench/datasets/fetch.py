"""Download, verify and unpack a registry dataset; check one on disk.

Guarantees, so that an interrupted or corrupted fetch never leaves a dataset that looks complete:

* a download goes to ``<name>.part`` and is renamed into place only after its SHA-256 / MD5
  match the registry (where known); an interrupted download resumes with an HTTP Range request,
  and only when a hash is known, so that a wrong splice cannot pass unnoticed;
* an archive is unpacked into a hidden temporary folder next to its target (a gzip stream is
  first read to its end, so its CRC is checked even where no hash is known), its layout and image
  count are checked there, and only then is its top folder renamed to the target; a corrupted
  archive is deleted with an error saying so;
* a derived file is written to a temporary name and renamed when complete.

Only the standard library is used (urllib, tarfile, hashlib).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from http.client import HTTPException
from pathlib import Path
from typing import NoReturn

from frbench import __version__
from frbench.config import DatasetConfig
from frbench.datasets import load_dataset
from frbench.datasets.folder import IMAGE_SUFFIXES
from frbench.datasets.registry import DatasetInfo, count_images, dataset_status, not_found_hint
from frbench.errors import DatasetError

CHUNK = 1 << 20
DOWNLOADS = ".downloads"
PARTIAL = ".partial-"
GZIP_MAGIC = b"\x1f\x8b"
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    """The default log: say nothing."""


def file_digests(path: Path) -> tuple[str, str]:
    """(SHA-256, MD5) of a file, hex, read in chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def verify_file(path: Path, sha256: str | None = None, md5: str | None = None) -> str | None:
    """None when the file matches every given hash, else a sentence saying which does not."""
    if sha256 is None and md5 is None:
        return None
    got_sha, got_md5 = file_digests(path)
    if sha256 is not None and got_sha != sha256:
        return f"SHA-256 is {got_sha}, expected {sha256}"
    if md5 is not None and got_md5 != md5:
        return f"MD5 is {got_md5}, expected {md5}"
    return None


def download(
    urls: Sequence[str],
    dest: Path,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 60.0,
    log: Log = _quiet,
) -> Path:
    """Download the first of ``urls`` whose bytes verify, to ``dest``.

    Bytes go to ``dest.part``; ``dest`` appears, by an atomic rename, only once they match the
    given hashes. When a hash is known, a ``.part`` left by an interrupted run is resumed with
    ``Range: bytes=<size>-`` (a server answering 200 instead of 206 restarts it); if the resumed
    file does not verify it is downloaded once more from the start. Without a hash nothing can
    check a splice, so the download always starts from zero. ``file://`` URLs work too.

    Raises
    ------
    DatasetError
        No URL gave verified bytes; the message lists what each one did.
    """
    dest = Path(dest)
    if dest.is_file():
        problem = verify_file(dest, sha256, md5)
        if problem is None:
            log(f"{dest}: present{' and verified' if sha256 or md5 else ''}")
            return dest
        log(f"{dest}: {problem}; downloading it again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    can_resume = sha256 is not None or md5 is not None
    failures = []
    for url in urls:
        resume = can_resume
        while True:
            try:
                resumed = _fetch(url, part, resume, timeout, log)
            except (HTTPException, OSError) as exc:
                failures.append(f"{url}: {exc}")
                if not can_resume:
                    part.unlink(missing_ok=True)
                break
            problem = verify_file(part, sha256, md5)
            if problem is None:
                os.replace(part, dest)
                log(f"{dest}: downloaded" + ("" if can_resume else " (no known hash: not verified)"))
                return dest
            part.unlink()
            if resumed:
                log(f"{url}: resumed file does not verify ({problem}); starting again from zero")
                resume = False
                continue
            failures.append(f"{url}: {problem}")
            break
    raise DatasetError(f"{dest.name}: no source gave verified bytes ({'; '.join(failures)})")


def _fetch(url: str, part: Path, resume: bool, timeout: float, log: Log) -> bool:
    """Write the body of ``url`` to ``part``, continuing it when ``resume``; True if it continued.

    Raises OSError when the connection ends before the announced length.
    """
    offset = part.stat().st_size if resume and part.exists() else 0
    headers = {"User-Agent": f"frbench/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        # 416: the part already holds the whole file; verification decides.
        if exc.code == 416 and offset:
            return True
        raise
    with response:
        continuing = bool(offset) and response.status == 206
        if continuing:
            log(f"{url}: resuming at byte {offset}")
        length = response.headers.get("Content-Length")
        written = 0
        with open(part, "ab" if continuing else "wb") as handle:
            for block in iter(lambda: response.read(CHUNK), b""):
                handle.write(block)
                written += len(block)
    if length is not None and written != int(length):
        raise OSError(f"connection closed after {written} of {length} bytes")
    return continuing


def extract_tar(archive: Path, target: Path, top: str, expect_images: int | None = None, log: Log = _quiet) -> Path:
    """Unpack a tar archive whose single top-level folder is ``top`` into ``target``, atomically.

    A gzip-compressed archive is first read to its end, so that its CRC is checked even where no
    hash is known (tarfile stops at the tar end marker and never reads it). Members are unpacked
    with tarfile's ``data`` filter (no absolute paths, no ``..``, no links out) into a hidden
    ``.<target>.partial-*`` folder beside ``target``; leftovers of earlier interrupted runs are
    removed first. The top folder is renamed to ``target`` only once the archive has unpacked
    without error and holds ``expect_images`` images (when given).

    Raises
    ------
    DatasetError
        ``target`` exists; the archive is corrupted, holds other than one top folder ``top``, or
        another number of images (in these cases it is deleted, so that the next fetch downloads
        it again); or the disk refused a write.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise DatasetError(f"{target}: already exists; remove it to unpack {archive.name} again")
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f".{target.name}{PARTIAL}*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}{PARTIAL}", dir=parent))
    try:
        try:
            with open(archive, "rb") as handle:
                gzipped = handle.read(2) == GZIP_MAGIC
            if gzipped:
                with gzip.open(archive, "rb") as stream:
                    while stream.read(CHUNK):
                        pass
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            # tarfile lists one reason per compression it tried, on separate lines.
            _reject(archive, f"corrupted archive ({' '.join(str(exc).split())})")
        except OSError as exc:
            raise DatasetError(f"{archive}: could not be unpacked into {parent} ({exc})") from exc
        found = sorted(p.name for p in scratch.iterdir())
        if found != [top] or not (scratch / top).is_dir():
            _reject(archive, f"expected one top-level folder {top!r}, found {found}")
        if expect_images is not None:
            n = count_images(scratch / top)
            if n != expect_images:
                _reject(archive, f"holds {n} images, expected {expect_images}")
        os.replace(scratch / top, target)
        log(f"{target}: unpacked from {archive.name}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _reject(archive: Path, reason: str) -> NoReturn:
    archive.unlink(missing_ok=True)
    raise DatasetError(f"{archive}: {reason}; it was deleted, run the fetch again")


def fetch_dataset(
    info: DatasetInfo,
    folder: Path,
    local: Path | None = None,
    timeout: float = 60.0,
    log: Log = _quiet,
) -> None:
    """Download every file of a registry dataset into ``folder``, then build its derived files.

    Files already in place and verified are kept, so a rerun finishes an interrupted fetch. With
    ``local``, a file of the same name in that folder is tried before the URLs (and verified the
    same way): for archives fetched by hand from a mirror.

    Raises
    ------
    DatasetError
        The dataset cannot be downloaded by frbench (the message says where to get it), or a file
        could not be downloaded, verified, unpacked or derived.
    """
    if not info.files:
        raise DatasetError(
            f"{info.name} cannot be downloaded by frbench; get it from {', '.join(info.sources)} "
            f"({info.terms}) and put it in {folder} (layout in data/README.md)"
        )
    folder = Path(folder)
    downloads = folder / DOWNLOADS
    # Plain files first: a failure there costs less than one after the large archive.
    for remote in sorted(info.files, key=lambda f: f.archive_top is not None):
        target = folder / remote.target
        urls = remote.urls
        if local is not None:
            urls = ((Path(local).resolve() / remote.filename).as_uri(), *urls)
        if remote.archive_top is None:
            download(urls, target, remote.sha256, remote.md5, timeout, log)
            continue
        if target.exists():
            log(f"{target}: present")
            continue
        archive = download(urls, downloads / remote.filename, remote.sha256, remote.md5, timeout, log)
        extract_tar(archive, target, remote.archive_top, remote.expect_images, log)
        archive.unlink()
    for derived in info.derived:
        target = folder / derived.target
        if target.exists():
            log(f"{target}: present")
            continue
        partial = target.with_name(target.name + ".part")
        try:
            derived.make([folder / p for p in derived.inputs], partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
        log(f"{target}: written ({derived.description})")
    if downloads.is_dir() and not any(downloads.iterdir()):
        downloads.rmdir()


def check_dataset(info: DatasetInfo, folder: Path) -> list[str]:
    """Problems with a dataset on disk; empty when it is complete and loads.

    Checks that every required path exists, the published image counts, the hashes of downloaded
    files where known, that every image file is a non-empty JPEG or PNG that decodes as a run decodes it, and that
    frbench's loader for the format reads the dataset without error.
    """
    folder = Path(folder)
    status = dataset_status(info, folder)
    if not status.present:
        return [f"{folder}: not found {not_found_hint('--data-root')}"]
    problems = [f"{folder}/{m}" for m in status.missing]
    for remote in info.files:
        path = folder / remote.target
        if remote.archive_top is None and path.is_file():
            mismatch = verify_file(path, remote.sha256, remote.md5)
            if mismatch:
                problems.append(f"{path}: {mismatch}")
    for rel in info.image_counts:
        for dirpath, _, files in os.walk(folder / rel):
            for name in files:
                if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                    problem = _image_problem(Path(dirpath) / name)
                    if problem:
                        problems.append(problem)
    if not problems:
        try:
            dataset = load_dataset(DatasetConfig(name=info.name, format=info.format, root=folder), folder.parent)
        except DatasetError as exc:
            problems.extend(f"loading it fails: {line}" for line in str(exc).splitlines())
        else:
            if not info.image_counts:
                problems.extend(p for p in map(_image_problem, map(Path, dataset.images["path"])) if p)
    return problems


def check_configured_dataset(cfg: DatasetConfig, data_root: Path) -> tuple[Path, list[str]]:
    """The folder of the dataset ``cfg`` describes (a config's ``dataset:``), and its problems.

    For a dataset given by format rather than by a registry name (``--format``, or a config): the
    folder must exist, frbench's loader must read it as the config says (files, pair list, labels,
    folds), and every image it names must be a non-empty JPEG or PNG that decodes as a run decodes it. Published counts and hashes
    are not checked: those belong to a registry dataset (:func:`check_dataset`).
    """
    folder = Path(cfg.root) if cfg.root is not None else Path(data_root) / cfg.name
    if not folder.is_dir():
        option = "dataset.root" if cfg.root is not None else "--data-root"
        return folder, [f"{folder}: not found {not_found_hint(option)}"]
    try:
        dataset = load_dataset(cfg, data_root)
    except DatasetError as exc:
        return folder, [f"loading it fails: {line}" for line in str(exc).splitlines()]
    return folder, [p for p in map(_image_problem, map(Path, dataset.images["path"])) if p]


def _image_problem(path: Path) -> str | None:
    """A sentence when the image file cannot be read, is empty, is neither JPEG nor PNG, or does not
    decode: screened (a truncated JPEG, a header over the pixel bound) and decoded as a run does."""
    import cv2

    from frbench.embed.screening import check_image

    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        return f"{path}: unreadable ({exc.strerror})"
    if not head:
        return f"{path}: empty file"
    if not (head.startswith(JPEG_MAGIC) or head.startswith(PNG_MAGIC)):
        return f"{path}: neither a JPEG nor a PNG"
    failure = check_image(path)
    if failure is not None:
        return f"{path}: {failure[0]} ({failure[1]})"
    # decoded as the run decodes it (frbench.embed.backend.Embedder.embed: cv2.imread)
    if cv2.imread(str(path)) is None:
        return f"{path}: unreadable (does not decode as an image)"
    return None
