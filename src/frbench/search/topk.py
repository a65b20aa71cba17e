"""Exact top-L search of probes against a gallery, streamed in blocks of bounded memory.

Score
-----
The score of probe p against gallery image g is the cosine similarity of their embeddings as
:func:`frbench.scoring.pair_similarities` computes it (float64): the very number the 1:1 protocols
give the pair (p, g). An all-zero embedding scores 0 with everything; a row containing NaN (an
image that failed to enrol) is never returned (gallery) or gets no candidates (probe).

Candidates are subjects
-----------------------
A gallery subject enrolled with k images is **one** candidate (ISO/IEC 19795-1 counts candidates
per enrolled identity; NIST FRTE 1:N returns identities): its score is the best score of its
images and it is represented by that image.

Tie rule (the only one)
-----------------------
Gallery images are ordered by score descending, equal scores by gallery row ascending. A
subject's representative is its first image in that order, and subjects are ranked by the order
of their representatives. So equal scores are ranked by gallery row, and the result does not
depend on blocking, kernel or thread count.

Why it is exact although the kernel is float32
----------------------------------------------
The kernel (a BLAS ``sgemm`` through numpy, or faiss's exact inner-product search) computes
a = fl32(u_p . u_g) with u = fl32(x / |x|). For unit vectors in d dimensions,
|a - s| <= eps = gamma_d (1 + u)^2 + 2u + u^2 + 2 gamma'_(d+2) (Higham, "Accuracy and Stability
of Numerical Algorithms", 2nd ed., eq. 3.5: an inner product of length d has error at most
gamma_d = d u / (1 - d u) times the sum of |terms|, which is <= 1 here; u = 2**-24, gamma' the
float64 analogue for the exact score). The best L subjects have their representatives among the
M = (L - 1) k_max + 1 best images (any image above the L-th subject's representative belongs to
one of the L - 1 subjects above it). Each probe keeps its K > M best approximate scores; they
are rescored exactly and ordered by the tie rule. If the K-th kept approximate score lies below
the M-th minus 2 eps, no image outside the kept set can be among the exact best M, and the
result is certified; probes whose K best are too close together (many near-equal scores, e.g.
duplicate images) are searched again with 4 K, until certified or K covers the gallery.

Memory: one probe block x gallery block of float32 scores and int64 indices (``block_bytes``),
the float64 copy of one gallery block, and (n_probes x K) buffers; never n_probes x n_gallery.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from frbench.scoring.similarity import pair_similarities

KERNELS = ("auto", "numpy", "faiss")
# bench/search.py, 10,000 probes x 1,000,000 x 512, top 50, on the project's 2 shared cores:
# numpy's blocked sgemm + selection 318 s wall / 130 CPU-s, faiss.knn (exact inner product)
# 403 s / 166 CPU-s, identical lists. "auto" takes numpy; faiss stays as a check.
AUTO_KERNEL = "numpy"
_U32 = 2.0**-24
_U64 = 2.0**-53
# Extra approximate candidates kept beyond the M needed, so that near-equal scores at the M-th
# place rarely force a second pass.
_SLACK = 16
DEFAULT_BLOCK_BYTES = 64 << 20


def faiss_available() -> bool:
    """Whether the optional faiss kernel can be used (``pip install 'frbench[search]'``)."""
    return importlib.util.find_spec("faiss") is not None


def score_error_bound(dim: int) -> float:
    """eps such that |kernel score - exact score| <= eps for any two embeddings of ``dim`` entries."""
    if dim < 1:
        raise ValueError(f"dimension must be >= 1, got {dim}")
    if dim * _U32 >= 0.5:
        raise ValueError(f"dimension {dim} too large for a float32 error bound")
    gamma32 = dim * _U32 / (1 - dim * _U32)
    gamma64 = (dim + 2) * _U64 / (1 - (dim + 2) * _U64)
    return gamma32 * (1 + _U32) ** 2 + 2 * _U32 + _U32**2 + 2 * gamma64


@dataclass(frozen=True)
class SearchResult:
    """Top candidates of every probe.

    Attributes
    ----------
    rows : int64 array (n_probes, length)
        Gallery row of each candidate subject's representative image, best first; -1 where the
        list is shorter (fewer subjects than ``length``, or a failed probe).
    scores : float64 array (n_probes, length)
        Exact scores of those images (module docstring); NaN where ``rows`` is -1.
    kernel : str
        The kernel that ran (``numpy`` or ``faiss``).
    n_rechecked : int
        Probes that needed a wider second pass before their list was certified exact.
    """

    rows: NDArray[np.int64]
    scores: NDArray[np.float64]
    kernel: str
    n_rechecked: int


def _as_matrix(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def _unit32(block: np.ndarray) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """float32 unit rows (normalised in float64, zero rows kept zero) and which rows are usable."""
    x = block.astype(np.float64)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    usable = np.isfinite(norm)
    x /= np.where((norm > 0) & usable, norm, 1.0)[:, None]
    x[~usable] = 0.0
    return x.astype(np.float32), usable


def resolve_kernel(kernel: str) -> str:
    """The kernel ``kernel`` names: ``auto`` is :data:`AUTO_KERNEL` if installed, else numpy."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown search kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    if kernel == "faiss" and not faiss_available():
        raise ValueError("search kernel 'faiss' needs faiss-cpu: pip install 'frbench[search]'")
    if kernel == "auto":
        return AUTO_KERNEL if AUTO_KERNEL == "numpy" or faiss_available() else "numpy"
    return kernel


