"""Per-image skin-colour features for the skin-tone estimator: colour constancy, neutral references
in the face, robust skin-pixel selection, and colour statistics beyond ITA.

Illumination and exposure
-------------------------
A press photograph's skin colour is the skin times the scene illuminant times the camera's
processing. Each correction below estimates the illuminant as a linear-RGB triple ``e`` and applies
the diagonal (von Kries) correction ``rgb * mean(e) / e``, which maps ``e`` to grey and keeps its
mean level, so only the colour cast is removed (exposure is left to the ``*_L`` features):

* ``none``: no correction;
* ``grey_world`` (Buchsbaum, 1980, J. Franklin Inst. 310:1-26): ``e`` = mean of each channel over
  the whole image;
* ``shades_of_grey`` (Finlayson & Trezzi, 2004, CIC 12): ``e_c = (mean(c ** p)) ** (1 / p)`` with
  ``p = SHADES_P``;
* ``grey_edge`` (van de Weijer, Gevers & Gijsenij, 2007, IEEE TIP 16:2207-2214), first order:
  ``e_c = (mean(|grad G_sigma * c| ** p)) ** (1 / p)``, Gaussian derivative with ``sigma =
  GREY_EDGE_SIGMA``, ``p = SHADES_P``;
* ``sclera``: the median colour of the brightest pixels inside the eye outlines (landmarks 36-41,
  42-47) of the open eyes (eye aspect ratio >= ``MIN_EYE_OPENNESS``, Soukupova & Cech, 2016),
  when at least ``MIN_SCLERA_PIXELS`` remain;
* ``neutral``: sclera and, when the mouth is open, teeth (inner-lip outline 60-67) pooled.
  Neither sclera nor teeth is exactly grey; a constant bias is absorbed by the fitted model.
  When no reference is found the image is left uncorrected and ``has_sclera`` / ``has_teeth``
  say so.

Skin pixels
-----------
Two pixel sets are measured:

* *robust skin regions*: the cheek and forehead polygons of
  :func:`frbench.annotate.ita.skin_polygons`; in each region separately (so a cap's shadow on the
  forehead does not set the cheeks' band) pixels whose L* gradient magnitude is in the top
  ``EDGE_DROP`` share are dropped (hair strands, glasses frames, stubble and wrinkles are edges;
  skin is smooth), then pixels with a clipped channel (>= ``CLIPPED`` of 255: highlights carry no
  colour), then pixels outside the region's L* inter-quartile band (shadows, highlights) and those
  whose hue angle is more than ``HUE_MAD_K`` scaled MADs from the region's median hue (hair, lips,
  make-up, background). Regions keeping fewer than ``MIN_REGION_PIXELS`` are dropped.
* *the whole face* (:func:`face_skin_mask`): inside the jaw line and brows, without eyes, brows,
  nostrils and lips, and without clipped pixels; it keeps shadows and the darker periphery of the
  face, which the robust regions discard.

Selections are made on the uncorrected image, so every correction is measured on the same pixels.

Features (one image)
--------------------
For every correction ``k``:

* robust regions pooled: ``k_L``, ``k_a``, ``k_b`` (medians of the kept pixels' CIELAB), ``k_C``
  (chroma of that median), ``k_h`` (hue angle atan2(b*, a*) in degrees; Thong, Joniak & Xiang,
  ICCV 2023, "Beyond Skin Tone": lightness and hue as two dimensions), ``k_ita``;
  ``k_lit_{L,a,b}`` without the darkest region (a region in shadow reads darker, never lighter)
  and ``k_dark_{L,a,b}`` of the darkest region alone;
* whole face: ``k_face_L10`` ... ``k_face_L90`` (L* quantiles), ``k_face_low_{a,b}`` and
  ``k_face_high_{a,b}`` (median a*, b* of the pixels below and above the median L*).

Independent of the correction: ``L_iqr``, ``b_iqr``, ``h_iqr`` (spread of the kept region
pixels), ``log_pixels`` (log10 of their number), ``region_L_range`` (max - min of the regions'
median L*), ``n_regions``, ``cast_a``, ``cast_b`` (CIELAB of the grey-world illuminant at a fixed
level: the image's colour cast), ``image_L`` and ``image_L99`` (mean and 99th percentile of the
image's L*: exposure), ``clipped`` (share of region pixels with a clipped channel),
``ref_sclera_L`` (L* of the sclera reference, NaN when absent), ``has_sclera``, ``has_teeth``,
``eye_distance`` (pixels between the eye centres: face size).

Quality failures (status other than ``ok``) are the same as ITA's: ``no_face``, ``no_colour``
(greyscale photograph: median skin chroma < ``NO_COLOUR_CHROMA``), ``too_few_pixels`` (fewer than
``MIN_SKIN_PIXELS`` kept), ``missing``, ``unreadable``, ``too_large``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from frbench.annotate.ita import (
    _SRGB8_TO_LINEAR,
    NO_COLOUR_CHROMA,
    _check_image,
    _decode,
    _dlib,
    face_landmarks,
    ita_degrees,
    linear_rgb_to_lab,
    skin_polygons,
)
from frbench.annotate.store import ImageStore
from frbench.embed.screening import MAX_PIXELS, check_image
from frbench.tables import OK, validate_image_table

# Bump when a change here changes any feature value, so cached features are not reused.
FEATURES_VERSION = 1

CORRECTIONS = ("none", "grey_world", "shades_of_grey", "grey_edge", "sclera", "neutral")
FACE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
FACE_STATISTICS = tuple(f"face_L{round(q * 100):02d}" for q in FACE_QUANTILES) + (
    "face_low_a",
    "face_low_b",
    "face_high_a",
    "face_high_b",
)
PER_CORRECTION = ("L", "a", "b", "C", "h", "ita", "lit_L", "lit_a", "lit_b", "dark_L", "dark_a", "dark_b") + FACE_STATISTICS
GLOBAL_FEATURES = (
    "L_iqr",
    "b_iqr",
    "h_iqr",
    "log_pixels",
    "region_L_range",
    "n_regions",
    "cast_a",
    "cast_b",
    "image_L",
    "image_L99",
    "clipped",
    "ref_sclera_L",
    "has_sclera",
    "has_teeth",
    "eye_distance",
)
FEATURE_NAMES = tuple(f"{k}_{f}" for k in CORRECTIONS for f in PER_CORRECTION) + GLOBAL_FEATURES

SHADES_P = 6.0
GREY_EDGE_SIGMA = 1.0
EDGE_DROP = 0.25
HUE_MAD_K = 2.5
MAD_TO_SD = 1.4826
CLIPPED = 250
MIN_SKIN_PIXELS = 50
MIN_REGION_PIXELS = 20
MIN_EYE_OPENNESS = 0.18
MIN_SCLERA_PIXELS = 6
SCLERA_QUANTILE = 0.75
MIN_MOUTH_OPENNESS = 0.12
MIN_TEETH_PIXELS = 15
TEETH_QUANTILE = 0.6
# Sclera and teeth are near-neutral; a "reference" as saturated as skin (C* 20-30) is eyelid skin,
# iris, lips or a lens.
MAX_REFERENCE_CHROMA = 15.0

JAW = list(range(17))
BROWS = list(range(17, 27))
NOSTRILS = [31, 32, 33, 34, 35]
OUTER_MOUTH = list(range(48, 60))
RIGHT_EYE = list(range(36, 42))
LEFT_EYE = list(range(42, 48))
INNER_MOUTH = list(range(60, 68))
CACHE_FILE = "skin_features.sqlite"


@dataclass(frozen=True)
class ImageFeatures:
    """One image's features (``FEATURE_NAMES`` -> value, empty unless status is ``ok``)."""

    status: str
    detail: str = ""
    values: dict[str, float] = field(default_factory=dict)


