"""Skin tone as the Individual Typology Angle (ITA) measured on facial skin pixels.

Definition
----------
ITA (Chardon, Cretois & Hourseau, 1991, Int. J. Cosmet. Sci. 13:191-208) is the angle of a skin
colour in the CIELAB L*-b* plane, seen from the point (L* = 50, b* = 0):

    ITA = atan2(L* - 50, b*) * 180 / pi      [degrees]

For b* > 0 this equals the usual ``arctan((L* - 50) / b*)``; estimates with b* <= 0 are refused
(see below), so ITA lies in (-90, 90). Higher ITA is lighter skin. The six ITA categories and
the lighter/darker split are in :mod:`frbench.annotate.skin_tone`.

Procedure (one image)
---------------------
1. Face: dlib's HOG frontal face detector, the largest face when there are several; dlib's
   68-point shape predictor (iBUG 300-W indexing) places landmarks on it.
2. Skin regions from landmarks (:func:`skin_polygons`):

   * cheeks: on each side the polygon lower eyelid (40, 41 / 46, 47) - nostril corner (31 / 35) -
     mouth corner (48 / 54) - jaw (3, 2, 1 / 13, 14, 15), shrunk towards its vertex centroid to
     ``CHEEK_SHRINK`` of its size, so it keeps clear of the eyelid, the nostril, the lips and the
     jaw line (background, beard shadow);
   * forehead: the eyebrow line (18-25) shifted up, along the nose-base -> mid-brow direction, by
     ``FOREHEAD_BAND[0]`` to ``FOREHEAD_BAND[1]`` times the mid-brow to nose-base distance ``d``.
     The brow-to-hairline height is about ``d`` on an average face (facial thirds), so the band's
     top at 0.55 d stays below a typical hairline; fringes that cover the forehead remain a
     failure mode, which the outlier rejection only partly absorbs.
3. Colour: sRGB (IEC 61966-2-1) decoded to linear RGB, optionally grey-world balanced over the
   whole image, converted to XYZ with the sRGB matrix and to CIELAB with the D65 white point
   (CIE 15:2004).
4. Outliers (specular highlights, shadows, stray hair): pixels are kept by their L* only, either
   inside the inter-quartile band [Q1, Q3] (``iqr``) or within ``MAD_K`` scaled median absolute
   deviations of the median (``mad``), or all (``none``).
5. Statistic: ``median_lab`` is ITA of the kept pixels' median L* and median b*;
   ``median_ita`` is the median of the per-pixel ITA values.

Skin has b* > 0 (Chardon's arctan((L* - 50) / b*) is defined for b* > 0 only). An image whose skin
pixels have (almost) no chroma is a greyscale photograph, and one whose robust centre has
b* <= 0 carries a blue colour cast; neither says anything about skin tone, so both are reported
as ``no_colour`` instead of an ITA near or beyond +-90 degrees.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from frbench.errors import ConfigError, FrbenchError, WeightsMissingError
from frbench.embed.screening import MAX_PIXELS, check_image
from frbench.tables import OK, validate_image_table
from frbench.annotate.store import ImageStore

# Bump when a change to this module changes estimates, so cached values are not reused.
ALGORITHM_VERSION = 2

STATUSES = (OK, "no_face", "no_colour", "too_few_pixels", "unreadable", "missing")
REGIONS = ("cheeks", "forehead", "both")
STATISTICS = ("median_lab", "median_ita")
OUTLIER_RULES = ("iqr", "mad", "none")

CHEEK_SHRINK = 0.5
FOREHEAD_BAND = (0.2, 0.55)
MAD_K = 2.5
# 1.4826 * MAD estimates the standard deviation of normally distributed values.
MAD_TO_SD = 1.4826
# Median chroma C*ab below which skin pixels are taken as greyscale; skin is typically 10-30.
NO_COLOUR_CHROMA = 3.0

# sRGB primaries -> CIE XYZ (D65), IEC 61966-2-1.
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
# D65 reference white, Y normalised to 1 (CIE 15:2004).
D65_WHITE = np.array([0.95047, 1.0, 1.08883])

LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"
CACHE_FILE = "ita.sqlite"


@dataclass(frozen=True)
class ItaOptions:
    """How ITA is measured; every field changes the estimate and so the cache key.

    regions: ``cheeks``, ``forehead`` or ``both``.
    statistic: ``median_lab`` (ITA of median L*, median b*) or ``median_ita`` (median per-pixel ITA).
    outliers: ``iqr``, ``mad`` or ``none`` (rule applied to L*, see module docstring).
    grey_world: balance the image's linear RGB channel means before the Lab conversion.
    min_pixels: fewer kept pixels than this gives status ``too_few_pixels``.
    upsample: dlib detector upsampling levels, tried in order until a face is found.
    """

    regions: str = "both"
    statistic: str = "median_lab"
    outliers: str = "iqr"
    grey_world: bool = False
    min_pixels: int = 50
    upsample: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        for name, allowed in (("regions", REGIONS), ("statistic", STATISTICS), ("outliers", OUTLIER_RULES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"ITA option {name}={getattr(self, name)!r} is not one of {list(allowed)}")
        if not isinstance(self.grey_world, bool):
            raise ConfigError(f"ITA option grey_world={self.grey_world!r} must be true or false")
        if isinstance(self.min_pixels, bool) or not isinstance(self.min_pixels, int) or self.min_pixels < 1:
            raise ConfigError(f"ITA option min_pixels={self.min_pixels!r} must be an integer >= 1")
        upsample = tuple(self.upsample) if isinstance(self.upsample, (list, tuple)) else ()
        if not upsample or any(isinstance(u, bool) or not isinstance(u, int) or u < 0 for u in upsample):
            raise ConfigError(f"ITA option upsample={self.upsample!r} must be a non-empty list of integers >= 0")
        object.__setattr__(self, "upsample", upsample)

    def fingerprint(self) -> str:
        """Stable hash of the options, the algorithm version and the dlib version (the cache key)."""
        payload = {**asdict(self), "algorithm": ALGORITHM_VERSION, "dlib": _dlib().__version__}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ItaResult:
    """One image's estimate. ``ita`` is None unless status is ``ok``; ``L``/``b`` are the robust
    centre (median L*, median b* of the kept pixels), NaN when it was not measured."""

    ita: float | None
    n_pixels: int
    status: str
    detail: str
    L: float
    b: float


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Decode sRGB values in [0, 1] to linear light (IEC 61966-2-1 transfer function)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def linear_rgb_to_lab(linear: np.ndarray) -> np.ndarray:
    """Linear sRGB (last axis R, G, B) to CIELAB under D65: L* in 0..100, a*, b* unscaled."""
    linear = np.asarray(linear, dtype=np.float64)
    xyz = linear @ SRGB_TO_XYZ.T / D65_WHITE
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB values in [0, 1] (last axis R, G, B) to CIELAB (D65)."""
    return linear_rgb_to_lab(srgb_to_linear(rgb))