def _top_in_block(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest entries of each row (any order among themselves) and their columns."""
    if scores.shape[1] <= k:
        cols = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        return scores, np.ascontiguousarray(cols)
    cols = np.argpartition(scores, scores.shape[1] - k, axis=1)[:, -k:]
    return np.take_along_axis(scores, cols, axis=1), cols


def _merge(best_v: np.ndarray, best_i: np.ndarray, new_v: np.ndarray, new_i: np.ndarray, k: int):
    v = np.concatenate([best_v, new_v], axis=1)
    i = np.concatenate([best_i, new_i], axis=1)
    if v.shape[1] <= k:
        return v, i
    keep = np.argpartition(v, v.shape[1] - k, axis=1)[:, -k:]
    return np.take_along_axis(v, keep, axis=1), np.take_along_axis(i, keep, axis=1)


def approximate_top(
    probes_unit: NDArray[np.float32],
    gallery: np.ndarray,
    k: int,
    kernel: str,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The ``k`` highest float32 scores of each probe and their gallery rows (unordered).

    ``probes_unit``: float32 unit rows. ``gallery``: raw embeddings, normalised block by block;
    rows with NaN are left out. Rows are padded with (-inf, -1) when the gallery has fewer than
    ``k`` usable rows. Every image left out of a probe's k scores at most its k-th best. The
    kernel is ``numpy`` (sgemm, then a selection per block) or ``faiss`` (``faiss.knn``).
    """
    n_p = probes_unit.shape[0]
    n_g = gallery.shape[0]
    k_eff = min(k, n_g)
    best_v = np.full((n_p, 0), -np.inf, dtype=np.float32)
    best_i = np.full((n_p, 0), -1, dtype=np.int64)
    # Per cell of a probe x gallery block: its float32 score, argpartition's int64 index (first
    # block) or the mask of scores above the probe's floor (later blocks): 12 bytes, plus slack.
    cells = max(block_bytes // 16, 1)
    g_block = int(min(n_g, max(4 * k_eff, cells // max(min(n_p, 1024), 1), 1)))
    p_block = int(max(1, min(n_p, cells // g_block)))
    if kernel == "faiss":
        import faiss  # optional dependency, checked by resolve_kernel

    for g0 in range(0, n_g, g_block):
        unit, usable = _unit32(gallery[g0 : g0 + g_block])
        # Rows that failed to enrol leave the block, so that they can never displace a real one.
        rows = np.flatnonzero(usable) + g0
        if rows.size < usable.size:
            unit = unit[usable]
        if rows.size == 0:
            continue
        kb = min(k_eff, rows.size)
        if kernel == "faiss":
            # faiss.knn streams its own query x database blocks and keeps a heap per query.
            v, i = faiss.knn(probes_unit, unit, kb, metric=faiss.METRIC_INNER_PRODUCT)
            best_v, best_i = _merge(best_v, best_i, v, rows[i], k_eff)
            continue
        out = np.empty((p_block, rows.size), dtype=np.float32)
        above = np.empty((p_block, rows.size), dtype=bool)
        # Once a probe holds k candidates, only scores above its k-th best can enter. In a late
        # block those are few, and np.flatnonzero of a sparse mask costs far less than a
        # selection over every score.
        full = best_v.shape[1] == k_eff
        floor = best_v.min(axis=1) if full else None
        hit_r, hit_pos, hit_v, hit_i = [], [], [], []
        for p0 in range(0, n_p, p_block):
            q = probes_unit[p0 : p0 + p_block]
            nq = q.shape[0]
            s = np.matmul(q, unit.T, out=out[:nq])
            if not full:
                v, i = _top_in_block(s, kb)
                hit_r.append(np.repeat(np.arange(p0, p0 + nq), v.shape[1]))
                hit_pos.append(np.tile(np.arange(v.shape[1]), nq))
                hit_v.append(v.ravel())
                hit_i.append(rows[i].ravel())
                continue
            flat = np.flatnonzero(np.greater(s, floor[p0 : p0 + nq, None], out=above[:nq]))
            if flat.size == 0:
                continue
            r = flat // rows.size
            counts = np.bincount(r, minlength=nq)
            hit_r.append(r + p0)
            hit_pos.append(np.arange(flat.size) - (np.cumsum(counts) - counts)[r])
            hit_v.append(s.ravel()[flat])
            hit_i.append(rows[flat - r * rows.size])
        if not hit_r:
            continue
        r, pos = np.concatenate(hit_r), np.concatenate(hit_pos)
        width = int(pos.max()) + 1
        new_v = np.full((n_p, width), -np.inf, dtype=np.float32)
        new_i = np.full((n_p, width), -1, dtype=np.int64)
        new_v[r, pos] = np.concatenate(hit_v)
        new_i[r, pos] = np.concatenate(hit_i)
        best_v, best_i = _merge(best_v, best_i, new_v, new_i, k_eff)
    if best_v.shape[1] < k:
        pad = k - best_v.shape[1]
        best_v = np.pad(best_v, ((0, 0), (0, pad)), constant_values=-np.inf)
        best_i = np.pad(best_i, ((0, 0), (0, pad)), constant_values=-1)
    return best_v, best_i


def _exact_scores(probes: np.ndarray, gallery: np.ndarray, probe_rows: np.ndarray, cols: np.ndarray,
                  block_bytes: int) -> NDArray[np.float64]:
    """Exact scores of probe ``probe_rows[r]`` against gallery rows ``cols[r, :]``; NaN where col < 0."""
    n, k = cols.shape
    out = np.full((n, k), np.nan)
    d = probes.shape[1]
    step = max(1, block_bytes // (16 * d * max(k, 1)))
    for r0 in range(0, n, step):
        c = cols[r0 : r0 + step]
        valid = c >= 0
        pr = np.repeat(probe_rows[r0 : r0 + step], k)[valid.ravel()]
        gr = c[valid]
        vals = pair_similarities(probes[pr], gallery[gr], "cosine")
        block = out[r0 : r0 + step]
        block[valid] = vals
    return out


def _order(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per-row column order by the tie rule: score descending, gallery row ascending, -1s last."""
    # lexsort sorts by the last key first; NaN scores (padding) go last as -inf.
    key_score = np.where(np.isnan(scores), np.inf, -scores)
    key_row = np.where(rows < 0, np.iinfo(np.int64).max, rows)
    n, k = scores.shape
    flat_row = np.repeat(np.arange(n), k)
    order = np.lexsort((key_row.ravel(), key_score.ravel(), flat_row))
    return (order - flat_row * k).reshape(n, k)


def _first_subjects(rows: np.ndarray, scores: np.ndarray, subject_codes: np.ndarray, length: int, k_max: int):
    """From images ordered by the tie rule, the first image of each of the first ``length`` subjects."""
    n, k = rows.shape
    out_rows = np.full((n, length), -1, dtype=np.int64)
    out_scores = np.full((n, length), np.nan)
    if k_max == 1:  # every image is its own subject
        w = min(k, length)
        out_rows[:, :w], out_scores[:, :w] = rows[:, :w], scores[:, :w]
        return out_rows, out_scores
    subj = np.where(rows >= 0, subject_codes[np.maximum(rows, 0)], -1)
    for r in range(n):
        valid = rows[r] >= 0
        codes = subj[r][valid]
        _, first = np.unique(codes, return_index=True)
        first.sort()
        take = first[:length]
        out_rows[r, : take.size] = rows[r][valid][take]
        out_scores[r, : take.size] = scores[r][valid][take]
    return out_rows, out_scores


def search(
    probes: ArrayLike,
    gallery: ArrayLike,
    gallery_subjects: ArrayLike,
    length: int,
    *,
    kernel: str = "auto",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> SearchResult:
    """The ``length`` best gallery subjects for every probe, exactly (module docstring).

    Parameters
    ----------
    probes : array (n_probes, d)
        Probe embeddings; a row with NaN is a failed probe and gets an empty list.
    gallery : array (n_gallery, d)
        Gallery embeddings (float32 is used without a copy); rows with NaN are never returned.
    gallery_subjects : array (n_gallery,)
        Subject of each gallery row; a subject's rows are one candidate.
    length : int >= 1
        Candidate-list length L.
    kernel : {"auto", "numpy", "faiss"}
        Approximate kernel behind the exact result; results are identical for all kernels.
    block_bytes : int
        Memory for one block of kernel scores.

    Returns
    -------
    SearchResult
    """
    p = _as_matrix(probes, "probes")
    g = _as_matrix(gallery, "gallery")
    subjects = np.asarray(gallery_subjects)
    if p.shape[1] != g.shape[1]:
        raise ValueError(f"probes and gallery differ in width: {p.shape[1]} and {g.shape[1]}")
    if subjects.shape != (g.shape[0],):
        raise ValueError(f"gallery_subjects must have one entry per gallery row ({g.shape[0]}), got {subjects.shape}")
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"candidate-list length must be an integer >= 1, got {length!r}")
    if block_bytes < 1:
        raise ValueError(f"block_bytes must be >= 1, got {block_bytes}")
    used = resolve_kernel(kernel)
    n_p = p.shape[0]
    rows_out = np.full((n_p, length), -1, dtype=np.int64)
    scores_out = np.full((n_p, length), np.nan)
    if n_p == 0 or g.shape[0] == 0:
        return SearchResult(rows_out, scores_out, used, 0)
    codes = _subject_codes(subjects)
    k_max = int(np.bincount(codes).max())
    m = (length - 1) * k_max + 1
    eps = score_error_bound(p.shape[1])

    unit_p, ok_p = _unit32(p)
    todo = np.flatnonzero(ok_p)
    k = m + _SLACK
    n_rechecked = 0
    passes = 0
    while todo.size:
        passes += 1
        k = min(k, g.shape[0])
        approx, cols = approximate_top(unit_p[todo], g, k, used, block_bytes)
        # The kept set is unordered: sort it to read its M-th and K-th best approximate scores.
        srt = -np.sort(-approx, axis=1)
        m_eff = min(m, k)
        certified = (
            (k >= g.shape[0])
            | ~np.isfinite(srt[:, m_eff - 1])  # fewer than M usable images: all were kept
            | (srt[:, k - 1] < srt[:, m_eff - 1] - 2 * eps)
        )
        done = todo[certified]
        if done.size:
            # Only images within 2 eps of the M-th best can be among the exact best M.
            a = approx[certified]
            floor = srt[certified, m_eff - 1][:, None] - 2 * eps
            c = np.where(np.isfinite(a) & (a >= floor), cols[certified], -1)
            exact = _exact_scores(p, g, done, c, block_bytes)
            order = _order(exact, c)
            c = np.take_along_axis(c, order, axis=1)
            exact = np.take_along_axis(exact, order, axis=1)
            rows_out[done], scores_out[done] = _first_subjects(c, exact, codes, length, k_max)
        if passes == 1:
            n_rechecked = int((~certified).sum())
        todo = todo[~certified]
        k *= 4
    return SearchResult(rows_out, scores_out, used, n_rechecked)


def _subject_codes(subjects: np.ndarray) -> np.ndarray:
    """Integer code of each gallery row's subject (any hashable labels)."""
    _, codes = np.unique(subjects.astype(str) if subjects.dtype == object else subjects, return_inverse=True)
    return codes.astype(np.int64)
