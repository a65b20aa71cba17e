"""One image -> one embedding with deepface, every per-image failure classified instead of raised.

The pipeline settings are those of ``deepface.DeepFace.represent``. When the detector finds several
faces, ``multiple_faces`` decides (``MULTIPLE_FACES``):

* ``largest`` (default): the embedding of the largest face (``max_faces=1``: deepface keeps the
  detection with the largest ``w * h``);
* ``fail``: the image is a failure to enrol, ``several_faces``;
* ``all-best``: every face is embedded (largest first) and a pair scores as its closest two faces,
  one per image, which is what ``DeepFace.verify`` does (deepface 0.0.103,
  ``modules/verification.py``: the minimum distance over all face pairs).

With ``detector="skip"`` the whole image is embedded, as one face.

Failure statuses (see docs/ARCHITECTURE.md, Embeddings): ``missing`` (no such file), ``unreadable``
(OpenCV cannot decode it), ``no_face`` (the detector found no usable face and ``enforce_detection``
is on), ``several_faces`` (``multiple_faces: fail`` and more than one face), ``error`` (anything
else; ``detail`` holds the exception's message).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from deepface.commons import backend_utils
from deepface.commons.logger import Logger
from deepface.modules import modeling
from deepface.modules.exceptions import FaceNotDetected, ImgNotFound

import frbench
from frbench.config.schema import ALL_BEST, FAIL, LARGEST
from frbench.embed import model_registry
from frbench.embed.onnx_threads import onnx_threads as limit_onnx_threads
from frbench.errors import ConfigError, FrbenchError
from frbench.tables import OK

MISSING = "missing"
UNREADABLE = "unreadable"
NO_FACE = "no_face"
ERROR = "error"
TOO_LARGE = "too_large"
SEVERAL_FACES = "several_faces"
STATUSES = (OK, MISSING, UNREADABLE, NO_FACE, ERROR, TOO_LARGE, SEVERAL_FACES)

MULTIPLE_FACES = (LARGEST, FAIL, ALL_BEST)
# DeepFace.represent's max_faces for each choice: fail needs to see a second face, all-best every face.
_MAX_FACES = {LARGEST: 1, FAIL: 2, ALL_BEST: None}

# the options of deepface.modules.preprocessing.normalize_input
NORMALIZATIONS = ("base", "raw", "Facenet", "Facenet2018", "VGGFace", "VGGFace2", "ArcFace")


@dataclass(frozen=True)
class Pipeline:
    """Everything that determines an embedding, passed to ``DeepFace.represent`` as is.

    The distance metric is deliberately absent: it acts on embeddings, so changing it reuses them.
    """

    model: str
    detector: str
    align: bool
    normalization: str = "base"
    expand_percentage: int = 0
    enforce_detection: bool = True
    l2_normalize: bool = False
    multiple_faces: str = LARGEST

    def __post_init__(self) -> None:
        model_registry.requirements(model_registry.RECOGNITION, self.model)
        model_registry.requirements(model_registry.DETECTOR, self.detector)
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"unknown normalization {self.normalization!r}; valid names: {', '.join(NORMALIZATIONS)}"
            )
        if isinstance(self.expand_percentage, bool) or not isinstance(self.expand_percentage, int):
            raise ConfigError(f"expand_percentage must be an integer, got {self.expand_percentage!r}")
        if self.expand_percentage < 0:
            raise ConfigError(f"expand_percentage must be >= 0, got {self.expand_percentage}")
        if self.multiple_faces not in MULTIPLE_FACES:
            raise ConfigError(f"multiple_faces must be one of {', '.join(MULTIPLE_FACES)}, got {self.multiple_faces!r}")

    def fingerprint(self) -> str:
        """sha256 of the fields, frbench's and deepface's versions and deepface's backend engine.

        Embeddings cached under one fingerprint are reused only by the identical pipeline; the engine
        is included because the same model name runs different graphs on tensorflow, pytorch and onnx.
        """
        fields = asdict(self)
        if fields["multiple_faces"] == LARGEST:
            # the choice that existed before the option: its embeddings keep their cache key
            del fields["multiple_faces"]
        payload = {
            "pipeline": fields,
            "frbench": frbench.__version__,
            "deepface": importlib.metadata.version("deepface"),
            "engine": backend_utils.get_backend_engine(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class EmbedResult:
    """The outcome for one image: a float32 vector when ``status == "ok"``, else None and a reason.

    With ``multiple_faces: all-best`` the vector is a (faces, d) matrix, largest face first.

    Apart from ``missing``, results depend only on the file's content and the pipeline, so ``detail``
    does not name the path (the same result is cached for every copy of the file).
    """

    vector: np.ndarray | None
    status: str
    detail: str = ""


def quiet_deepface() -> None:
    """Raise deepface's log level to errors, unless the user chose one with DEEPFACE_LOG_LEVEL.

    deepface prints every model build and folder creation through its singleton Logger, which reads
    the environment only once, so the level is set on the instance.
    """
    if "DEEPFACE_LOG_LEVEL" not in os.environ:
        Logger().log_level = logging.ERROR


class Embedder:
    """Builds the pipeline's deepface model (and detector) once, then embeds images one by one.

    Construction raises FrbenchError when the model cannot be built (e.g. a failed download);
    :meth:`embed` never raises for a problem with one image. ``onnx_threads`` sets the threads of
    the onnxruntime sessions the models build (``None``: onnxruntime's default, one per core);
    worker processes use 1 (frbench.embed.onnx_threads).
    """

    def __init__(self, pipeline: Pipeline, onnx_threads: int | None = None) -> None:
        quiet_deepface()
        # imported here: importing deepface.DeepFace creates $DEEPFACE_HOME/.deepface and sets the
        # tensorflow environment variables deepface's models rely on
        from deepface import DeepFace

        self.pipeline = pipeline
        self._represent = DeepFace.represent
        builds = [("facial_recognition", pipeline.model)]
        if pipeline.detector != model_registry.SKIP:
            builds.append(("face_detector", pipeline.detector))
        for task, name in builds:
            try:
                # deepface caches the model per process: the threads are those of the first build
                with limit_onnx_threads(onnx_threads):
                    modeling.build_model(task=task, model_name=name)
            except Exception as err:
                raise FrbenchError(f"cannot build deepface {task} model {name!r}: {err}") from err

    def embed(self, path: str) -> EmbedResult:
        """Embed the face(s) in the image at ``path`` as ``multiple_faces`` says; failures come back as a status."""
        if not os.path.isfile(path):
            return EmbedResult(None, MISSING, f"no file at {path}")
        # decoded here as deepface.commons.image_utils.load_image does (cv2.imread), so that an
        # undecodable file is told apart from a model failure
        img = cv2.imread(path)
        if img is None:
            return EmbedResult(None, UNREADABLE, "OpenCV cannot decode the file")
        p = self.pipeline
        try:
            faces = self._represent(
                img_path=img,
                model_name=p.model,
                detector_backend=p.detector,
                enforce_detection=p.enforce_detection,
                align=p.align,
                expand_percentage=p.expand_percentage,
                normalization=p.normalization,
                l2_normalize=p.l2_normalize,
                max_faces=_MAX_FACES[p.multiple_faces],
            )
        except FaceNotDetected:
            return EmbedResult(None, NO_FACE, f"detector {p.detector} found no face")
        except ImgNotFound:
            # raised by extract_faces for an in-memory image only when every detected face was empty
            return EmbedResult(None, NO_FACE, f"detector {p.detector} found only empty face regions")
        except Exception as err:
            return EmbedResult(None, ERROR, f"{type(err).__name__}: {err}")
        if p.multiple_faces == FAIL and len(faces) > 1:
            return EmbedResult(None, SEVERAL_FACES, f"detector {p.detector} found more than one face")
        if p.multiple_faces == ALL_BEST:
            # largest first (stable for equal areas), as max_faces=1 would choose
            faces = sorted(faces, key=lambda f: f["facial_area"]["w"] * f["facial_area"]["h"], reverse=True)
        vectors = [np.asarray(face["embedding"], dtype=np.float32) for face in faces]
        if not vectors or any(v.ndim != 1 or v.shape != vectors[0].shape or not np.isfinite(v).all() for v in vectors):
            return EmbedResult(None, ERROR, f"{p.model} returned a non-finite or malformed embedding")
        return EmbedResult(np.stack(vectors) if p.multiple_faces == ALL_BEST else vectors[0], OK)