def diagonal_correction(linear: np.ndarray, illuminant: np.ndarray) -> np.ndarray:
    """von Kries correction: scale each channel by mean(e) / e_c, mapping ``illuminant`` to grey.

    ``linear`` is linear RGB with channels last; ``illuminant`` a positive RGB triple.
    """
    e = np.asarray(illuminant, dtype=np.float64)
    if e.shape != (3,) or not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError(f"illuminant must be three positive numbers, got {illuminant!r}")
    return np.asarray(linear, dtype=np.float64) * (e.mean() / e)


def grey_world(linear: np.ndarray) -> np.ndarray:
    """Grey-world illuminant (Buchsbaum, 1980): each channel's mean over the image."""
    return _minkowski(_as_image(linear).reshape(-1, 3), 1.0)


def shades_of_grey(linear: np.ndarray, p: float = SHADES_P) -> np.ndarray:
    """Shades-of-grey illuminant (Finlayson & Trezzi, 2004): per channel (mean(c ** p)) ** (1/p)."""
    return _minkowski(_as_image(linear).reshape(-1, 3), p)


def grey_edge(linear: np.ndarray, p: float = SHADES_P, sigma: float = GREY_EDGE_SIGMA) -> np.ndarray:
    """First-order grey-edge illuminant (van de Weijer et al., 2007): per channel the Minkowski
    p-norm mean of the gradient magnitude of the Gaussian-smoothed (``sigma``) channel."""
    image = _as_image(linear).astype(np.float32)
    smooth = cv2.GaussianBlur(image, (0, 0), sigma) if sigma > 0 else image
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return _minkowski(np.hypot(gx, gy).reshape(-1, 3).astype(np.float64), p)


