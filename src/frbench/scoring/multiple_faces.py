"""Pairs of images with several faces each: the similarity of their closest two faces.

``DeepFace.verify`` embeds every face it detects in both images and decides on the pair of faces,
one from each image, at the smallest distance (deepface 0.0.103, ``modules/verification.py``).
frbench's ``model.multiple_faces: all-best`` does the same; since similarity decreases with
distance for every metric (``frbench.scoring.similarity``), the smallest distance is the highest similarity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from frbench.scoring.similarity import pair_similarities


def best_face_similarities(
    faces_a: Sequence[np.ndarray], faces_b: Sequence[np.ndarray], metric: str
) -> NDArray[np.float64]:
    """For each pair i, max over faces x of image a and y of image b of similarity(x, y).

    Parameters
    ----------
    faces_a, faces_b : sequences of n arrays, each of shape (faces, d) with at least one face
        Every face embedding of side a and side b of n pairs (as ``Embeddings.faces`` holds them).
    metric : deepface distance metric, as in :func:`frbench.scoring.pair_similarities`.

    Returns
    -------
    ndarray of shape (n,), float64. With one face per image this is ``pair_similarities`` of the
    two embeddings.
    """
    if len(faces_a) != len(faces_b):
        raise ValueError(f"faces_a and faces_b must describe the same pairs: {len(faces_a)} and {len(faces_b)}")
    n = len(faces_a)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    ka = np.array([np.shape(f)[0] for f in faces_a], dtype=np.int64)
    kb = np.array([np.shape(f)[0] for f in faces_b], dtype=np.int64)
    if (ka < 1).any() or (kb < 1).any():
        raise ValueError("every image of a scored pair needs at least one face")
    stack_a, stack_b = np.concatenate(faces_a), np.concatenate(faces_b)
    start_a, start_b = np.cumsum(ka) - ka, np.cumsum(kb) - kb
    combos = ka * kb
    first = np.cumsum(combos) - combos
    pair = np.repeat(np.arange(n), combos)
    within = np.arange(int(combos.sum())) - first[pair]
    sims = pair_similarities(stack_a[start_a[pair] + within // kb[pair]], stack_b[start_b[pair] + within % kb[pair]], metric)
    return np.maximum.reduceat(sims, first)
