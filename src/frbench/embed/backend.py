"""One image -> one embedding with deepface, every per-image failure classified instead of raised.

The pipeline settings are those of ``deepface.DeepFace.represent``. When the detector finds several
faces, the embedding is that of the **largest face** (``max_faces=1``: deepface keeps the detection
with the largest ``w * h``). With ``detector="skip"`` the whole image is embedded.

Failure statuses (see docs/ARCHITECTURE.md, Embeddings): ``missing`` (no such file), ``unreadable``
(OpenCV cannot decode it), ``no_face`` (the detector found no usable face and ``enforce_detection``
is on), ``error`` (anything else; ``detail`` holds the exception's message).
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
from frbench.embed import weights
from frbench.errors import ConfigError, FrbenchError
from frbench.tables import OK

MISSING = "missing"
UNREADABLE = "unreadable"
NO_FACE = "no_face"
ERROR = "error"
TOO_LARGE = "too_large"
STATUSES = (OK, MISSING, UNREADABLE, NO_FACE, ERROR, TOO_LARGE)

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

    def __post_init__(self) -> None:
        weights.requirements(weights.RECOGNITION, self.model)
        weights.requirements(weights.DETECTOR, self.detector)
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"unknown normalization {self.normalization!r}; valid names: {', '.join(NORMALIZATIONS)}"
            )
        if isinstance(self.expand_percentage, bool) or not isinstance(self.expand_percentage, int):
            raise ConfigError(f"expand_percentage must be an integer, got {self.expand_percentage!r}")
        if self.expand_percentage < 0:
            raise ConfigError(f"expand_percentage must be >= 0, got {self.expand_percentage}")

    def fingerprint(self) -> str:
        """sha256 of the fields, frbench's and deepface's versions and deepface's backend engine.

        Embeddings cached under one fingerprint are reused only by the identical pipeline; the engine
        is included because the same model name runs different graphs on tensorflow, pytorch and onnx.
        """
        payload = {
            "pipeline": asdict(self),
            "frbench": frbench.__version__,
            "deepface": importlib.metadata.version("deepface"),
            "engine": backend_utils.get_backend_engine(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class EmbedResult:
    """The outcome for one image: a float32 vector when ``status == "ok"``, else None and a reason.

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
    :meth:`embed` never raises for a problem with one image.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        quiet_deepface()
        # imported here: importing deepface.DeepFace creates $DEEPFACE_HOME/.deepface and sets the
        # tensorflow environment variables deepface's models rely on
        from deepface import DeepFace

        self.pipeline = pipeline
        self._represent = DeepFace.represent
        builds = [("facial_recognition", pipeline.model)]
        if pipeline.detector != weights.SKIP:
            builds.append(("face_detector", pipeline.detector))
        for task, name in builds:
            try:
                modeling.build_model(task=task, model_name=name)
            except Exception as err:
                raise FrbenchError(f"cannot build deepface {task} model {name!r}: {err}") from err

    def embed(self, path: str) -> EmbedResult:
        """Embed the largest face in the image at ``path``; failures come back as a status."""
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
                max_faces=1,
            )
        except FaceNotDetected:
            return EmbedResult(None, NO_FACE, f"detector {p.detector} found no face")
        except ImgNotFound:
            # raised by extract_faces for an in-memory image only when every detected face was empty
            return EmbedResult(None, NO_FACE, f"detector {p.detector} found only empty face regions")
        except Exception as err:
            return EmbedResult(None, ERROR, f"{type(err).__name__}: {err}")
        vector = np.asarray(faces[0]["embedding"], dtype=np.float32)
        if vector.ndim != 1 or not np.isfinite(vector).all():
            return EmbedResult(None, ERROR, f"{p.model} returned a non-finite or malformed embedding")
        return EmbedResult(vector, OK)