def eye_openness(landmarks: np.ndarray, eye: list[int]) -> float:
    """Eye aspect ratio (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) of one eye's six landmarks
    (Soukupova & Cech, 2016); about 0.3 open, under 0.15 closed."""
    p = np.asarray(landmarks, dtype=np.float64)[eye]
    width = np.linalg.norm(p[0] - p[3])
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * width)) if width > 0 else 0.0


def mouth_openness(landmarks: np.ndarray) -> float:
    """Inner-lip opening: mean gap of the pairs (61, 67), (62, 66), (63, 65) over the width 60-64."""
    p = np.asarray(landmarks, dtype=np.float64)
    width = np.linalg.norm(p[60] - p[64])
    gap = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    return float(gap / width) if width > 0 else 0.0


def neutral_reference(
    linear: np.ndarray, lab: np.ndarray, mask: np.ndarray, quantile: float, min_pixels: int
) -> np.ndarray | None:
    """Median linear RGB of the pixels in ``mask`` whose L* is at or above its ``quantile`` and that
    are not clipped, or None when fewer than ``min_pixels`` remain or their chroma exceeds
    ``MAX_REFERENCE_CHROMA`` (not a neutral surface)."""
    inside = mask.astype(bool)
    if inside.sum() < min_pixels:
        return None
    L = lab[..., 0][inside]
    rgb = linear[inside]
    keep = (L >= np.quantile(L, quantile)) & (rgb.max(axis=1) < _SRGB8_TO_LINEAR[CLIPPED])
    if keep.sum() < min_pixels:
        return None
    ref = np.median(rgb[keep], axis=0)
    ref_lab = linear_rgb_to_lab(ref)
    if np.hypot(ref_lab[1], ref_lab[2]) > MAX_REFERENCE_CHROMA or np.any(ref <= 0):
        return None
    return ref


