"""Face crops for the labelling page: the face and some skin around it, as a JPEG.

The face is dlib's HOG frontal detector's largest box (the detector frbench's ITA estimate
uses), widened to ``FACE_CONTEXT`` times its size and moved up by ``FACE_RAISE`` of it so that
forehead, cheeks and neck are in view. Where dlib is not installed or finds no face, the crop is
the centre square of side ``CENTRE_SHARE`` of the shorter image side: LFW's deep-funneled
250x250 images are aligned so that the face fills about that square.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from frbench.embed.screening import MAX_PIXELS, check_image

FACE_CONTEXT = 1.8
FACE_RAISE = 0.1
CENTRE_SHARE = 0.64
JPEG_QUALITY = 92


def crop_box(shape: tuple[int, ...], face: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the square crop in an image of ``shape`` (h, w[, c]).

    ``face`` is a detector box (left, top, right, bottom) or None for the centre crop. The square
    is shifted to lie inside the image and, when it is larger than the image, cut to it.
    """
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"image shape {shape} has no pixels")
    if face is None:
        side = CENTRE_SHARE * min(h, w)
        cx, cy = w / 2.0, h / 2.0
    else:
        left, top, right, bottom = face
        size = max(right - left, bottom - top)
        side = FACE_CONTEXT * size
        cx, cy = (left + right) / 2.0, (top + bottom) / 2.0 - FACE_RAISE * size
    side_x, side_y = min(side, w), min(side, h)
    x0 = round(min(max(cx - side_x / 2.0, 0.0), w - side_x))
    y0 = round(min(max(cy - side_y / 2.0, 0.0), h - side_y))
    return x0, y0, x0 + round(side_x), y0 + round(side_y)


def face_crop_jpeg(path: Path | str, size: int = 256, max_pixels: int = MAX_PIXELS) -> bytes:
    """The crop of the image at ``path`` as a ``size`` x ``size`` JPEG; a grey tile saying why when
    the file is missing, too large or unreadable (checked by :func:`frbench.images.check_image`)."""
    problem = check_image(str(path), max_pixels)
    image = None if problem is not None else cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return _placeholder(size, problem[0] if problem else "unreadable")
    x0, y0, x1, y1 = crop_box(image.shape, _largest_face(image))
    crop = cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA if x1 - x0 > size else cv2.INTER_CUBIC)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        return _placeholder(size, "unreadable")
    return data.tobytes()


def _largest_face(image: np.ndarray) -> tuple[int, int, int, int] | None:
    detector = _detector()
    if detector is None:
        return None
    faces = detector(np.ascontiguousarray(image[..., ::-1]), 0)
    if not len(faces):
        return None
    face = max(faces, key=lambda r: r.width() * r.height())
    return face.left(), face.top(), face.right(), face.bottom()


@lru_cache(maxsize=1)
def _detector():
    # Optional: without dlib the centre crop still shows an aligned dataset's faces.
    if importlib.util.find_spec("dlib") is None:
        return None
    import dlib

    return dlib.get_frontal_face_detector()


def _placeholder(size: int, why: str) -> bytes:
    tile = np.full((size, size, 3), 128, dtype=np.uint8)
    cv2.putText(tile, why, (10, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return cv2.imencode(".jpg", tile)[1].tobytes()
