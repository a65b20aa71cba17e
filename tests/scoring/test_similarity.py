"""Scores: distance -> similarity convention, agreement with deepface, default thresholds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from deepface.modules.verification import find_distance

from frbench.scoring.similarity import (
    METRICS,
    deepface_default_threshold,
    pair_similarities,
    similarity_from_distance,
)


def test_similarity_convention_by_hand():
    assert similarity_from_distance(0.3, "cosine") == pytest.approx(0.7)
    assert similarity_from_distance(0.25, "angular") == pytest.approx(0.75)
    assert similarity_from_distance(2.5, "euclidean") == -2.5
    assert similarity_from_distance(1.1, "euclidean_l2") == -1.1
    assert isinstance(similarity_from_distance(0.3, "cosine"), float)


def test_unknown_metric_lists_valid_ones():
    with pytest.raises(ValueError, match="cosine, euclidean, euclidean_l2, angular"):
        similarity_from_distance(0.1, "manhattan")
    with pytest.raises(ValueError, match="valid metrics"):
        pair_similarities(np.ones((1, 2)), np.ones((1, 2)), "dot")


def test_pair_similarities_by_hand():
    a = np.array([[1.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 1.0], [6.0, 8.0]])
    # Orthogonal: cos 0, angle pi/2 -> angular distance 1/2; |a-b| = sqrt(2) (unit vectors).
    # Parallel: cos 1, angle 0; |a-b| = |(3,4)| = 5, normalised vectors coincide.
    np.testing.assert_allclose(pair_similarities(a, b, "cosine"), [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(pair_similarities(a, b, "angular"), [0.5, 1.0], atol=1e-9)
    np.testing.assert_allclose(pair_similarities(a, b, "euclidean"), [-math.sqrt(2), -5.0], atol=1e-9)
    np.testing.assert_allclose(pair_similarities(a, b, "euclidean_l2"), [-math.sqrt(2), 0.0], atol=1e-9)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_similarities_match_deepface(metric, dtype):
    rng = np.random.default_rng(7)
    a = rng.normal(size=(40, 128)).astype(dtype)
    b = (a + rng.normal(scale=0.8, size=a.shape)).astype(dtype)
    b[0] = a[0]  # identical embeddings: distance 0
    ours = pair_similarities(a, b, metric)
    assert ours.dtype == np.float64
    theirs = np.array([find_distance(a[i].astype(np.float64), b[i].astype(np.float64), metric) for i in range(len(a))])
    # deepface rounds distances to 6 decimals, so agreement is to half a unit in the 6th decimal.
    np.testing.assert_allclose(ours, similarity_from_distance(theirs, metric), rtol=0, atol=5e-7 + 1e-9)


def test_failed_rows_give_nan():
    a = np.array([[1.0, 2.0], [np.nan, np.nan]])
    b = np.array([[2.0, 1.0], [1.0, 1.0]])
    s = pair_similarities(a, b, "cosine")
    assert np.isfinite(s[0]) and np.isnan(s[1])


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="same shape"):
        pair_similarities(np.ones((3, 4)), np.ones((2, 4)), "cosine")
    with pytest.raises(ValueError, match="2-D"):
        pair_similarities(np.ones(4), np.ones(4), "cosine")


def test_deepface_default_threshold_is_a_similarity():
    # deepface/config/threshold.py: VGG-Face cosine 0.68, Facenet euclidean 10, ArcFace angular 0.39.
    assert deepface_default_threshold("VGG-Face", "cosine") == pytest.approx(1 - 0.68)
    assert deepface_default_threshold("Facenet", "euclidean") == -10.0
    assert deepface_default_threshold("ArcFace", "angular") == pytest.approx(1 - 0.39)
    assert deepface_default_threshold("Dlib", "euclidean_l2") == -0.4


@pytest.mark.parametrize("metric", METRICS)
def test_default_threshold_decides_like_deepface(metric):
    # deepface: match iff distance <= t_d. frbench: match iff similarity >= threshold.
    from deepface.modules.verification import find_threshold

    t_d = find_threshold("Facenet512", metric)
    threshold = deepface_default_threshold("Facenet512", metric)
    distances = np.array([t_d - 1e-3, t_d, t_d + 1e-3])
    ours = similarity_from_distance(distances, metric) >= threshold
    np.testing.assert_array_equal(ours, distances <= t_d)


def test_default_threshold_unknown_model_or_metric():
    with pytest.raises(ValueError, match="VGG-Face"):
        deepface_default_threshold("NoSuchNet", "cosine")
    with pytest.raises(ValueError, match="valid metrics"):
        deepface_default_threshold("VGG-Face", "manhattan")


def test_zero_embedding_has_cosine_similarity_zero():
    s = pair_similarities(np.array([[0.0, 0.0]]), np.array([[1.0, 2.0]]), "cosine")
    assert s[0] == 0.0


@pytest.mark.parametrize("metric, distance", [("euclidean", 0.6), ("euclidean_l2", 0.4), ("cosine", 0.07), ("angular", 0.2)])
def test_distances_shown_in_deepfaces_convention_invert_the_similarity(metric, distance):
    from frbench.scoring.similarity import distance_from_similarity, similarity_from_distance

    similarity = similarity_from_distance(distance, metric)
    assert distance_from_similarity(similarity, metric) == pytest.approx(distance)


def test_scores_and_thresholds_tables_gain_a_distance_column_only_where_deepface_ran():
    from types import SimpleNamespace

    from frbench.workflows.run import with_distance

    config = SimpleNamespace(model=SimpleNamespace(distance_metric="euclidean"))
    table = pd.DataFrame({"threshold_name": ["deepface_default"], "threshold": [-0.6]})
    shown = with_distance(table, "threshold", pipeline=object(), config=config)
    assert list(shown.columns) == ["threshold_name", "threshold", "threshold_distance"]
    assert shown.loc[0, "threshold_distance"] == pytest.approx(0.6) and shown.loc[0, "threshold"] == -0.6
    assert with_distance(table, "threshold", pipeline=None, config=config) is table
