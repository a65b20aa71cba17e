"""Exhaustive all-vs-all scoring: streamed tiles must give exactly what a brute-force n x n pass gives.

The brute force below is independent of the module: scores from numpy's *integer* matmul of the
documented quantised vectors (exact, no BLAS), cells from boolean masks, thresholds from
``frbench.metrics.thresholds.threshold_at_fmr``, histograms from ``np.histogram``.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from frbench.scoring.exhaustive import (
    ExhaustiveResult,
    cell_counts,
    exhaustive_scores,
)
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.scoring.similarity import pair_similarities

RANGE = {"cosine": (-1.0, 1.0), "euclidean_l2": (-2.0, 0.0)}


def exact_similarity(emb: np.ndarray, metric: str) -> np.ndarray:
    """The documented score: rint(2**25 x/|x|) in integers, products in int64."""
    x = emb.astype(np.float64)
    x /= np.sqrt((x * x).sum(axis=1))[:, None]
    q = np.rint(x * 2.0**25).astype(np.int64)
    dot = q @ q.T
    if metric == "cosine":
        return dot * 2.0**-50
    sq = np.diag(dot)
    d2 = sq[:, None] + sq[None, :] - 2 * dot
    return -np.sqrt(d2.astype(np.float64)) * 2.0**-25


def brute_force(emb, subject, groups, thresholds, targets, metric="cosine", bins=4096) -> dict:
    n = len(emb)
    S = exact_similarity(emb, metric)
    i, j = np.triu_indices(n, 1)
    s = S[i, j]
    mated = subject[i] == subject[j]
    s_non = s[~mated]
    target_thr = [threshold_at_fmr(s_non, f) for f in targets]
    all_thr = list(thresholds) + target_thr
    lo, hi = RANGE[metric]
    edges = np.linspace(lo, hi, bins + 1)
    out = {
        "thresholds": np.array(all_thr),
        "n_nonmated": int((~mated).sum()),
        "n_fm": np.array([(s_non >= t).sum() for t in all_thr]),
        "hist_total": np.histogram(np.clip(s_non, lo, hi), edges)[0],
        "mated_a": i[mated],
        "mated_b": j[mated],
        "mated_scores": s[mated],
        "cells": {},
    }
    for a, g in groups.items():
        G = g.max() + 1
        nonmated = np.zeros((G, G), np.int64)
        fm = np.zeros((len(all_thr), G, G), np.int64)
        hist = np.zeros((G, G, bins), np.int64)
        for ga in range(G):
            for gb in range(ga, G):
                in_cell = ((g[i] == ga) & (g[j] == gb)) | ((g[i] == gb) & (g[j] == ga))
                cell = s[in_cell & ~mated]
                nonmated[ga, gb] = cell.size
                fm[:, ga, gb] = [(cell >= t).sum() for t in all_thr]
                hist[ga, gb] = np.histogram(np.clip(cell, lo, hi), edges)[0]
        out["cells"][a] = (nonmated, fm, hist)
    return out


def assert_matches_brute_force(result: ExhaustiveResult, ref: dict) -> None:
    np.testing.assert_array_equal(result.thresholds, ref["thresholds"])
    assert result.n_nonmated == ref["n_nonmated"]
    np.testing.assert_array_equal(result.n_fm, ref["n_fm"])
    np.testing.assert_array_equal(result.hist_total, ref["hist_total"])
    np.testing.assert_array_equal(result.mated_a, ref["mated_a"])
    np.testing.assert_array_equal(result.mated_b, ref["mated_b"])
    np.testing.assert_array_equal(result.mated_scores, ref["mated_scores"])
    assert set(result.cell_nonmated) == set(ref["cells"])
    for a, (nonmated, fm, hist) in ref["cells"].items():
        np.testing.assert_array_equal(result.cell_nonmated[a], nonmated, err_msg=a)
        np.testing.assert_array_equal(result.cell_fm[a], fm, err_msg=a)
        np.testing.assert_array_equal(result.hist[a], hist, err_msg=a)


def assert_same_result(x: ExhaustiveResult, y: ExhaustiveResult) -> None:
    for field in ("thresholds", "target_fmr", "n_fm", "hist_total", "mated_a", "mated_b", "mated_scores"):
        np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)
    for field in ("cell_nonmated", "cell_fm", "hist"):
        for a in getattr(x, field):
            np.testing.assert_array_equal(getattr(x, field)[a], getattr(y, field)[a], err_msg=f"{field}[{a}]")


def random_data(n: int, d: int, n_subjects: int, seed: int, distinct: int | None = None):
    """Embeddings (optionally only ``distinct`` different vectors, so scores tie), subjects with
    several images each, and image-level groups (a subject's images may fall in different groups)."""
    rng = np.random.default_rng(seed)
    if distinct is None:
        emb = rng.standard_normal((n, d)).astype(np.float32)
    else:
        emb = rng.standard_normal((distinct, d)).astype(np.float32)[rng.integers(0, distinct, n)]
    subject = rng.integers(0, n_subjects, n)
    groups = {"gender": rng.integers(0, 2, n), "race": rng.integers(0, 4, n)}
    return emb, subject, groups


@pytest.mark.parametrize("block", [37, 1000])
def test_streamed_counts_equal_brute_force(block: int) -> None:
    emb, subject, groups = random_data(500, 16, 90, seed=1)
    thresholds, targets = [0.2, 0.45, -0.1], [0.1, 1e-2, 1e-3]
    result = exhaustive_scores(emb, subject, groups, thresholds, targets, block=block)
    assert_matches_brute_force(result, brute_force(emb, subject, groups, thresholds, targets))
    assert result.mated_a.size > 1000  # the case really has mated pairs to exclude


def test_ties_at_thresholds_are_exact_and_rejected_at_targets() -> None:
    # 15 distinct vectors over 300 rows: every non-mated score occurs many times.
    emb, subject, groups = random_data(300, 8, 60, seed=2, distinct=15)
    S = exact_similarity(emb, "cosine")
    i, j = np.triu_indices(len(emb), 1)
    values, counts = np.unique(S[i, j][subject[i] != subject[j]], return_counts=True)
    tied = values[np.argsort(counts)[-3:]]  # the three most frequent scores
    assert counts.max() > 100
    targets = [0.05, 0.01, 1e-3]
    result = exhaustive_scores(emb, subject, groups, list(tied), targets, block=64)
    assert_matches_brute_force(result, brute_force(emb, subject, groups, list(tied), targets))
    # Ties at the (k+1)-th score are all rejected, so no target is exceeded.
    achieved = result.n_fm[len(tied) :] / result.n_nonmated
    assert np.all(achieved <= targets)


@pytest.mark.parametrize("metric", ["cosine", "euclidean_l2"])
def test_block_size_does_not_change_any_result(metric: str) -> None:
    emb, subject, groups = random_data(130, 8, 25, seed=3, distinct=40)
    args = (emb, subject, groups, [0.3, -1.0], [0.1, 1e-2])
    one = exhaustive_scores(*args, block=1, metric=metric)
    big = exhaustive_scores(*args, block=4096, metric=metric)
    odd = exhaustive_scores(*args, block=29, metric=metric)
    assert_same_result(one, big)
    assert_same_result(odd, big)
    assert_matches_brute_force(big, brute_force(*args, metric=metric))


def test_euclidean_l2_equals_brute_force_on_odd_blocks() -> None:
    emb, subject, groups = random_data(400, 32, 70, seed=4)
    thresholds, targets = [-1.2, -1.35], [0.05, 1e-3]
    result = exhaustive_scores(emb, subject, groups, thresholds, targets, block=53, metric="euclidean_l2")
    assert_matches_brute_force(result, brute_force(emb, subject, groups, thresholds, targets, "euclidean_l2"))


def test_many_groups_split_into_several_histogram_bundles() -> None:
    # 12 x 9 groups give ~100 combinations: too many for one 2**22-slot histogram.
    rng = np.random.default_rng(5)
    emb, subject, _ = random_data(450, 8, 80, seed=5)
    groups = {"a": rng.integers(0, 12, 450), "b": rng.integers(0, 9, 450), "c": rng.integers(0, 2, 450)}
    thresholds, targets = [0.25], [0.01]
    result = exhaustive_scores(emb, subject, groups, thresholds, targets, block=100)
    assert_matches_brute_force(result, brute_force(emb, subject, groups, thresholds, targets))


def test_without_attributes_totals_still_exact() -> None:
    emb, subject, _ = random_data(200, 8, 30, seed=6)
    result = exhaustive_scores(emb, subject, {}, [0.1], [0.01], block=64, hist_bins=256)
    ref = brute_force(emb, subject, {}, [0.1], [0.01], bins=256)
    assert_matches_brute_force(result, ref)
    assert result.hist_total.sum() == result.n_nonmated


def hand_case() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    # A and B (subject 0) point the same way; C is orthogonal to both; D is at cos 0.6 / 0.8.
    emb = np.array([[1, 0, 0], [2, 0, 0], [0, 1, 0], [0.6, 0.8, 0]], dtype=np.float32)
    subject = np.array([0, 0, 1, 2])
    groups = {"gender": np.array([0, 1, 0, 1])}
    return emb, subject, groups


def test_hand_computed_case() -> None:
    emb, subject, groups = hand_case()
    # Non-mated pairs: AC 0, AD .6, BC 0, BD .6, CD .8; mated: AB 1.
    result = exhaustive_scores(emb, subject, groups, [0.5], [0.0, 0.2, 0.5], hist_bins=4)
    assert result.n_nonmated == 5
    # 0.5: AD, BD, CD. Targets: k = 0 -> above 0.8; k = 1 -> above s_(2) = 0.6; k = 2 -> above
    # s_(3) = 0.6 as well (the tie at 0.6 is rejected), so FMR 1/5 at both.
    np.testing.assert_array_equal(result.n_fm, [3, 0, 1, 1])
    assert result.thresholds[1:3] == pytest.approx([0.8, 0.6], abs=1e-7)
    np.testing.assert_array_equal(result.cell_nonmated["gender"], [[1, 3], [0, 1]])  # AC | AD BC CD | BD
    np.testing.assert_array_equal(result.cell_fm["gender"][0], [[0, 2], [0, 1]])  # AD CD | BD
    np.testing.assert_array_equal(result.cell_fm["gender"][2], [[0, 1], [0, 0]])  # CD
    np.testing.assert_array_equal(result.hist_total, [0, 0, 2, 3])  # edges -1, -.5, 0, .5, 1
    np.testing.assert_array_equal(result.mated_a, [0])
    np.testing.assert_array_equal(result.mated_b, [1])
    np.testing.assert_array_equal(result.mated_scores, [1.0])


def test_cell_counts_and_per_group_fmr_tables() -> None:
    emb, subject, groups = hand_case()
    result = exhaustive_scores(emb, subject, groups, [0.5], [0.2])
    cells = cell_counts(result, {"gender": ["female", "male"]})
    at_half = cells[cells["threshold"] == 0.5].set_index(["attribute", "group_a", "group_b"])
    assert at_half.loc[("all", "all", "all"), "n_fm"] == 3
    assert at_half.loc[("gender", "female", "male"), ["n_nonmated", "n_fm"]].tolist() == [3, 2]
    assert cells["target_fmr"].isna().sum() == len(cells) // 2
    # a group's own non-mated pairs are its diagonal cell: both sides female: AC (no match);
    # both male: BD (match); all: 3 of 5
    assert at_half.loc[("gender", "female", "female"), ["n_nonmated", "n_fm"]].tolist() == [1, 0]
    assert at_half.loc[("gender", "male", "male"), ["n_nonmated", "n_fm"]].tolist() == [1, 1]
    assert at_half.loc[("all", "all", "all"), ["n_nonmated", "n_fm"]].tolist() == [5, 3]


def test_scores_are_within_the_documented_bound_of_float64_scores() -> None:
    emb, subject, groups = random_data(120, 128, 30, seed=7)
    for metric in ("cosine", "euclidean_l2"):
        result = exhaustive_scores(emb, subject, groups, block=50, metric=metric)
        ref = pair_similarities(emb[result.mated_a], emb[result.mated_b], metric)
        bound = 2 * np.sqrt(128) * 2.0**-26 + 128 * 2.0**-52
        assert np.max(np.abs(result.mated_scores - ref)) <= bound


def test_memory_is_bounded_by_the_block_not_n_squared() -> None:
    emb, subject, groups = random_data(3000, 16, 600, seed=8)
    tracemalloc.start()
    try:
        exhaustive_scores(emb, subject, groups, [0.5], [1e-3], block=128, hist_bins=1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # An n x n float64 matrix alone would take 72 MB.
    assert peak < 8e6, peak


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metric": "angular"}, "angular"),
        ({"hist_bins": 1000}, "power of two"),
        ({"targets": [1.0]}, r"\[0, 1\)"),
        ({"thresholds": [np.nan]}, "NaN"),
        ({"block": 0}, "block"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict, message: str) -> None:
    emb, subject, groups = hand_case()
    with pytest.raises(ValueError, match=message):
        exhaustive_scores(emb, subject, groups, **kwargs)


def test_failed_rows_and_bad_codes_are_rejected() -> None:
    emb, subject, groups = hand_case()
    bad = emb.copy()
    bad[2] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        exhaustive_scores(bad, subject, groups)
    with pytest.raises(ValueError, match="negative code"):
        exhaustive_scores(emb, subject, {"gender": np.array([0, -1, 0, 1])})
    with pytest.raises(ValueError, match="subject"):
        exhaustive_scores(emb, subject[:3], groups)
