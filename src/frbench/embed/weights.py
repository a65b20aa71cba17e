"""What each deepface recognition model and face detector needs before it can run.

deepface (0.0.103) downloads a model's weight files at first use into
``$DEEPFACE_HOME/.deepface/weights`` (``deepface.commons.weight_utils.download_weights_if_necessary``).
The registry here reads the URLs from the same module constants deepface downloads from (``WEIGHTS_URL``
and friends, ``Yolo.YoloModel``, the cascade table of ``OpenCv``, retina-face's ``WEIGHTS_URLS``) for the
backend engine deepface runs on, and names each file as deepface's own
``download_all_models_in_one_shot`` does: the last part of the primary URL, with a ``.bz2``/``.zip``
archive suffix removed (the archive is unpacked after download). tests/test_weights.py checks the result
against what each model class really asks ``download_weights_if_necessary`` for.

Offline use: the Dlib recognition model and the dlib detector need two files that the
``face_recognition_models`` package ships; :func:`provision_packaged_weights` links them into the weights
directory. Any other missing file makes :func:`ensure_weights` stop in offline mode with a message naming
the file, its URL(s) and the target path, before deepface could try a download.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import cv2
import pandas as pd
from deepface.commons import backend_utils, folder_utils, weight_utils
from deepface.modules import modeling

from frbench.errors import ConfigError, FrbenchError, WeightsMissingError

RECOGNITION = "recognition"
DETECTOR = "detector"

READY = "ready"
PACKAGED = "provided by face_recognition_models"
NEEDS_DOWNLOAD = "needs download"
NO_WEIGHTS = "no weights needed"
NEEDS_PACKAGE = "needs package"

SKIP = "skip"
PACKAGED_WEIGHTS_PACKAGE = "face_recognition_models"

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


def _packaged_dir() -> Path | None:
    # face_recognition_models is located, never imported: its __init__ imports pkg_resources,
    # which recent setuptools no longer provides
    spec = importlib.util.find_spec(PACKAGED_WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    return models if models.is_dir() else None


def packaged_weight_files() -> dict[str, Path]:
    """Weight files that face_recognition_models ships and some deepface model needs: name -> path."""
    source = _packaged_dir()
    if source is None:
        return {}
    needed = {f.name for entry in registry().values() for f in entry.files}
    return {name: source / name for name in sorted(needed) if (source / name).is_file()}


def provision_packaged_weights(weights_dir: Path | None = None) -> list[Path]:
    """Link the face_recognition_models weight files into deepface's weights directory.

    Creates the directory, then for each packaged file that deepface needs (Dlib's
    ``dlib_face_recognition_resnet_model_v1.dat`` and ``shape_predictor_5_face_landmarks.dat``) and that
    is absent there, makes a symlink, or a copy where symlinks are not allowed. A dangling link is
    replaced; an existing file is left alone. Returns the paths created by this call (empty when
    everything was in place), so calling it again is harmless.
    """
    target_dir = weights_dir if weights_dir is not None else default_weights_dir()
    files = packaged_weight_files()
    if not files:
        return []
    target_dir.mkdir(parents=True, exist_ok=True)
    created = []
    for name, source in files.items():
        target = target_dir / name
        if target.is_file():
            continue
        if target.is_symlink():
            target.unlink()
        try:
            os.symlink(source, target)
        except FileExistsError:
            # another process provisioned it in the meantime
            continue
        except OSError:
            # copy then rename, so a concurrent reader never sees a half-written file
            fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=f".{name}.")
            os.close(fd)
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        created.append(target)
    return created


def missing_packages(entry: ModelRequirements) -> list[str]:
    """pip names of the packages ``entry`` needs that are not installed."""
    return [_PIP_NAMES[p] for p in entry.packages if not _installed(p)]


def _status(entry: ModelRequirements, directory: Path, packaged: dict[str, Path]) -> str:
    absent = missing_packages(entry)
    if absent:
        return f"{NEEDS_PACKAGE} {', '.join(absent)}"
    if not entry.files:
        return NO_WEIGHTS
    missing = [f.name for f in entry.files if not (directory / f.name).is_file()]
    if not missing:
        return READY
    if all(name in packaged for name in missing):
        return PACKAGED
    return NEEDS_DOWNLOAD


def weight_statuses() -> pd.DataFrame:
    """One row per recognition model and detector: ``kind, name, status, files, urls, target``.

    ``status`` is ``ready`` (every file present), ``provided by face_recognition_models`` (the missing
    files are shipped by that package and get linked on use), ``needs download``, ``no weights needed``,
    or ``needs package X`` (a Python package the model imports is not installed). ``files`` and
    ``target`` list the weight files and their paths, ``urls`` every source URL, comma-separated.
    """
    directory = default_weights_dir()
    packaged = packaged_weight_files()
    rows = [
        {
            "kind": entry.kind,
            "name": entry.name,
            "status": _status(entry, directory, packaged),
            "files": ", ".join(f.name for f in entry.files),
            "urls": ", ".join(url for f in entry.files for url in f.urls),
            "target": ", ".join(str(directory / f.name) for f in entry.files),
        }
        for entry in registry().values()
    ]
    return pd.DataFrame(rows, columns=["kind", "name", "status", "files", "urls", "target"])


def _how_to_get(name: str, file: WeightFile, target: Path) -> str:
    urls = " or ".join(file.urls)
    unpack = f" (a {file.compression} archive: unpack it)" if file.compression else ""
    return f"{name} needs {file.name}: download {urls}{unpack} to {target}"


def ensure_weights(model: str, detector: str, offline: bool) -> None:
    """Make sure ``model`` with ``detector`` can be built, failing fast where it cannot.

    Validates both names (ConfigError listing the valid ones), checks that the Python packages they
    import are installed (FrbenchError naming the pip package), links the face_recognition_models
    files into the weights directory, then looks for every weight file needed. If one is absent:
    in offline mode raises WeightsMissingError naming the file, its URL(s) and the target path,
    without any network access; online it returns and deepface downloads the file at first use.
    """
    entries = [requirements(RECOGNITION, model), requirements(DETECTOR, detector)]
    for entry in entries:
        absent = missing_packages(entry)
        if absent:
            raise FrbenchError(
                f"{entry.kind} {entry.name!r} needs the Python package(s) {', '.join(absent)}: "
                f"pip install {' '.join(absent)}"
            )
    provision_packaged_weights()
    directory = default_weights_dir()
    missing = [
        _how_to_get(entry.name, file, directory / file.name)
        for entry in entries
        for file in entry.files
        if not (directory / file.name).is_file()
    ]
    if missing and offline:
        raise WeightsMissingError("; ".join(missing) + " (offline mode: no download attempted)")
