"""One picture under several names: images whose embeddings are bit-identical.

Datasets hold copies (a file saved twice, under two names or two identities). frbench embeds
identical files once and gives every copy the same embedding, so a pair of two copies scores as a
perfect match: a mated one flatters FNMR, a non-mated one is a false match at every threshold.
Such pairs are kept (they are in the protocol) and reported, found here by comparing embeddings,
which also catches a picture re-encoded without change to its pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from frbench.tables import OK


def identical_embeddings(image_ids: Sequence[str], matrix: np.ndarray, status: pd.Series) -> list[tuple[str, ...]]:
    """Groups of two or more embedded images whose embedding vectors are equal bit for bit.

    Parameters
    ----------
    image_ids : sequence of str
        Row labels of ``matrix``.
    matrix : np.ndarray
        One embedding per row (rows of failed images are ignored, whatever they hold).
    status : pd.Series
        ``ok`` or a failure reason, indexed by image id.

    Returns
    -------
    list of tuple of str
        Each group's ids sorted; groups sorted by their first id. Empty when all differ.
    """
    ids = np.asarray(image_ids, dtype=object)
    if matrix.ndim != 2 or len(ids) != matrix.shape[0]:
        raise ValueError(f"matrix of shape {matrix.shape} does not have one row per image id ({len(ids)})")
    ok = status.reindex(ids).to_numpy() == OK
    if ok.sum() < 2 or matrix.shape[1] == 0:
        return []
    # compare bytes, so that -0.0 and 0.0 differ as the files must have
    rows = np.ascontiguousarray(matrix[ok]).view(np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1])))
    _, group, counts = np.unique(rows.ravel(), return_inverse=True, return_counts=True)
    shared = counts[group] > 1
    groups: dict[int, list[str]] = {}
    for image_id, g in zip(ids[ok][shared], group[shared]):
        groups.setdefault(int(g), []).append(str(image_id))
    return sorted(tuple(sorted(members)) for members in groups.values())


def copies_caveat(groups: Sequence[tuple[str, ...]], pairs: pd.DataFrame | None) -> str | None:
    """A report sentence on the copies and the scored pairs that compare two of them; None without copies.

    ``pairs`` is the PairTable scored (``image_a``, ``image_b``, ``mated``), or None when every pair
    of images is scored (exhaustive protocol), in which case every two copies form a pair.
    """
    if not groups:
        return None
    group_of = {image_id: g for g, members in enumerate(groups) for image_id in members}
    if pairs is None:
        n_pairs = sum(len(members) * (len(members) - 1) // 2 for members in groups)
        which = f"all {n_pairs} pairs of copies are scored"
    else:
        ga = pairs["image_a"].map(group_of)
        gb = pairs["image_b"].map(group_of)
        between = (ga.notna() & (ga == gb)).to_numpy()
        n_nonmated = int((between & ~pairs["mated"].to_numpy(dtype=bool)).sum())
        which = f"{int(between.sum())} scored pair(s) compare two copies ({n_nonmated} non-mated, each a certain false match)"
    first = groups[0]
    return (
        f"{sum(len(m) for m in groups)} images in {len(groups)} group(s) have bit-identical embeddings, "
        f"i.e. the same picture under several names (first: {' = '.join(first[:3])}); {which}."
    )
