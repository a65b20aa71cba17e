"""Exact top-L subject search: the streamed, certified search must equal a brute-force pass.

The brute force below is independent of the module's selection: it scores every (probe, gallery
image) pair with the definition (``frbench.scoring.pair_similarities``), sorts all images by
(score descending, gallery row ascending) and walks down that order taking each subject's first
image, exactly as the tie rule in ``frbench.search.topk`` is worded.
"""

from __future__ import annotations

import numpy as np
import pytest

from frbench.scoring.similarity import pair_similarities
from frbench.search.topk import faiss_available, score_error_bound, search

KERNELS = ["numpy", pytest.param("faiss", marks=pytest.mark.skipif(not faiss_available(), reason="faiss-cpu absent"))]


def brute_force(probes, gallery, subjects, length):
    n_p, n_g = len(probes), len(gallery)
    rows = np.full((n_p, length), -1)
    scores = np.full((n_p, length), np.nan)
    for i in range(n_p):
        s = pair_similarities(np.repeat(probes[i : i + 1], n_g, axis=0), gallery, "cosine")
        valid = np.flatnonzero(~np.isnan(s))
        if np.isnan(probes[i]).any():
            continue
        order = valid[np.lexsort((valid, -s[valid]))]
        seen, out = set(), []
        for j in order:
            if subjects[j] not in seen:
                seen.add(subjects[j])
                out.append(j)
            if len(out) == length:
                break
        rows[i, : len(out)] = out
        scores[i, : len(out)] = s[out]
    return rows, scores


def random_case(seed, n_g=1500, n_p=30, d=24, n_subjects=700):
    rng = np.random.default_rng(seed)
    gallery = rng.standard_normal((n_g, d)).astype(np.float32)
    probes = rng.standard_normal((n_p, d)).astype(np.float32)
    subjects = rng.integers(0, n_subjects, n_g).astype(str)
    gallery[3] = np.nan  # failed template
    probes[2] = np.nan  # failed probe
    gallery[10] = gallery[11]  # exact tie between two subjects
    gallery[20] = 0.0  # zero vector: cosine 0 with everything
    probes[5] = gallery[40] * 3  # a probe identical in direction to a gallery image
    return probes, gallery, subjects


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("length", [1, 7, 50])
@pytest.mark.parametrize("block_bytes", [30_000, 64 << 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_streamed_search_equals_brute_force(kernel, length, block_bytes, seed):
    probes, gallery, subjects = random_case(seed)
    got = search(probes, gallery, subjects, length, kernel=kernel, block_bytes=block_bytes)
    rows, scores = brute_force(probes, gallery, subjects, length)
    np.testing.assert_array_equal(got.rows, rows)
    np.testing.assert_array_equal(got.scores, scores)
    assert got.kernel == kernel


def test_kernels_agree_and_scores_are_the_one_to_one_scores():
    probes, gallery, subjects = random_case(3)
    a = search(probes, gallery, subjects, 20, kernel="numpy")
    if faiss_available():
        b = search(probes, gallery, subjects, 20, kernel="faiss")
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.scores, b.scores)
    p, r = np.nonzero(a.rows >= 0)
    expect = pair_similarities(probes[p], gallery[a.rows[p, r]], "cosine")
    np.testing.assert_array_equal(a.scores[p, r], expect)


def test_tie_rule_hand_case():
    # rows 0..4; rows 1, 2 and 4 are the same vector (equal scores), subject "s" owns rows 2 and 3.
    v = np.array([1.0, 0.0])
    w = np.array([0.6, 0.8])
    gallery = np.array([w, v, v, w * -1, v], dtype=np.float32)
    subjects = np.array(["a", "b", "s", "s", "c"])
    got = search(np.array([v]), gallery, subjects, 4, kernel="numpy")
    # v.v = 1 for rows 1, 2, 4 (row order breaks the tie), then a (0.6); s is represented by
    # its best image, row 2, not row 3 (-0.6).
    assert got.rows[0].tolist() == [1, 2, 4, 0]
    np.testing.assert_allclose(got.scores[0], [1.0, 1.0, 1.0, 0.6])


def test_subject_with_several_images_is_one_candidate():
    rng = np.random.default_rng(5)
    gallery = rng.standard_normal((300, 8)).astype(np.float32)
    subjects = (np.arange(300) // 3).astype(str)  # 100 subjects x 3 images
    probes = rng.standard_normal((12, 8)).astype(np.float32)
    got = search(probes, gallery, subjects, 10, kernel="numpy", block_bytes=4000)
    rows, _scores = brute_force(probes, gallery, subjects, 10)
    np.testing.assert_array_equal(got.rows, rows)
    for r in got.rows:
        assert len(set(subjects[r])) == 10


@pytest.mark.parametrize("kernel", KERNELS)
def test_many_equal_scores_force_a_wider_pass_and_stay_exact(kernel):
    rng = np.random.default_rng(2)
    # 600 rows, only 3 distinct vectors: 200 images tie at every score, far more than L + slack.
    gallery = np.repeat(rng.standard_normal((3, 16)), 200, axis=0).astype(np.float32)
    subjects = np.arange(600).astype(str)
    probes = rng.standard_normal((5, 16)).astype(np.float32)
    got = search(probes, gallery, subjects, 10, kernel=kernel, block_bytes=5000)
    rows, scores = brute_force(probes, gallery, subjects, 10)
    assert got.n_rechecked == 5
    np.testing.assert_array_equal(got.rows, rows)
    np.testing.assert_array_equal(got.scores, scores)


def test_short_gallery_and_failed_rows_pad_the_lists():
    gallery = np.array([[1, 0], [np.nan, 1], [0, 1]], dtype=np.float32)
    probes = np.array([[1, 1], [np.nan, 0]], dtype=np.float32)
    got = search(probes, gallery, np.array(["a", "b", "c"]), 5, kernel="numpy")
    assert got.rows[0].tolist() == [0, 2, -1, -1, -1]  # equal scores: lower row first; row 1 failed
    assert got.rows[1].tolist() == [-1] * 5
    assert np.isnan(got.scores[1]).all() and np.isnan(got.scores[0, 2:]).all()


def test_kernel_error_stays_within_the_bound():
    rng = np.random.default_rng(0)
    for d in (8, 128, 512):
        x = rng.standard_normal((200, d))
        y = rng.standard_normal((300, d))
        xu = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        yu = (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)
        exact = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (y / np.linalg.norm(y, axis=1, keepdims=True)).T
        assert np.abs((xu @ yu.T).astype(np.float64) - exact).max() <= score_error_bound(d)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"probes": np.zeros((2, 3)), "gallery": np.zeros((4, 2))}, "differ in width"),
        ({"gallery_subjects": np.arange(3)}, "one entry per gallery row"),
        ({"length": 0}, "length must be an integer"),
        ({"kernel": "annoy"}, "unknown search kernel"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    args = {"probes": np.ones((2, 2)), "gallery": np.ones((4, 2)), "gallery_subjects": np.arange(4), "length": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        search(args.pop("probes"), args.pop("gallery"), args.pop("gallery_subjects"), args.pop("length"), **args)
