"""Exact all-vs-all scoring: every unordered image pair, streamed in tiles of bounded size.

A pair protocol of a few thousand non-mated pairs cannot resolve an FMR below about 1e-3, while
deployed systems run at 1e-4 to 1e-6. With each image embedded once, every non-mated pair can be
scored instead (LFW: 13,233 images, about 87.5 million non-mated pairs). This module scores all
pairs i < j tile by tile (never an n x n matrix) and keeps only what the measures need:

* per attribute and unordered cell (g_a, g_b): the number of non-mated pairs and, at each given
  threshold, the number of them with similarity >= threshold (false matches);
* the threshold at each target FMR over **all** non-mated pairs, by the definition of
  docs/ARCHITECTURE.md (:func:`frbench.metrics.thresholds.threshold_at_fmr`), and the per-cell
  false-match counts at it;
* every mated pair (its two rows and its score), for per-group FNMR with the ordinary code;
* per-cell histograms of the non-mated scores on fixed bins (for DET curves).

Score definition (why it is exact)
----------------------------------
Float matrix products are not reproducible across blockings: BLAS kernels sum in an order that
depends on the tile shape (and numpy switches to ``syrk`` for ``A @ A.T``), so the same pair can
score one ulp apart in two tiles, which breaks exact counting at a tied threshold. Here each
embedding is L2-normalised in float64 and rounded to integers, q = rint(2**25 * x / |x|). A dot
product of two such vectors is a sum of integer terms whose absolute values add up to at most
|q_a| |q_b| < 2**51 (2**53 for the squared distance), and float64 holds every integer below
2**53, so the product comes out **exact in any summation order** (any BLAS that sums products,
i.e. all mainstream ones): a pair scores the same in every tile, for every block size, equal to
the integer dot product (the tests compare with numpy's integer matmul). Similarities:

    cosine        s = (q_a . q_b) * 2**-50
    euclidean_l2  s = -sqrt(|q_a|^2 + |q_b|^2 - 2 q_a . q_b) * 2**-25   (sqrt correctly rounded)

Rounding moves each component of a unit vector by at most 2**-26, so s differs from the float64
similarity of :mod:`frbench.scoring.similarity` by at most 2 * sqrt(d) * 2**-26 + d * 2**-52 (3.4e-7 for
d = 128, 1.9e-6 for d = 4096; typically far less). ``angular`` and ``euclidean`` are not offered:
arccos has no correctly rounded numpy implementation (its SIMD and scalar paths may differ in the
last ulp), and raw euclidean distances are not a function of the normalised dot product.

Counting
--------
* Histograms: per tile, each pair's bin and cell become one integer slot and one ``np.bincount``
  adds the tile. Attributes are counted together ("bundles" of group combinations, marginalised
  at the end) and rows are sorted by combination, so a tile spans a narrow slot range.
* Fixed thresholds: only scores at or above the lowest one are extracted (with their cells).
* Target FMRs: a running top-K of non-mated scores with their rows, K = max(k) + 1. The
  (k+1)-th highest score is in it, and so is every pair scoring above it, so the threshold and
  its per-cell counts are exact without a second pass.

Memory: about ``50 * block**2`` bytes for a tile, its work arrays and the first top-K selection,
plus ``16 * n * d`` for the embeddings, 16 bytes per mated pair and ``24 * K`` for the top-K
(tracemalloc peak for 13,233 x 128 and targets down to 1e-3: 82 MiB at block 1024, 216 MiB at
block 2048). No n x n array is ever made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frbench.config.schema import EXHAUSTIVE_METRICS as METRICS
from frbench.groups import ALL
from frbench.metrics.thresholds import _allowed_false_matches
from frbench.pairs.protocols import mated_index_pairs

HIST_RANGE = {"cosine": (-1.0, 1.0), "euclidean_l2": (-2.0, 0.0)}

# 2**25 per unit keeps every partial sum of a dot product or squared distance below 2**53
# (module docstring), the largest range in which float64 holds every integer.
_QUANT = 2.0**25
_DOT_UNIT = 2.0**-50
_LOWEST_FINITE = -np.finfo(np.float64).max


@dataclass(frozen=True)
class ExhaustiveResult:
    """Everything kept from an all-vs-all scoring run (see :func:`exhaustive_scores`).

    Cells are unordered: ``[g_a, g_b]`` with ``g_a <= g_b`` holds every pair with one side in
    g_a and the other in g_b; entries below the diagonal are zero, so a matrix sums to the total.

    Attributes
    ----------
    metric : str
    n_images : int
    n_nonmated : int
        Non-mated pairs i < j (pairs of different subjects).
    thresholds : ndarray (t,)
        The given thresholds in the order given, then one per target FMR.
    target_fmr : ndarray (t,)
        NaN for a given threshold, the target for a threshold set at a target FMR.
    n_fm : ndarray (t,) int64
        Non-mated pairs with similarity >= each threshold.
    cell_nonmated : dict attribute -> ndarray (G, G) int64
    cell_fm : dict attribute -> ndarray (t, G, G) int64
    bin_edges : ndarray (bins + 1,)
        Uniform edges over the similarity range of the metric; bin b holds
        ``bin_edges[b] <= s < bin_edges[b + 1]``, and the end bins also hold the few scores that
        rounding puts outside the range.
    hist : dict attribute -> ndarray (G, G, bins) int64
        Non-mated score counts per cell and bin.
    hist_total : ndarray (bins,) int64
    mated_a, mated_b : ndarray (m,) int64
        Rows of the mated pairs, ``mated_a < mated_b``, sorted.
    mated_scores : ndarray (m,) float64
    """

    metric: str
    n_images: int
    n_nonmated: int
    thresholds: NDArray[np.float64]
    target_fmr: NDArray[np.float64]
    n_fm: NDArray[np.int64]
    cell_nonmated: dict[str, NDArray[np.int64]]
    cell_fm: dict[str, NDArray[np.int64]]
    bin_edges: NDArray[np.float64]
    hist: dict[str, NDArray[np.int64]]
    hist_total: NDArray[np.int64]
    mated_a: NDArray[np.int64]
    mated_b: NDArray[np.int64]
    mated_scores: NDArray[np.float64]


def quantised_unit_rows(emb: np.ndarray) -> NDArray[np.float64]:
    """``rint(2**25 * x / |x|)`` for each row x, as float64 integers (module docstring)."""
    x = np.asarray(emb, dtype=np.float64)
    x = x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return np.rint(x * _QUANT)


def _validate(
    emb: np.ndarray,
    subject: np.ndarray,
    groups: Mapping[str, np.ndarray],
    thresholds: Sequence[float],
    targets: Sequence[float],
    block: int,
    metric: str,
    hist_bins: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    if metric not in METRICS:
        raise ValueError(
            f"exhaustive scoring supports metrics {', '.join(METRICS)}, got {metric!r} "
            "(angular and raw euclidean scores cannot be computed exactly in tiles)"
        )
    emb = np.asarray(emb)
    if emb.ndim != 2 or emb.shape[0] < 2 or emb.shape[1] < 1:
        raise ValueError(f"emb must be 2-D (n, d) with n >= 2, got shape {emb.shape}")
    finite = np.isfinite(emb).all(axis=1)
    if not finite.all():
        raise ValueError(f"emb row {int(np.argmin(finite))} is not finite; drop failed images first")
    zero = ~np.any(emb != 0, axis=1)
    if zero.any():
        raise ValueError(f"emb row {int(np.argmax(zero))} is all zeros: its direction is undefined")
    n = emb.shape[0]
    subject = np.asarray(subject)
    if subject.shape != (n,) or not np.issubdtype(subject.dtype, np.integer):
        raise ValueError(f"subject must be integer codes of shape ({n},), got {subject.dtype} {subject.shape}")
    codes = {}
    for name, g in groups.items():
        g = np.asarray(g)
        if g.shape != (n,) or not np.issubdtype(g.dtype, np.integer):
            raise ValueError(f"groups[{name!r}] must be integer codes of shape ({n},), got {g.dtype} {g.shape}")
        if g.min() < 0:
            raise ValueError(f"groups[{name!r}] has a negative code at row {int(np.argmin(g))}")
        codes[str(name)] = g.astype(np.intp)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if np.isnan(thr).any():
        raise ValueError("thresholds contain NaN")
    tgt = np.asarray(targets, dtype=np.float64).reshape(-1)
    if np.any(~(tgt >= 0.0) | ~(tgt < 1.0)):
        raise ValueError(f"target FMRs must be in [0, 1), got {tgt.tolist()}")
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    if not isinstance(hist_bins, (int, np.integer)) or hist_bins < 2 or hist_bins & (hist_bins - 1):
        # A power of two makes every bin edge and s * bins / 2 exact, so binning is exact.
        raise ValueError(f"hist_bins must be a power of two >= 2, got {hist_bins!r}")
    return emb, subject, codes, thr, tgt


def exhaustive_scores(
    emb: np.ndarray,
    subject: np.ndarray,
    groups: Mapping[str, np.ndarray],
    thresholds: Sequence[float] = (),
    targets: Sequence[float] = (),
    block: int = 2048,
    metric: str = "cosine",
    hist_bins: int = 4096,
) -> ExhaustiveResult:
    """Score every unordered pair of rows of ``emb`` and keep exact per-cell error counts.

    Parameters
    ----------
    emb : array (n, d)
        Embeddings of the images that enrolled (no NaN rows, no zero rows).
    subject : int array (n,)
        Subject code per row; rows with equal codes form mated pairs, all others non-mated.
    groups : mapping attribute -> int array (n,)
        Group code (0 .. G-1) per row for each attribute; G is the largest code + 1, so a group
        coded above every present code gets no cells. The caller keeps the code -> name mapping
        (``pd.Categorical`` codes fit). Intersections are one more attribute with combined codes.
    thresholds : sequence of float
        Fixed similarity thresholds (e.g. deepface's default); a pair matches when s >= t.
    targets : sequence of float in [0, 1)
        Target FMRs; each gets the threshold of docs/ARCHITECTURE.md over all non-mated pairs.
    block : int
        Tile edge: pairs are scored ``block x block`` at a time, which bounds memory
        (about ``50 * block**2`` bytes) whatever n is; 1024 and 2048 are about equally fast.
    metric : {"cosine", "euclidean_l2"}
        Similarity as in the module docstring.
    hist_bins : int, power of two
        Histogram bins over the similarity range ([-1, 1] cosine, [-2, 0] euclidean_l2).

    Returns
    -------
    ExhaustiveResult
        Per-cell counts at ``thresholds`` followed by the target thresholds, histograms and the
        mated pairs with their scores. Every count is exact and independent of ``block``.
    """
    plan = plan_exhaustive(emb, subject, groups, thresholds, targets, block, metric, hist_bins)
    state = plan.accumulators()
    mated_raw = _stream_tiles(plan.q, metric, block, plan.mated_a, plan.mated_b, state)
    return finish_exhaustive(plan, state, mated_raw)


@dataclass(frozen=True)
class ExhaustivePlan:
    """What every tile needs, made once before any scoring (rows in sorted-combination order).

    ``q``: the quantised unit rows; ``perm``: caller's row of each sorted row; ``mated_a/b``:
    mated pairs in sorted rows; ``ks``: false matches allowed per target. A distributed run
    (:mod:`frbench.scoring.distributed`) hands tiles of one plan to workers and merges their
    accumulators, which gives the same result as one process because every count is exact.
    """

    metric: str
    block: int
    hist_bins: int
    n: int
    n_nonmated: int
    codes: dict[str, np.ndarray]
    thr: NDArray[np.float64]
    tgt: NDArray[np.float64]
    ks: list[int]
    bundles: list[_Bundle]
    perm: NDArray[np.intp]
    q: NDArray[np.float64]
    mated_a: NDArray[np.intp]
    mated_b: NDArray[np.intp]

    def accumulators(self) -> _Accumulators:
        """Empty running sums for (some of) this plan's tiles."""
        lo, hi = HIST_RANGE[self.metric]
        unit = _DOT_UNIT if self.metric == "cosine" else 1.0
        return _Accumulators(self.bundles, self.thr, self.hist_bins, lo, hi, max(self.ks) + 1 if self.ks else 0, unit)

    def tiles(self) -> list[tuple[int, int]]:
        """The (first row, first column) of every tile of the upper triangle, in scoring order."""
        return [(r0, c0) for r0 in range(0, self.n, self.block) for c0 in range(r0, self.n, self.block)]


def plan_exhaustive(
    emb: np.ndarray,
    subject: np.ndarray,
    groups: Mapping[str, np.ndarray],
    thresholds: Sequence[float] = (),
    targets: Sequence[float] = (),
    block: int = 2048,
    metric: str = "cosine",
    hist_bins: int = 4096,
) -> ExhaustivePlan:
    """Validate the inputs of :func:`exhaustive_scores` and prepare its tiles (no scoring)."""
    emb, subject, codes, thr, tgt = _validate(emb, subject, groups, thresholds, targets, block, metric, hist_bins)
    n = emb.shape[0]
    per_subject = np.unique(subject, return_counts=True)[1].astype(np.int64)
    n_mated = int((per_subject * (per_subject - 1) // 2).sum())
    n_nonmated = n * (n - 1) // 2 - n_mated
    ks = [_allowed_false_matches(float(f), n_nonmated) for f in tgt]
    if any(k >= n_nonmated for k in ks):
        raise ValueError(f"{n_nonmated} non-mated pairs cannot set a threshold at target FMR {tgt.max()}")

    # Rows sorted by their combination of groups: a tile then spans few cells, so its histogram
    # update touches a narrow slot range. Scores do not depend on row order (module docstring).
    bundles = _bundles(codes, n, hist_bins)
    perm = np.lexsort([b.combo for b in reversed(bundles)])
    bundles = [_Bundle(b.attributes, b.combo[perm], b.members) for b in bundles]
    q = quantised_unit_rows(emb)[perm]
    mated_a, mated_b = mated_index_pairs(subject[perm])
    return ExhaustivePlan(metric, int(block), int(hist_bins), n, n_nonmated, codes, thr, tgt, ks, bundles, perm, q,
                          mated_a, mated_b)


def finish_exhaustive(plan: ExhaustivePlan, state: _Accumulators, mated_raw: np.ndarray) -> ExhaustiveResult:
    """The result from the accumulators of every tile of ``plan`` and the mated pairs' raw scores."""
    metric, codes, perm, bundles, ks = plan.metric, plan.codes, plan.perm, plan.bundles, plan.ks
    thr, tgt, mated_a, mated_b = plan.thr, plan.tgt, plan.mated_a, plan.mated_b
    n, n_nonmated, hist_bins = plan.n, plan.n_nonmated, plan.hist_bins
    lo, hi = HIST_RANGE[metric]
    mated_scores = mated_raw * state.unit

    top_vals, top_rows, top_cols = state.top_scores()
    descending = np.sort(top_vals)[::-1]
    target_thr = np.array([np.nextafter(descending[k], np.inf) for k in ks], dtype=np.float64)
    # Every pair scoring at or above a target threshold is in the top-K buffer (module docstring).
    above = [top_vals >= t for t in target_thr]

    cell_nonmated, cell_fm, hist = {}, {}, {}
    fm_given, histograms = state.fm_at_thresholds(), state.histograms()
    for bundle, bundle_fm, bundle_hist in zip(bundles, fm_given, histograms):
        for j, a in enumerate(bundle.attributes):
            g = codes[a][perm]
            G = int(g.max()) + 1
            size = np.bincount(g, minlength=G)
            all_pairs = np.triu(np.outer(size, size), 1) + np.diag(size * (size - 1) // 2)
            cell_nonmated[a] = all_pairs - _cells(g, G, mated_a, mated_b)
            one_hot = np.eye(G, dtype=np.int64)[bundle.members[:, j]]
            at_targets = [_cells(g, G, top_rows[m], top_cols[m]) for m in above]
            cell_fm[a] = np.concatenate(
                [_marginal(bundle_fm, one_hot).transpose(2, 0, 1), np.reshape(at_targets, (-1, G, G))]
            )
            hist[a] = _marginal(bundle_hist, one_hot)

    # Back to the caller's row numbers, each pair as (smaller row, larger row), sorted.
    a_rows, b_rows = perm[mated_a], perm[mated_b]
    a_rows, b_rows = np.minimum(a_rows, b_rows), np.maximum(a_rows, b_rows)
    order = np.lexsort((b_rows, a_rows))
    return ExhaustiveResult(
        metric=metric,
        n_images=n,
        n_nonmated=n_nonmated,
        thresholds=np.concatenate([thr, target_thr]),
        target_fmr=np.concatenate([np.full(thr.size, np.nan), tgt]),
        n_fm=np.concatenate([fm_given[0].sum(axis=(0, 1)), [int(m.sum()) for m in above]]).astype(np.int64),
        cell_nonmated=cell_nonmated,
        cell_fm=cell_fm,
        bin_edges=np.linspace(lo, hi, hist_bins + 1),
        hist=hist,
        hist_total=histograms[0].sum(axis=(0, 1)),
        mated_a=a_rows[order].astype(np.int64),
        mated_b=b_rows[order].astype(np.int64),
        mated_scores=mated_scores[order],
    )


def _stream_tiles(
    q: np.ndarray, metric: str, block: int, mated_a: np.ndarray, mated_b: np.ndarray, state: _Accumulators,
    tiles: Sequence[tuple[int, int]] | None = None,
) -> NDArray[np.float64]:
    """Score ``tiles`` (default: every tile of the upper triangle), feed ``state``; returns the
    mated pairs' raw scores (similarity = raw * ``state.unit``), NaN for pairs in other tiles."""
    n = q.shape[0]
    sq_norm = np.einsum("ij,ij->i", q, q) if metric == "euclidean_l2" else None
    # Work arrays are allocated once: fresh tile-sized arrays would be page-faulted in again for
    # every tile (allocations of 32 MiB and more always come straight from mmap).
    size = min(block, n) ** 2
    work = _Work(np.empty(size), np.empty(size), np.empty(size, np.intp), np.empty(size, np.intp))
    mated_raw = np.full(mated_a.size, np.nan)
    mated_order, by_tile = _mated_by_tile(mated_a, mated_b, n, block)
    lower_cache: dict[int, NDArray[np.intp]] = {}
    if tiles is None:
        tiles = [(r0, c0) for r0 in range(0, n, block) for c0 in range(r0, n, block)]
    for r0, c0 in tiles:
        r1, c1 = min(r0 + block, n), min(c0 + block, n)
        raw = _tile_raw(q, sq_norm, r0, r1, c0, c1, work.raw)
        width = c1 - c0
        mated = mated_order[by_tile.get((r0 // block, c0 // block), slice(0, 0))]
        mated_flat = (mated_a[mated] - r0) * width + (mated_b[mated] - c0)
        mated_raw[mated] = raw.ravel()[mated_flat]
        excluded = mated_flat
        if r0 == c0:  # only j > i counts
            if width not in lower_cache:
                lower_cache[width] = np.flatnonzero(np.tri(width, dtype=bool))
            excluded = np.concatenate([mated_flat, lower_cache[width]])
        state.add_histograms(raw, r0, c0, excluded, work)
        # Scores are finite, so -inf marks excluded pairs for the counts below.
        raw.ravel()[excluded] = -np.inf
        state.add_candidates(raw, r0, c0)
    return mated_raw


@dataclass(frozen=True)
class _Work:
    """Flat work arrays of one tile's size, viewed as (rows, columns) per tile."""

    raw: NDArray[np.float64]
    value: NDArray[np.float64]
    bin: NDArray[np.intp]
    slot: NDArray[np.intp]


def _tile_raw(
    q: np.ndarray, sq_norm: np.ndarray | None, r0: int, r1: int, c0: int, c1: int, out: np.ndarray
) -> NDArray[np.float64]:
    """The tile's scores in raw form: similarity = raw * unit (cosine: the integer dot product,
    unit 2**-50; euclidean_l2: the similarity itself, unit 1). Both scalings are exact."""
    raw = out[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
    np.matmul(q[r0:r1], q[c0:c1].T, out=raw)  # exact: integer terms, |partial sums| < 2**53
    if sq_norm is None:
        return raw
    raw *= -2.0
    raw += sq_norm[r0:r1, None]
    raw += sq_norm[None, c0:c1]
    np.sqrt(raw, out=raw)
    raw *= -(2.0**-25)
    return raw


def _mated_by_tile(
    mated_a: np.ndarray, mated_b: np.ndarray, n: int, block: int
) -> tuple[NDArray[np.intp], dict[tuple[int, int], slice]]:
    """The mated pairs grouped by tile: an order over them and, per tile, its slice of that order."""
    n_tiles = -(-n // block)
    tile = (mated_a // block) * n_tiles + mated_b // block
    order = np.argsort(tile, kind="stable")
    tile = tile[order]
    bounds = np.flatnonzero(np.r_[True, tile[1:] != tile[:-1], True]) if tile.size else np.zeros(1, np.intp)
    slices = {
        divmod(int(tile[start]), n_tiles): slice(int(start), int(end))
        for start, end in zip(bounds[:-1], bounds[1:])
    }
    return order, slices


@dataclass(frozen=True)
class _Bundle:
    """Attributes counted together: each row's combination ("combo") of their codes is one code.

    One histogram over ordered (combo, combo) cells serves every attribute of the bundle: one
    pass per tile instead of one per attribute.
    """

    attributes: tuple[str, ...]
    combo: NDArray[np.intp]  # (n,) combo of each row
    members: NDArray[np.intp]  # (C, len(attributes)) group code of each combo per attribute


# A bundle's histogram has C * C * bins slots; past this many a new bundle starts (32 MiB).
_MAX_BUNDLE_SLOTS = 2**22


def _bundles(codes: dict[str, np.ndarray], n: int, bins: int) -> list[_Bundle]:
    """Attributes grouped greedily, in order, so that each bundle's histogram stays bounded."""
    if not codes:  # still one bundle: it carries the totals
        return [_Bundle((), np.zeros(n, np.intp), np.zeros((1, 0), np.intp))]
    out: list[_Bundle] = []
    names: list[str] = []
    for a in codes:
        combos = np.unique(np.stack([codes[x] for x in (*names, a)], axis=1), axis=0)
        if names and len(combos) ** 2 * bins > _MAX_BUNDLE_SLOTS:
            out.append(_bundle(codes, names))
            names = []
        names.append(a)
    out.append(_bundle(codes, names))
    return out


def _bundle(codes: dict[str, np.ndarray], names: list[str]) -> _Bundle:
    members, combo = np.unique(np.stack([codes[a] for a in names], axis=1), axis=0, return_inverse=True)
    return _Bundle(tuple(names), combo.reshape(-1).astype(np.intp), members.astype(np.intp))


def _fold(ordered: np.ndarray) -> np.ndarray:
    """Ordered cells [a, b, ...] -> unordered: [a, b] += [b, a] for a < b, zero below the diagonal."""
    out = ordered + np.swapaxes(ordered, 0, 1)
    diag = np.arange(ordered.shape[0])
    out[diag, diag] = ordered[diag, diag]
    out[np.tril_indices(ordered.shape[0], -1)] = 0
    return out


def _cells(g: np.ndarray, G: int, rows: np.ndarray, cols: np.ndarray) -> NDArray[np.int64]:
    """Unordered (G, G) counts of the pairs (rows[i], cols[i])."""
    return _fold(np.bincount(g[rows] * G + g[cols], minlength=G * G).reshape(G, G))


def _marginal(ordered: np.ndarray, one_hot: np.ndarray) -> NDArray[np.int64]:
    """Ordered combo cells (C, C, k) -> unordered attribute cells (G, G, k) via a (C, G) one-hot."""
    C, _, k = ordered.shape
    G = one_hot.shape[1]
    rows = (one_hot.T @ ordered.reshape(C, C * k)).reshape(G, C, k)  # integer matmul: exact
    return _fold((rows.transpose(0, 2, 1) @ one_hot).transpose(0, 2, 1))


class _Accumulators:
    """Running sums over tiles: per bundle, histograms and threshold levels over ordered combo
    cells (row combo, column combo); and the top-K buffer of non-mated scores."""

    def __init__(
        self, bundles: list[_Bundle], thr: np.ndarray, bins: int, lo: float, hi: float, top_k: int, unit: float
    ) -> None:
        self.bundles, self.bins, self.top_k, self.unit = bundles, bins, top_k, unit
        self.n_combos = [len(b.members) for b in bundles]
        # Powers of two, so raw * scale is exact and so is its floor: bins are exact.
        scale = bins / (hi - lo)
        self.raw_scale = scale * unit
        self.first_bin, self.last_bin = lo * scale, hi * scale - 1.0
        self.hist = [np.zeros(C * C * bins, np.int64) for C in self.n_combos]
        # Compared with raw scores: t / unit is exact, and raw >= t / unit  <=>  raw * unit >= t.
        self.thr_sorted = np.sort(thr) / unit
        # s >= t  <=>  (number of thresholds <= s) >= (number of thresholds < t) + 1
        self.level_of_given = np.searchsorted(self.thr_sorted, thr / unit, side="left") + 1
        self.n_levels = thr.size + 1
        self.levels = [np.zeros(C * C * self.n_levels, np.int64) for C in self.n_combos]
        self.top: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.top_len = 0
        self.floor = -np.inf if top_k else np.inf

    def add_histograms(self, raw: np.ndarray, r0: int, c0: int, excluded: np.ndarray, work: _Work) -> None:
        """Add the tile's scores to the histograms; ``excluded`` (flat positions) are skipped."""
        shape = raw.shape
        value = work.value[: raw.size].reshape(shape)
        np.multiply(raw, self.raw_scale, out=value)
        np.clip(value, self.first_bin, self.last_bin, out=value)
        np.floor(value, out=value)
        bin_value = work.bin[: raw.size].reshape(shape)
        bin_value[...] = value  # integers in [first_bin, last_bin]: the cast is exact
        slot = work.slot[: raw.size].reshape(shape)
        for bundle, C, hist in zip(self.bundles, self.n_combos, self.hist):
            rc, cc = bundle.combo[r0 : r0 + shape[0]], bundle.combo[c0 : c0 + shape[1]]
            cell_lo, cell_hi = int(rc.min()) * C + int(cc.min()), int(rc.max()) * C + int(cc.max())
            # Slot 0 takes the excluded pairs; slot 1 + bins * (cell - cell_lo) + bin the others.
            row_off = (rc * C - cell_lo) * self.bins + (1 - int(self.first_bin))
            np.add(bin_value, row_off[:, None], out=slot)
            slot += cc[None, :] * self.bins
            slot.ravel()[excluded] = 0
            counts = np.bincount(slot.ravel(), minlength=(cell_hi - cell_lo + 1) * self.bins + 1)
            hist[cell_lo * self.bins : (cell_hi + 1) * self.bins] += counts[1:]

    def add_candidates(self, raw: np.ndarray, r0: int, c0: int) -> None:
        """Count scores >= the given thresholds and feed the top-K (all raw); excluded pairs are -inf."""
        floor = self.floor
        if floor == -np.inf and raw.size > self.top_k > 0:
            # Until the buffer is full, the tile's own K-th highest score bounds what can enter it.
            floor = np.partition(raw.ravel(), raw.size - self.top_k)[raw.size - self.top_k]
        lowest = min(self.thr_sorted[0], floor) if self.thr_sorted.size else floor
        if lowest == np.inf:
            return
        flat = np.flatnonzero(raw.ravel() >= max(lowest, _LOWEST_FINITE))
        vals = raw.ravel()[flat]
        rows, cols = np.divmod(flat, raw.shape[1])
        rows += r0
        cols += c0
        if self.thr_sorted.size:
            level = np.searchsorted(self.thr_sorted, vals, side="right")
            for bundle, C, levels in zip(self.bundles, self.n_combos, self.levels):
                cell = (bundle.combo[rows] * C + bundle.combo[cols]) * self.n_levels + level
                levels += np.bincount(cell, minlength=levels.size)
        if self.top_k:
            keep = vals >= floor
            self.top.append((vals[keep], rows[keep], cols[keep]))
            self.top_len += int(keep.sum())
            # Shrinking only at 2K keeps the merging cost linear in the number of candidates.
            if self.top_len >= 2 * self.top_k or (self.floor == -np.inf and self.top_len >= self.top_k):
                self._shrink_top()

    def _shrink_top(self) -> None:
        vals, rows, cols = (np.concatenate(x) for x in zip(*self.top))
        if vals.size > self.top_k:
            # Keeps every score above the K-th highest; which of its ties stay does not matter.
            keep = np.argpartition(vals, vals.size - self.top_k)[vals.size - self.top_k :]
            vals, rows, cols = vals[keep], rows[keep], cols[keep]
        self.top = [(vals, rows, cols)]
        self.top_len = vals.size
        self.floor = vals.min()

    def partial(self) -> tuple[list[np.ndarray], list[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """What a worker sends back: histograms, threshold levels and its top-K candidates."""
        top = (np.empty(0), np.empty(0, np.intp), np.empty(0, np.intp))
        if self.top_k and self.top_len:
            self._shrink_top()
            top = self.top[0]
        return self.hist, self.levels, top

    def merge(self, part: tuple[list[np.ndarray], list[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Add another set of tiles' :meth:`partial`. Sums of integers and a union of top-K sets
        (the K best of a union are among the union of each part's K best): exact in any order."""
        hist, levels, top = part
        for mine, theirs in zip(self.hist, hist):
            mine += theirs
        for mine, theirs in zip(self.levels, levels):
            mine += theirs
        if self.top_k and top[0].size:
            self.top.append(top)
            self.top_len += top[0].size
            if self.top_len >= 2 * self.top_k:
                self._shrink_top()

    def top_scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The K highest non-mated similarities with their rows and columns (empty without targets)."""
        if not self.top_k:
            return np.empty(0), np.empty(0, np.intp), np.empty(0, np.intp)
        self._shrink_top()
        vals, rows, cols = self.top[0]
        return vals * self.unit, rows, cols

    def histograms(self) -> list[NDArray[np.int64]]:
        """Per bundle, ordered (C, C, bins) histogram counts."""
        return [h.reshape(C, C, self.bins) for h, C in zip(self.hist, self.n_combos)]

    def fm_at_thresholds(self) -> list[NDArray[np.int64]]:
        """Per bundle, ordered (C, C, t) false-match counts at the given thresholds, in order."""
        out = []
        for levels, C in zip(self.levels, self.n_combos):
            per_level = levels.reshape(C, C, self.n_levels)
            at_least = np.cumsum(per_level[:, :, ::-1], axis=2)[:, :, ::-1]  # [.., L] = #(level >= L)
            out.append(at_least[:, :, self.level_of_given])
        return out


CELL_COLUMNS = ("attribute", "group_a", "group_b", "threshold", "target_fmr", "n_nonmated", "n_fm")


def cell_counts(result: ExhaustiveResult, categories: Mapping[str, Sequence[str]] | None = None,
                names: Sequence[str] | None = None) -> pd.DataFrame:
    """The per-cell counts of ``result`` as a tidy table, one row per threshold x cell.

    Parameters
    ----------
    result : ExhaustiveResult
    categories : mapping attribute -> group names, optional
        Name of each code (``categories[a][code]``); without it groups are named by their code.
    names : threshold names, optional
        One per threshold of ``result``, in its order: a first column ``threshold_name``. Named by
        position, never by value, as two thresholds may share a similarity.

    Returns
    -------
    DataFrame with columns ``attribute, group_a, group_b, threshold, target_fmr, n_nonmated,
    n_fm``. Cells are unordered: one row per ``code(group_a) <= code(group_b)``. Each threshold
    also has an ``all`` row (attribute, group_a and group_b ``all``) over every non-mated pair.
    ``target_fmr`` is NaN for a given threshold.
    """
    categories = categories or {}
    rows: list[tuple] = []
    for t, (threshold, target) in enumerate(zip(result.thresholds, result.target_fmr)):
        rows.append((ALL, ALL, ALL, threshold, target, result.n_nonmated, int(result.n_fm[t])))
        for a, nonmated in result.cell_nonmated.items():
            G = nonmated.shape[0]
            labels = list(categories.get(a, [str(c) for c in range(G)]))
            if len(labels) < G:
                raise ValueError(f"categories[{a!r}] names {len(labels)} groups, but codes go up to {G - 1}")
            fm = result.cell_fm[a][t]
            for g, h in zip(*np.triu_indices(G)):
                rows.append((a, labels[g], labels[h], threshold, target, int(nonmated[g, h]), int(fm[g, h])))
    cells = pd.DataFrame(rows, columns=list(CELL_COLUMNS))
    if names is not None:
        if len(names) != len(result.thresholds):
            raise ValueError(f"{len(names)} threshold names for {len(result.thresholds)} thresholds")
        cells.insert(0, "threshold_name", np.repeat(list(names), len(cells) // max(len(names), 1)))
    return cells
