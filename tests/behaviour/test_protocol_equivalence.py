"""Listing every pair and the exhaustive protocol must count the same evidence the same way.

Both go through the one per-group engine (counts, then rates); here they are fed the same
synthetic embeddings, one image failing to enrol, at the same thresholds, and every count of
per_group.csv must agree. Exhaustive scores are on integer-quantised vectors (within 3.4e-7 of
the float scores), so thresholds are fixed values kept away from every score.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from frbench.config import validate_config
from frbench.embed import Embeddings
from frbench.groups import Groups
from frbench.measure.protocols import ExhaustivePairs, ListedPairs, score_listed_pairs

COUNTS = ["threshold_name", "attribute", "group", "n_subjects", "n_mated", "n_nonmated", "n_fnm", "n_fm", "n_failed"]


def synthetic(n_subjects: int = 14, seed: int = 3) -> tuple[pd.DataFrame, Embeddings]:
    rng = np.random.default_rng(seed)
    rows, vectors = [], []
    for s in range(n_subjects):
        centre = rng.normal(size=16)
        for i in range(int(rng.integers(1, 5))):
            rows.append({"image_id": f"s{s:02d}/{i}.jpg", "path": "", "subject_id": f"s{s:02d}",
                         "gender": "female" if s % 3 == 0 else "male", "race": "a" if s % 2 else "b"})
            vectors.append(centre + rng.normal(scale=0.9, size=16))
    images = pd.DataFrame(rows)
    status = pd.Series("ok", index=images["image_id"])
    status.iloc[4] = "no_face"
    matrix = np.asarray(vectors, dtype=np.float32)
    matrix[4] = np.nan
    return images, Embeddings(list(images["image_id"]), matrix, status, pd.Series("", index=images["image_id"]))


def every_pair(images: pd.DataFrame) -> pd.DataFrame:
    ids = sorted(images["image_id"])
    subject = images.set_index("image_id")["subject_id"]
    pairs = [(a, b, subject[a] == subject[b]) for a, b in itertools.combinations(ids, 2)]
    return pd.DataFrame(pairs, columns=["image_a", "image_b", "mated"])


def test_listed_and_exhaustive_protocols_give_identical_counts() -> None:
    images, embeddings = synthetic()
    groups = Groups.of(["gender", "race"], [["gender", "race"]])
    pairs = every_pair(images)
    scores = score_listed_pairs(pairs, images, embeddings, "cosine", groups)["score"].dropna().to_numpy()
    fixed = [-0.2, 0.1, 0.35]
    assert np.min(np.abs(scores[:, None] - np.array(fixed)[None, :])) > 1e-5  # no score near a threshold
    config = validate_config({
        "name": "eq", "dataset": {"name": "x"}, "model": {"name": "Dlib", "distance_metric": "cosine"},
        "groups": ["gender", "race"], "intersections": [["gender", "race"]],
        "thresholds": {"deepface_default": False, "target_fmr": [], "fixed": fixed, "fold_calibrated": False},
    })
    listed = ListedPairs().evaluate(config, images, pairs, embeddings, groups).measures.per_group
    exhaustive_config = config.model_copy(update={"pairs": config.pairs.model_copy(update={"protocol": "exhaustive"})})
    exhaustive = ExhaustivePairs().evaluate(exhaustive_config, images, None, embeddings, groups).measures.per_group

    assert len(listed) == len(exhaustive) == 3 * (1 + 2 + 2 + 4)
    pd.testing.assert_frame_equal(listed[COUNTS], exhaustive[COUNTS])
    rates = ["fnmr", "fmr", "fnmr_ci_low", "fnmr_ci_high", "fmr_ci_low", "fmr_ci_high", "gfar", "gfrr",
             "fmr_rule3_bound", "fmr_resolves", "fnmr_resolves", "in_summaries"]
    pd.testing.assert_frame_equal(listed[rates], exhaustive[rates])
    cells = ExhaustivePairs().evaluate(exhaustive_config, images, None, embeddings, groups).measures.cells
    failed = images["image_id"].iloc[4]
    enrolled_nonmated = (~pairs["mated"] & (pairs["image_a"] != failed) & (pairs["image_b"] != failed)).sum()
    assert set(cells.loc[cells["attribute"] == "all", "n_nonmated"]) == {enrolled_nonmated}
    # the failed image's pairs are counted, not lost
    assert listed.loc[listed["attribute"] == "all", "n_failed"].iloc[0] == len(images) - 1
    assert (listed["n_fm"] > 0).any() and (listed["n_fnm"] > 0).any()  # the thresholds make errors


@pytest.mark.parametrize("seed", [0, 1])
def test_cross_group_matrices_agree(seed: int) -> None:
    images, embeddings = synthetic(seed=seed)
    groups = Groups.of(["gender"])
    pairs = every_pair(images)
    config = validate_config({
        "name": "eq", "dataset": {"name": "x"}, "model": {"name": "Dlib", "distance_metric": "cosine"},
        "groups": ["gender"], "thresholds": {"deepface_default": False, "target_fmr": [], "fixed": [0.1]},
    })
    listed = ListedPairs().evaluate(config, images, pairs, embeddings, groups).measures.cross_group
    exhaustive_config = config.model_copy(update={"pairs": config.pairs.model_copy(update={"protocol": "exhaustive"})})
    exhaustive = ExhaustivePairs().evaluate(exhaustive_config, images, None, embeddings, groups).measures.cross_group
    keys = ["attribute", "threshold_name", "g_a", "g_b", "n_nonmated", "n_fm"]
    pd.testing.assert_frame_equal(listed[keys], exhaustive[keys])