def ita_degrees(L: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """ITA = atan2(L* - 50, b*) in degrees (Chardon et al., 1991)."""
    return np.degrees(np.arctan2(np.asarray(L, dtype=np.float64) - 50.0, np.asarray(b, dtype=np.float64)))


def robust_ita(
    lab: np.ndarray, statistic: str = "median_lab", outliers: str = "iqr"
) -> tuple[float, float, float, int]:
    """ITA of a set of skin pixels after rejecting L* outliers.

    Parameters
    ----------
    lab : array of shape (n, 3), CIELAB pixels.
    statistic : ``median_lab`` or ``median_ita``.
    outliers : ``iqr`` (keep Q1 <= L* <= Q3), ``mad`` (keep |L* - median| <= MAD_K * 1.4826 * MAD)
        or ``none``.

    Returns
    -------
    (ita, L, b, n_kept): ITA in degrees, median L* and b* of the kept pixels, and their number.
    All NaN and 0 when ``lab`` is empty.
    """
    lab = np.asarray(lab, dtype=np.float64)
    if lab.ndim != 2 or lab.shape[1] != 3:
        raise ValueError(f"lab must have shape (n, 3), got {lab.shape}")
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    if outliers not in OUTLIER_RULES:
        raise ValueError(f"outliers must be one of {OUTLIER_RULES}, got {outliers!r}")
    if len(lab) == 0:
        return float("nan"), float("nan"), float("nan"), 0
    L = lab[:, 0]
    if outliers == "iqr":
        q1, q3 = np.quantile(L, [0.25, 0.75])
        keep = (L >= q1) & (L <= q3)
    elif outliers == "mad":
        centre = np.median(L)
        keep = np.abs(L - centre) <= MAD_K * MAD_TO_SD * np.median(np.abs(L - centre))
    else:
        keep = np.ones(len(L), dtype=bool)
    kept = lab[keep]
    L_med, b_med = float(np.median(kept[:, 0])), float(np.median(kept[:, 2]))
    if statistic == "median_lab":
        ita = float(ita_degrees(L_med, b_med))
    else:
        ita = float(np.median(ita_degrees(kept[:, 0], kept[:, 2])))
    return ita, L_med, b_med, int(len(kept))


def skin_polygons(landmarks: np.ndarray, regions: str = "both") -> list[np.ndarray]:
    """Skin polygons (float (k, 2) arrays of x, y) from 68 dlib landmarks; see the module docstring."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {pts.shape}")
    if regions not in REGIONS:
        raise ValueError(f"regions must be one of {REGIONS}, got {regions!r}")
    polygons = []
    if regions in ("cheeks", "both"):
        for outline in ([41, 40, 31, 48, 3, 2, 1], [46, 47, 35, 54, 13, 14, 15]):
            poly = pts[outline]
            centre = poly.mean(axis=0)
            polygons.append(centre + CHEEK_SHRINK * (poly - centre))
    if regions in ("forehead", "both"):
        mid_brow = pts[[21, 22]].mean(axis=0)
        up = mid_brow - pts[33]
        brows = pts[18:26]
        low, high = FOREHEAD_BAND
        polygons.append(np.vstack([brows + low * up, (brows + high * up)[::-1]]))
    return polygons


def face_landmarks(image_bgr: np.ndarray, upsample: Sequence[int] = (0, 1)) -> np.ndarray | None:
    """68 (x, y) landmarks of the largest face dlib's HOG detector finds, or None.

    The upsampling levels are tried in order; the first that finds a face is used.
    """
    image_bgr = _check_image(image_bgr)
    detector, predictor = _models()
    rgb = np.ascontiguousarray(image_bgr[..., ::-1])
    for level in upsample:
        faces = detector(rgb, int(level))
        if len(faces):
            face = max(faces, key=lambda r: r.width() * r.height())
            shape = predictor(rgb, face)
            return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return None


def ita_from_landmarks(image_bgr: np.ndarray, landmarks: np.ndarray, options: ItaOptions = ItaOptions()) -> ItaResult:
    """ITA of the skin regions that ``landmarks`` define in ``image_bgr`` (steps 2-5 of the module docstring)."""
    image_bgr = _check_image(image_bgr)
    mask = np.zeros(image_bgr.shape[:2], dtype=np.uint8)
    for poly in skin_polygons(landmarks, options.regions):
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    pixels = image_bgr[mask.astype(bool)][:, ::-1]
    if len(pixels) == 0:
        return ItaResult(None, 0, "too_few_pixels", "skin regions lie outside the image", np.nan, np.nan)
    linear = _SRGB8_TO_LINEAR[pixels]
    chroma = np.median(np.hypot(*linear_rgb_to_lab(linear)[:, 1:].T))
    if chroma < NO_COLOUR_CHROMA:
        detail = f"skin median chroma {chroma:.2f} < {NO_COLOUR_CHROMA}: greyscale image"
        return ItaResult(None, 0, "no_colour", detail, np.nan, np.nan)
    if options.grey_world:
        means = _SRGB8_TO_LINEAR[image_bgr[..., ::-1]].reshape(-1, 3).mean(axis=0)
        linear = linear * (means.mean() / np.maximum(means, 1e-6))
    ita, L, b, n_kept = robust_ita(linear_rgb_to_lab(linear), options.statistic, options.outliers)
    if n_kept < options.min_pixels:
        return ItaResult(None, n_kept, "too_few_pixels", f"{n_kept} skin pixels kept, need {options.min_pixels}", L, b)
    if b <= 0:
        detail = f"skin median b* {b:.2f} <= 0 (colour cast): ITA undefined for skin"
        return ItaResult(None, n_kept, "no_colour", detail, L, b)
    return ItaResult(ita, n_kept, OK, "", L, b)


def estimate_ita(image_bgr_or_path: np.ndarray | str | Path, options: ItaOptions = ItaOptions()) -> ItaResult:
    """ITA of the largest face in an image (a BGR uint8 array, as OpenCV reads it, or a file path).

    Failures are results, not exceptions: status ``missing`` (no such file), ``unreadable`` (not a
    decodable image), ``no_face``, ``no_colour`` (greyscale or colour cast) or ``too_few_pixels``.
    """
    if isinstance(image_bgr_or_path, (str, Path)):
        path = Path(image_bgr_or_path)
        if not path.is_file():
            return ItaResult(None, 0, "missing", f"{path}: no such file", np.nan, np.nan)
        image = _decode(path.read_bytes())
        if image is None:
            return ItaResult(None, 0, "unreadable", f"{path}: not a decodable image", np.nan, np.nan)
    else:
        image = image_bgr_or_path
    image = _check_image(image)
    landmarks = face_landmarks(image, options.upsample)
    if landmarks is None:
        return ItaResult(None, 0, "no_face", f"no face found (upsample {list(options.upsample)})", np.nan, np.nan)
    return ita_from_landmarks(image, landmarks, options)


def estimate_ita_images(
    images: pd.DataFrame,
    options: ItaOptions = ItaOptions(),
    cache_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> pd.DataFrame:
    """ITA of every image of an ImageTable.

    Returns one row per image, in the table's order: ``image_id, subject_id, ita, n_pixels, status,
    detail, L, b`` (``ita``, ``L``, ``b`` NaN on failure). With ``cache_dir``, estimates are stored
    in ``cache_dir/ita.sqlite`` keyed by (``options.fingerprint()``, SHA-256 of the file's bytes),
    so a renamed or moved file is still found and an edited one is recomputed. ``workers > 1``
    runs the estimation in that many processes. Every file first passes
    :func:`frbench.embed.screening.check_image`: one declaring more than ``max_pixels`` pixels is
    ``too_large`` and a truncated JPEG ``unreadable``, without being decoded or cached.
    """
    images = validate_image_table(images)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r} must be an integer >= 1")
    fingerprint = options.fingerprint()
    cache = _Cache(Path(cache_dir) / CACHE_FILE, fingerprint) if cache_dir is not None else None
    results: list[ItaResult | None] = [None] * len(images)
    todo: list[tuple[int, str]] = []
    for i, path in enumerate(images["path"].astype(str)):
        # before the cache: the verdict depends on max_pixels, and no bad file reaches a worker
        problem = check_image(path, max_pixels)
        if problem is not None:
            results[i] = ItaResult(None, 0, *problem, np.nan, np.nan)
            continue
        cached = cache.get(_file_sha256(path)) if cache is not None else None
        if cached is not None:
            results[i] = cached
        else:
            todo.append((i, path))
    try:
        with tqdm(total=len(todo), desc="ITA", unit="img", disable=not progress) as bar:
            for (i, _), (sha, result) in zip(todo, _run(todo, options, workers)):
                results[i] = result
                if cache is not None and sha is not None:
                    cache.put(sha, result)
                bar.update()
    finally:
        if cache is not None:
            cache.close()
    out = pd.DataFrame([asdict(r) for r in results], columns=["ita", "n_pixels", "status", "detail", "L", "b"])
    out["ita"] = out["ita"].astype(float)
    out.insert(0, "subject_id", images["subject_id"].to_numpy())
    out.insert(0, "image_id", images["image_id"].to_numpy())
    return out


def subject_ita(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per subject: the median ITA over its ``ok`` images and how many were used.

    Returns ``subject_id, ita, n_images``, one row per subject in ``per_image`` (sorted by id);
    ``ita`` is NaN and ``n_images`` 0 for a subject with no ``ok`` image.
    """
    missing = [c for c in ("subject_id", "ita", "status") if c not in per_image.columns]
    if missing:
        raise ValueError(f"per-image ITA table lacks column(s) {missing}")
    ok = per_image["status"] == OK
    grouped = per_image.loc[ok].groupby("subject_id")["ita"]
    subjects = pd.Index(sorted(per_image["subject_id"].unique()), name="subject_id")
    out = pd.DataFrame(
        {
            "ita": grouped.median().reindex(subjects).astype(float),
            "n_images": grouped.size().reindex(subjects, fill_value=0).astype(int),
        }
    )
    return out.reset_index()


# sRGB decoding of every 8-bit code value, so whole images convert by lookup.
_SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256) / 255.0)


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a BGR uint8 array of shape (h, w, 3), got {desc}")
    return image


