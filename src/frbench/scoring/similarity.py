"""Similarity scores from embeddings, in the one convention frbench uses everywhere.

deepface measures *distances* (``deepface.modules.verification.find_distance``); frbench turns them
into *similarities*, higher = more alike, so that every threshold means "match when
similarity >= threshold" (docs/ARCHITECTURE.md, "Scores")::

    cosine        s = 1 - d    (cosine similarity)
    angular       s = 1 - d    (d = arccos(cos) / pi, so s is in [0, 1])
    euclidean     s = -d
    euclidean_l2  s = -d       (d between L2-normalised embeddings)

Distances are computed as deepface computes them for one pair (the path of ``DeepFace.verify``:
cosine = a.b / (|a| |b|), arccos of the clipped cosine for angular), but in float64 and **not**
rounded: deepface rounds distances to 6 decimals, which creates artificial ties at a threshold.
Results agree with deepface to within that rounding (5e-7), so a pair whose distance lies within
5e-7 of deepface's own threshold can be decided differently. deepface's batch path instead divides
by |x| + 1e-10, which moves the angular distance of identical embeddings from 0 to about 2e-6; the
exact norm is used here. An all-zero embedding has cosine similarity 0 with everything.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

METRICS = ("cosine", "euclidean", "euclidean_l2", "angular")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown distance metric {metric!r}; valid metrics: {', '.join(METRICS)}")


def similarity_from_distance(distance: ArrayLike, metric: str) -> NDArray[np.float64] | float:
    """Similarity (higher = more alike) from a deepface distance: ``1 - d`` or ``-d``.

    Returns a float for a scalar input, else a float64 array of the input's shape.
    """
    _check_metric(metric)
    d = np.asarray(distance, dtype=np.float64)
    s = 1.0 - d if metric in ("cosine", "angular") else -d
    return float(s) if s.ndim == 0 else s


def distance_from_similarity(similarity: ArrayLike, metric: str) -> NDArray[np.float64] | float:
    """deepface's distance (lower = more alike; match when distance <= threshold) from a similarity.

    The inverse of :func:`similarity_from_distance` (``1 - s`` or ``-s``), for showing scores and
    thresholds as deepface's users read them: Dlib's euclidean threshold 0.6, not -0.6.
    """
    _check_metric(metric)
    s = np.asarray(similarity, dtype=np.float64)
    d = 1.0 - s if metric in ("cosine", "angular") else -s
    return float(d) if d.ndim == 0 else d


def _embedding_matrix(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {arr.shape}")
    return arr


def _l2_normalise(x: NDArray[np.float64]) -> NDArray[np.float64]:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm == 0, 1.0, norm)


def pair_similarities(emb_a: np.ndarray, emb_b: np.ndarray, metric: str) -> NDArray[np.float64]:
    """Similarity of row i of ``emb_a`` with row i of ``emb_b``, for every i.

    Parameters
    ----------
    emb_a, emb_b : array of shape (n, d)
        Embeddings of the two sides of n pairs. Rows containing NaN (failed images) give NaN.
    metric : {"cosine", "euclidean", "euclidean_l2", "angular"}
        deepface's distance metric; the similarity follows the module docstring.

    Returns
    -------
    ndarray of shape (n,), float64
    """
    _check_metric(metric)
    a = _embedding_matrix(emb_a, "emb_a")
    b = _embedding_matrix(emb_b, "emb_b")
    if a.shape != b.shape:
        raise ValueError(f"emb_a and emb_b must have the same shape, got {a.shape} and {b.shape}")
    if metric in ("cosine", "angular"):
        cos = np.einsum("ij,ij->i", _l2_normalise(a), _l2_normalise(b))
        return _similarity_from_cosine(cos, metric)
    if metric == "euclidean_l2":
        a, b = _l2_normalise(a), _l2_normalise(b)
    return -np.linalg.norm(a - b, axis=1)


def _similarity_from_cosine(cos: NDArray[np.float64], metric: str) -> NDArray[np.float64]:
    if metric == "cosine":
        return cos
    return 1.0 - np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi


def deepface_default_threshold(model: str, metric: str) -> float:
    """deepface's pre-tuned threshold for ``model`` and ``metric``, as a similarity.

    deepface declares a match when distance <= t_d (``deepface/config/threshold.py``); the same
    decision in frbench's convention is similarity >= ``similarity_from_distance(t_d)``.
    """
    _check_metric(metric)
    from deepface.config.threshold import thresholds

    if model not in thresholds:
        raise ValueError(f"deepface has no default threshold for model {model!r}; models: {', '.join(thresholds)}")
    per_metric = thresholds[model]
    if metric not in per_metric:
        raise ValueError(
            f"deepface has no default threshold for {model} with metric {metric!r}; "
            f"metrics: {', '.join(per_metric)}"
        )
    return float(similarity_from_distance(float(per_metric[metric]), metric))