def face_skin_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """The face inside the jaw line and brows, without the eyes, brows, nostrils and lips (each
    dilated by a few pixels): skin plus whatever covers it (beard, glasses, fringe)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    hull = cv2.convexHull(np.round(pts[JAW + BROWS]).astype(np.int32))
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    holes = np.zeros(shape, dtype=np.uint8)
    for part in (RIGHT_EYE, LEFT_EYE, NOSTRILS, OUTER_MOUTH):
        cv2.fillPoly(holes, [cv2.convexHull(np.round(pts[part]).astype(np.int32))], 1)
    for brow in (BROWS[:5], BROWS[5:]):
        cv2.polylines(holes, [np.round(pts[brow]).astype(np.int32)], False, 1, thickness=3)
    holes = cv2.dilate(holes, np.ones((5, 5), np.uint8))
    return (mask & (1 - holes)).astype(bool)


def select_skin(lab: np.ndarray, gradient: np.ndarray, clipped: np.ndarray) -> np.ndarray:
    """Boolean mask over region pixels (rows of ``lab``) kept as skin; see the module docstring.

    ``gradient`` is the L* gradient magnitude and ``clipped`` the clipped-channel flag per pixel.
    """
    n = len(lab)
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    keep &= gradient <= np.quantile(gradient, 1.0 - EDGE_DROP)
    keep &= ~clipped
    if not keep.any():
        return keep
    L = lab[:, 0]
    q1, q3 = np.quantile(L[keep], [0.25, 0.75])
    keep &= (L >= q1) & (L <= q3)
    if not keep.any():
        return keep
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    centre = np.median(hue[keep])
    # Hue is circular; skin hues sit far from the +-180 wrap, but differences must still wrap.
    dev = np.abs((hue - centre + 180.0) % 360.0 - 180.0)
    spread = MAD_TO_SD * np.median(dev[keep])
    keep &= dev <= max(HUE_MAD_K * spread, 1.0)
    return keep


def features_from_landmarks(image_bgr: np.ndarray, landmarks: np.ndarray) -> ImageFeatures:
    """Features of the face that ``landmarks`` (68 dlib points) locate in ``image_bgr``."""
    image_bgr = _check_image(image_bgr)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {landmarks.shape}")
    rgb8 = image_bgr[..., ::-1]
    linear = _SRGB8_TO_LINEAR[rgb8]
    lab = linear_rgb_to_lab(linear)

    polygons = skin_polygons(landmarks, "both")
    region = _polygon_mask(image_bgr.shape[:2], polygons)
    if not region.any():
        return ImageFeatures("too_few_pixels", "skin regions lie outside the image")
    region_lab = lab[region]
    chroma = float(np.median(np.hypot(region_lab[:, 1], region_lab[:, 2])))
    if chroma < NO_COLOUR_CHROMA:
        return ImageFeatures("no_colour", f"skin median chroma {chroma:.2f} < {NO_COLOUR_CHROMA}: greyscale image")
    grad = _gradient_magnitude(lab[..., 0])
    # Selection per region: a cap's shadow on the forehead must not set the cheeks' L* band.
    kept: list[np.ndarray] = []
    for poly in polygons:
        inside = _polygon_mask(image_bgr.shape[:2], [poly])
        rows, cols = np.nonzero(inside)
        keep = select_skin(lab[rows, cols], grad[rows, cols], rgb8[rows, cols].max(axis=1) >= CLIPPED)
        if keep.sum() >= MIN_REGION_PIXELS:
            kept.append(np.stack([rows[keep], cols[keep]], axis=1))
    n_kept = sum(len(k) for k in kept)
    if n_kept < MIN_SKIN_PIXELS:
        return ImageFeatures("too_few_pixels", f"{n_kept} skin pixels kept, need {MIN_SKIN_PIXELS}")
    region_L = [float(np.median(lab[k[:, 0], k[:, 1], 0])) for k in kept]
    # The brightest regions: a region in a hat's shadow or under a fringe reads darker, never lighter.
    lit = np.argsort(region_L)[::-1][: max(1, len(kept) - 1)]
    pools = {"": np.vstack(kept), "lit_": np.vstack([kept[i] for i in lit]), "dark_": kept[int(np.argmin(region_L))]}
    skin_lab = lab[pools[""][:, 0], pools[""][:, 1]]
    clipped = rgb8[region].max(axis=1) >= CLIPPED

    eyes = [e for e in (RIGHT_EYE, LEFT_EYE) if eye_openness(landmarks, e) >= MIN_EYE_OPENNESS]
    sclera = None
    if eyes:
        eye_mask = _polygon_mask(image_bgr.shape[:2], [landmarks[e] for e in eyes], erode=1)
        sclera = neutral_reference(linear, lab, eye_mask, SCLERA_QUANTILE, MIN_SCLERA_PIXELS)
    teeth = None
    if mouth_openness(landmarks) >= MIN_MOUTH_OPENNESS:
        mouth_mask = _polygon_mask(image_bgr.shape[:2], [landmarks[INNER_MOUTH]], erode=1)
        teeth = neutral_reference(linear, lab, mouth_mask, TEETH_QUANTILE, MIN_TEETH_PIXELS)
    neutral = _pool_references([r for r in (sclera, teeth) if r is not None])

    gw = grey_world(linear)
    illuminants = {
        "none": None,
        "grey_world": gw,
        "shades_of_grey": shades_of_grey(linear),
        "grey_edge": grey_edge(linear),
        "sclera": sclera,
        "neutral": neutral,
    }
    values: dict[str, float] = {}
    for name, e in illuminants.items():
        for prefix, pixels in pools.items():
            rgb = linear[pixels[:, 0], pixels[:, 1]]
            if e is not None:
                rgb = diagonal_correction(rgb, e)
            L, a, b = np.median(linear_rgb_to_lab(rgb), axis=0)
            values[f"{name}_{prefix}L"] = float(L)
            values[f"{name}_{prefix}a"] = float(a)
            values[f"{name}_{prefix}b"] = float(b)
            if prefix == "":
                values[f"{name}_C"] = float(math.hypot(a, b))
                values[f"{name}_h"] = float(math.degrees(math.atan2(b, a)))
                values[f"{name}_ita"] = float(ita_degrees(L, b))
    hue = np.degrees(np.arctan2(skin_lab[:, 2], skin_lab[:, 1]))
    cast = linear_rgb_to_lab(gw / max(gw.max(), 1e-12) * 0.5)
    face = face_skin_mask(image_bgr.shape[:2], landmarks) & (rgb8.max(axis=2) < CLIPPED)
    face_linear = linear[face] if face.sum() >= MIN_SKIN_PIXELS else linear[pools[""][:, 0], pools[""][:, 1]]
    for name, e in illuminants.items():
        face_lab = linear_rgb_to_lab(face_linear if e is None else diagonal_correction(face_linear, e))
        values.update(_face_statistics(face_lab, f"{name}_face_"))
    values.update(
        L_iqr=_iqr(skin_lab[:, 0]),
        b_iqr=_iqr(skin_lab[:, 2]),
        h_iqr=_iqr(hue),
        log_pixels=float(np.log10(len(skin_lab))),
        region_L_range=float(max(region_L) - min(region_L)),
        n_regions=float(len(kept)),
        cast_a=float(cast[1]),
        cast_b=float(cast[2]),
        image_L=float(lab[..., 0].mean()),
        image_L99=float(np.quantile(lab[..., 0], 0.99)),
        clipped=float(clipped.mean()),
        ref_sclera_L=float(linear_rgb_to_lab(sclera)[0]) if sclera is not None else float("nan"),
        has_sclera=float(sclera is not None),
        has_teeth=float(teeth is not None),
        eye_distance=float(np.linalg.norm(landmarks[RIGHT_EYE].mean(0) - landmarks[LEFT_EYE].mean(0))),
    )
    return ImageFeatures(OK, "", {k: values[k] for k in FEATURE_NAMES})


def image_features(image_bgr: np.ndarray, upsample: tuple[int, ...] = (0, 1)) -> ImageFeatures:
    """Features of the largest face dlib finds in a BGR uint8 image; ``no_face`` when there is none."""
    image_bgr = _check_image(image_bgr)
    landmarks = face_landmarks(image_bgr, upsample)
    if landmarks is None:
        return ImageFeatures("no_face", f"no face found (upsample {list(upsample)})")
    return features_from_landmarks(image_bgr, landmarks)


def features_table(
    images: pd.DataFrame, cache_dir: Path | None = None, progress: bool = True, max_pixels: int = MAX_PIXELS
) -> pd.DataFrame:
    """Features of every image of an ImageTable: ``image_id, subject_id, status, detail`` and the
    ``FEATURE_NAMES`` columns (NaN unless ``ok``), in the table's order.

    With ``cache_dir`` the features are stored in ``cache_dir/skin_features.sqlite`` keyed by
    (feature version and dlib version, SHA-256 of the file's bytes). Files first pass
    :func:`frbench.images.check_image` (``too_large``, ``unreadable`` without decoding).
    """
    images = validate_image_table(images)
    cache = _Cache(Path(cache_dir) / CACHE_FILE) if cache_dir is not None else None
    rows: list[ImageFeatures] = []
    try:
        for path in tqdm(images["path"].astype(str), desc="skin features", unit="img", disable=not progress):
            problem = check_image(path, max_pixels)
            if problem is not None:
                rows.append(ImageFeatures(*problem))
                continue
            try:
                data = Path(path).read_bytes()
            except FileNotFoundError:
                rows.append(ImageFeatures("missing", f"{path}: no such file"))
                continue
            except OSError as exc:
                rows.append(ImageFeatures("unreadable", f"{path}: {exc.strerror or exc}"))
                continue
            sha = hashlib.sha256(data).hexdigest()
            found = cache.get(sha) if cache is not None else None
            if found is None:
                image = _decode(data)
                found = (
                    ImageFeatures("unreadable", f"{path}: not a decodable image") if image is None else image_features(image)
                )
                if cache is not None:
                    cache.put(sha, found)
            rows.append(found)
    finally:
        if cache is not None:
            cache.close()
    out = pd.DataFrame([r.values for r in rows], columns=list(FEATURE_NAMES), dtype=float)
    out.insert(0, "detail", [r.detail for r in rows])
    out.insert(0, "status", [r.status for r in rows])
    out.insert(0, "subject_id", images["subject_id"].to_numpy())
    out.insert(0, "image_id", images["image_id"].to_numpy())
    return out


def _face_statistics(face_lab: np.ndarray, prefix: str) -> dict[str, float]:
    """L* quantiles of the face pixels and the median a*, b* of its darker and lighter halves."""
    qs = np.quantile(face_lab[:, 0], FACE_QUANTILES)
    out = {f"{prefix}L{round(q * 100):02d}": float(v) for q, v in zip(FACE_QUANTILES, qs)}
    low = face_lab[:, 0] <= qs[2]
    high = ~low if (~low).any() else low
    out[f"{prefix}low_a"], out[f"{prefix}low_b"] = (float(v) for v in np.median(face_lab[low][:, 1:], axis=0))
    out[f"{prefix}high_a"], out[f"{prefix}high_b"] = (float(v) for v in np.median(face_lab[high][:, 1:], axis=0))
    return out


def _as_image(linear: np.ndarray) -> np.ndarray:
    linear = np.asarray(linear, dtype=np.float64)
    if linear.ndim < 2 or linear.shape[-1] != 3:
        raise ValueError(f"expected linear RGB with 3 channels last, got shape {linear.shape}")
    return linear


def _minkowski(values: np.ndarray, p: float) -> np.ndarray:
    if p <= 0:
        raise ValueError(f"Minkowski p must be > 0, got {p}")
    return np.mean(np.abs(values) ** p, axis=0) ** (1.0 / p)


def _pool_references(refs: list[np.ndarray]) -> np.ndarray | None:
    """Geometric mean of the references' chromaticities (each normalised to unit sum)."""
    if not refs:
        return None
    chroma = np.array([r / r.sum() for r in refs])
    return np.exp(np.log(chroma).mean(axis=0))


def _polygon_mask(shape: tuple[int, int], polygons: list[np.ndarray], erode: int = 0) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    for poly in polygons:
        cv2.fillPoly(mask, [np.round(np.asarray(poly)).astype(np.int32)], 1)
    if erode:
        mask = cv2.erode(mask, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    return mask.astype(bool)


def _gradient_magnitude(L: np.ndarray) -> np.ndarray:
    L = L.astype(np.float32)
    return np.hypot(cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3))


def _iqr(values: np.ndarray) -> float:
    q1, q3 = np.quantile(values, [0.25, 0.75])
    return float(q3 - q1)


def _fingerprint() -> str:
    payload = {"features": FEATURES_VERSION, "names": FEATURE_NAMES, "dlib": _dlib().__version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class _Cache(ImageStore):
    """ImageFeatures keyed by (fingerprint, file SHA-256); values as JSON."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path, _fingerprint(),
            "CREATE TABLE IF NOT EXISTS features (fingerprint TEXT, sha256 TEXT, status TEXT, detail TEXT,"
            " value_json TEXT, PRIMARY KEY (fingerprint, sha256))",
        )

    def get(self, sha: str) -> ImageFeatures | None:
        row = self._row("SELECT status, detail, value_json FROM features WHERE fingerprint = ? AND sha256 = ?", sha)
        if row is None:
            return None
        values = {k: (float("nan") if v is None else float(v)) for k, v in json.loads(row[2]).items()}
        return ImageFeatures(row[0], row[1], values)

    def put(self, sha: str, result: ImageFeatures) -> None:
        # JSON has no NaN; None stands for it.
        values = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.values.items()}
        self._write("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?)",
                    (sha, result.status, result.detail, json.dumps(values)))