def _decode(data: bytes) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)


def _file_sha256(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _estimate_file(path: str, options: ItaOptions) -> tuple[str | None, ItaResult]:
    """Worker: read the file once, so the hash is of exactly the bytes that were estimated."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, ItaResult(None, 0, "missing", f"{path}: no such file", np.nan, np.nan)
    except OSError as exc:
        return None, ItaResult(None, 0, "unreadable", f"{path}: {exc.strerror or exc}", np.nan, np.nan)
    sha = hashlib.sha256(data).hexdigest()
    image = _decode(data)
    if image is None:
        return sha, ItaResult(None, 0, "unreadable", f"{path}: not a decodable image", np.nan, np.nan)
    return sha, estimate_ita(image, options)


def _run(todo: list[tuple[int, str]], options: ItaOptions, workers: int):
    paths = [p for _, p in todo]
    if workers == 1 or len(paths) <= 1:
        yield from (_estimate_file(p, options) for p in paths)
        return
    # spawn, not fork: the parent may hold threads (tqdm, BLAS) that fork would copy mid-state.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield from pool.map(_estimate_file, paths, [options] * len(paths), chunksize=16)


class _Cache(ImageStore):
    """ItaResults for one options fingerprint."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        super().__init__(
            path, fingerprint,
            "CREATE TABLE IF NOT EXISTS ita (fingerprint TEXT, sha256 TEXT, ita REAL, n_pixels INTEGER,"
            " status TEXT, detail TEXT, L REAL, b REAL, PRIMARY KEY (fingerprint, sha256))",
        )

    def get(self, sha: str | None) -> ItaResult | None:
        if sha is None:
            return None
        row = self._row("SELECT ita, n_pixels, status, detail, L, b FROM ita WHERE fingerprint = ? AND sha256 = ?", sha)
        if row is None:
            return None
        ita, n_pixels, status, detail, L, b = row
        return ItaResult(ita, n_pixels, status, detail, np.nan if L is None else L, np.nan if b is None else b)

    def put(self, sha: str, result: ItaResult) -> None:
        # A missing file has no content to key on; everything else is a property of the bytes.
        if result.status == "missing":
            return
        L = None if np.isnan(result.L) else float(result.L)
        b = None if np.isnan(result.b) else float(result.b)
        self._write("INSERT OR REPLACE INTO ita VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (sha, result.ita, result.n_pixels, result.status, result.detail, L, b))


def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise FrbenchError(
            f"skin-tone estimation needs dlib ({exc}); install it with: pip install 'frbench[dlib]'"
        ) from None
    return dlib


@lru_cache(maxsize=1)
def _models():
    """dlib's HOG detector and 68-point predictor, loaded once per process."""
    dlib = _dlib()
    # find_spec locates the package without importing it (its __init__ needs pkg_resources).
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    candidates = [Path(loc) / "models" / LANDMARK_MODEL for loc in locations]
    model = next((c for c in candidates if c.is_file()), None)
    if model is None:
        raise WeightsMissingError(
            f"dlib landmark model {LANDMARK_MODEL} not found "
            f"(looked in {[str(c) for c in candidates] or 'no face_recognition_models package'}); "
            "install it with: pip install face_recognition_models (https://github.com/ageitgey/face_recognition_models)"
        )
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))
