"""ITA estimation: colour conversion, robust statistic, skin regions, failures, cache."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from frbench.annotate import ita as ita_module
from frbench.annotate.ita import (
    ItaOptions,
    estimate_ita,
    estimate_ita_images,
    face_landmarks,
    ita_degrees,
    ita_from_landmarks,
    robust_ita,
    skin_polygons,
    srgb_to_lab,
    subject_ita,
)
from frbench.errors import ConfigError

LFW_IMAGE = "images_deepfunneled/Colin_Powell/Colin_Powell_0001.jpg"
LFW_IMAGE_2 = "images_deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg"


def lab_to_srgb8(lab: np.ndarray) -> np.ndarray:
    """Lab -> 8-bit sRGB via OpenCV (independent of the implementation under test)."""
    rgb = cv2.cvtColor(np.asarray(lab, np.float32).reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(-1, 3)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


# ---- colour conversion -------------------------------------------------------------------------


def test_srgb_to_lab_reference_colours():
    # Lindbloom's calculator (sRGB, D65): white, black, red, mid grey 0.5
    cases = {
        (1.0, 1.0, 1.0): (100.0, 0.0, 0.0),
        (0.0, 0.0, 0.0): (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0): (53.2408, 80.0925, 67.2032),
        (0.5, 0.5, 0.5): (53.3890, 0.0, 0.0),
    }
    for rgb, lab in cases.items():
        np.testing.assert_allclose(srgb_to_lab(np.array(rgb)), lab, atol=2e-3)


def test_srgb_to_lab_matches_opencv():
    rng = np.random.default_rng(0)
    rgb = rng.random((2000, 1, 3)).astype(np.float32)
    reference = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[:, 0]
    # OpenCV's float path interpolates the sRGB curve and quantises a*, b* to 1/64: ~0.3 at worst.
    np.testing.assert_allclose(srgb_to_lab(rgb)[:, 0], reference, atol=0.35)


# ---- ITA and the robust statistic --------------------------------------------------------------


def test_ita_degrees_hand_values():
    L = np.array([50.0, 60.0, 40.0, 50 + 10 * np.sqrt(3), 70.0])
    b = np.array([10.0, 10.0, 10.0, 10.0, 0.0])
    np.testing.assert_allclose(ita_degrees(L, b), [0.0, 45.0, -45.0, 60.0, 90.0], atol=1e-12)


def test_robust_ita_iqr_keeps_interquartile_band():
    lab = np.array([[10, 0, 10], [50, 0, 10], [60, 0, 10], [70, 0, 10], [99, 0, 10]], float)
    ita, L, b, n = robust_ita(lab, "median_lab", "iqr")
    # Q1 = 50, Q3 = 70 (linear interpolation), so 50, 60, 70 are kept: median L* 60, ITA 45
    assert (n, L, b) == (3, 60.0, 10.0)
    assert ita == pytest.approx(45.0)


def test_robust_ita_mad_drops_far_pixels():
    lab = np.array([[58, 0, 10], [60, 0, 10], [62, 0, 10], [60, 0, 10], [100, 0, 10]], float)
    # median 60, MAD 2 -> keep |L - 60| <= 2.5 * 1.4826 * 2 = 7.41
    assert robust_ita(lab, "median_lab", "mad")[3] == 4
    assert robust_ita(lab, "median_lab", "none")[3] == 5


def test_robust_ita_statistics_differ_as_defined():
    # median L* 55, median b* 30 -> atan2(5, 30); per-pixel ITA 45, atan2(5, 40), -18.4 -> atan2(5, 40)
    lab = np.array([[60, 0, 10], [55, 0, 40], [40, 0, 30]], float)
    assert robust_ita(lab, "median_lab", "none")[0] == pytest.approx(np.degrees(np.arctan2(5, 30)))
    assert robust_ita(lab, "median_ita", "none")[0] == pytest.approx(np.degrees(np.arctan2(5, 40)))


@pytest.mark.parametrize("L, b", [(75, 10), (65, 15), (58, 17), (50, 20), (40, 22), (30, 14), (25, 8)])
@pytest.mark.parametrize("statistic", ["median_lab", "median_ita"])
@pytest.mark.parametrize("outliers", ["iqr", "mad"])
def test_ita_of_synthetic_patch_within_one_degree(L, b, statistic, outliers):
    rng = np.random.default_rng(int(L * 100 + b))
    n = 2000
    lab = np.column_stack([L + rng.normal(0, 1.5, n), 12 + rng.normal(0, 1.5, n), b + rng.normal(0, 1.5, n)])
    pixels = lab_to_srgb8(lab)
    # 8% specular highlights and 8% deep shadows
    pixels[: n * 8 // 100] = 255
    pixels[n * 8 // 100 : n * 16 // 100] = lab_to_srgb8([[max(L - 35, 3), 8, b / 2]])
    ita, *_ = robust_ita(srgb_to_lab(pixels / 255.0), statistic, outliers)
    assert ita == pytest.approx(np.degrees(np.arctan2(L - 50, b)), abs=1.0)


# ---- whole images ------------------------------------------------------------------------------


def test_no_face_in_noise_or_flat_colour():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (240, 240, 3), dtype=np.uint8)
    flat = np.full((240, 240, 3), (90, 140, 200), np.uint8)
    for image in (noise, flat):
        result = estimate_ita(image)
        assert result.status == "no_face"
        assert result.ita is None and result.n_pixels == 0


def test_missing_and_unreadable_files(tmp_path):
    garbage = tmp_path / "broken.jpg"
    garbage.write_bytes(b"not a jpeg at all")
    assert estimate_ita(tmp_path / "absent.jpg").status == "missing"
    result = estimate_ita(garbage)
    assert result.status == "unreadable" and "broken.jpg" in result.detail


def test_bad_array_and_bad_options_raise():
    with pytest.raises(ValueError, match="BGR uint8"):
        estimate_ita(np.zeros((10, 10), np.uint8))
    with pytest.raises(ConfigError, match="regions='nose'"):
        ItaOptions(regions="nose")
    with pytest.raises(ConfigError, match="min_pixels"):
        ItaOptions(min_pixels=0)


def test_real_face_gives_ok_estimate(lfw):
    result = estimate_ita(lfw / LFW_IMAGE)
    assert result.status == "ok", result.detail
    assert -90 < result.ita < 90
    # three regions on a ~100 px face, half of them kept by the IQR rule
    assert 300 < result.n_pixels < 3000
    assert result.ita == pytest.approx(float(ita_degrees(result.L, result.b)))


def test_regions_avoid_eyes_brows_lips_nostrils(lfw):
    for rel in (LFW_IMAGE, LFW_IMAGE_2):
        landmarks = face_landmarks(cv2.imread(str(lfw / rel)))
        assert landmarks is not None
        features = [*range(17, 27), *range(31, 36), *range(36, 48), *range(48, 68)]
        for poly in skin_polygons(landmarks, "both"):
            contour = poly.astype(np.float32).reshape(-1, 1, 2)
            for i in features:
                point = (float(landmarks[i, 0]), float(landmarks[i, 1]))
                assert cv2.pointPolygonTest(contour, point, False) < 0, f"landmark {i} inside a skin region"


@pytest.mark.parametrize("large_first", [True, False])
def test_largest_of_several_faces_is_used(lfw, large_first):
    large = cv2.imread(str(lfw / LFW_IMAGE))
    small = cv2.resize(cv2.imread(str(lfw / LFW_IMAGE_2)), (175, 175))
    canvas = np.full((250, 425, 3), 128, np.uint8)
    if large_first:
        canvas[:, :250], canvas[:175, 250:] = large, small
    else:
        canvas[:175, :175], canvas[:, 175:] = small, large
    landmarks = face_landmarks(canvas)
    large_x0 = 0 if large_first else 175
    assert large_x0 < landmarks[:, 0].min() and landmarks[:, 0].max() < large_x0 + 250


def test_known_colour_painted_over_real_face(lfw):
    # Landmarks from a real face, pixels replaced by a known skin colour with highlights:
    # the masking, conversion and statistic together recover the ITA.
    image = cv2.imread(str(lfw / LFW_IMAGE))
    landmarks = face_landmarks(image)
    L, b = 62.0, 16.0
    rng = np.random.default_rng(2)
    n = image.shape[0] * image.shape[1]
    lab = np.column_stack([L + rng.normal(0, 1, n), np.full(n, 11.0), b + rng.normal(0, 1, n)])
    painted = lab_to_srgb8(lab)[:, ::-1].reshape(image.shape).copy()
    painted[rng.random(image.shape[:2]) < 0.1] = 255
    expected = np.degrees(np.arctan2(L - 50, b))
    for regions in ("cheeks", "forehead", "both"):
        for grey_world in (False, True):
            result = ita_from_landmarks(painted, landmarks, ItaOptions(regions=regions, grey_world=grey_world))
            assert result.status == "ok"
            if not grey_world:
                assert result.ita == pytest.approx(expected, abs=1.0)
    # grey world pulls a uniformly skin-coloured image towards grey, so it must change the estimate
    assert ita_from_landmarks(painted, landmarks, ItaOptions(grey_world=True)).b < 5


def test_greyscale_photo_is_no_colour(lfw):
    grey = cv2.cvtColor(cv2.cvtColor(cv2.imread(str(lfw / LFW_IMAGE)), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    result = estimate_ita(grey)
    assert result.status == "no_colour" and result.ita is None


def test_too_few_pixels(lfw):
    result = estimate_ita(lfw / LFW_IMAGE, ItaOptions(min_pixels=100_000))
    assert result.status == "too_few_pixels" and "need 100000" in result.detail


# ---- tables and cache --------------------------------------------------------------------------


def _table(tmp_path: Path, lfw: Path) -> pd.DataFrame:
    face = tmp_path / "face.jpg"
    shutil.copy(lfw / LFW_IMAGE, face)
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(3).integers(0, 256, (120, 120, 3), dtype=np.uint8))
    rows = [
        ("a/face.jpg", str(face), "a"),
        ("b/noise.png", str(noise), "b"),
        ("c/gone.jpg", str(tmp_path / "gone.jpg"), "c"),
    ]
    return pd.DataFrame(rows, columns=["image_id", "path", "subject_id"])


def test_images_table_and_cache_reuse(tmp_path, lfw, monkeypatch):
    images = _table(tmp_path, lfw)
    cache = tmp_path / "cache"
    first = estimate_ita_images(images, cache_dir=cache, progress=False)
    assert list(first.columns[:6]) == ["image_id", "subject_id", "ita", "n_pixels", "status", "detail"]
    assert first["status"].tolist() == ["ok", "no_face", "missing"]
    assert first["image_id"].tolist() == images["image_id"].tolist()
    with sqlite3.connect(cache / "ita.sqlite") as db:
        assert db.execute("SELECT count(*) FROM ita").fetchone()[0] == 2  # a missing file is not cached

    def fail(*args, **kwargs):
        raise AssertionError("recomputed an image that is in the cache")

    monkeypatch.setattr(ita_module, "estimate_ita", fail)
    second = estimate_ita_images(images, cache_dir=cache, progress=False)
    pd.testing.assert_frame_equal(first, second)
    # keyed by content: the same bytes under another name are a hit
    moved = tmp_path / "moved.jpg"
    shutil.copy(tmp_path / "face.jpg", moved)
    renamed = images.iloc[:1].assign(path=str(moved))
    assert estimate_ita_images(renamed, cache_dir=cache, progress=False)["ita"].iloc[0] == first["ita"].iloc[0]
    # other options are another key, so they are computed
    with pytest.raises(AssertionError, match="recomputed"):
        estimate_ita_images(images, ItaOptions(regions="cheeks"), cache_dir=cache, progress=False)


def test_process_pool_matches_serial(tmp_path, lfw):
    images = _table(tmp_path, lfw)
    serial = estimate_ita_images(images, progress=False)
    pooled = estimate_ita_images(images, workers=2, progress=False)
    pd.testing.assert_frame_equal(serial, pooled)


def test_subject_ita_median_of_ok_images():
    per_image = pd.DataFrame(
        {
            "subject_id": ["a", "a", "a", "a", "b", "c", "c"],
            "ita": [10.0, 40.0, 20.0, np.nan, 5.0, np.nan, 30.0],
            "status": ["ok", "ok", "ok", "no_face", "ok", "missing", "ok"],
        }
    )
    out = subject_ita(per_image)
    assert out["subject_id"].tolist() == ["a", "b", "c"]
    assert out["ita"].tolist() == [20.0, 5.0, 30.0]
    assert out["n_images"].tolist() == [3, 1, 1]
    none_ok = subject_ita(pd.DataFrame({"subject_id": ["d"], "ita": [np.nan], "status": ["no_face"]}))
    assert np.isnan(none_ok["ita"].iloc[0]) and none_ok["n_images"].iloc[0] == 0
