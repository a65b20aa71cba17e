"""Generated and exhaustive pair protocols: right pairs, right counts, reproducible, no duplicates."""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pandas as pd
import pytest

from frbench.errors import DatasetError
from frbench.pairs.protocols import exhaustive_mated_pairs, generated_pairs


def image_table(sizes: list[int], seed: int = 0) -> pd.DataFrame:
    """Subject k has sizes[k] images; gender per subject, skin tone per image (may vary)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, m in enumerate(sizes):
        gender = rng.choice(["female", "male", "unknown"])
        for i in range(m):
            rows.append(
                {
                    "image_id": f"P{k:03d}/P{k:03d}_{i:04d}.jpg",
                    "path": f"/data/P{k:03d}_{i:04d}.jpg",
                    "subject_id": f"P{k:03d}",
                    "gender": gender,
                    "skin_tone": rng.choice(["light", "dark"]),
                }
            )
    return pd.DataFrame(rows)


def all_pairs(images: pd.DataFrame, match_on: list[str] = ()) -> tuple[set, set]:
    """Brute force: (mated, eligible non-mated) sets of (smaller id, larger id)."""
    recs = images.sort_values("image_id").to_dict("records")
    mated, nonmated = set(), set()
    for x, y in combinations(recs, 2):
        key = (x["image_id"], y["image_id"])
        if x["subject_id"] == y["subject_id"]:
            mated.add(key)
        elif all(x[a] == y[a] for a in match_on):
            nonmated.add(key)
    return mated, nonmated


def as_set(pairs: pd.DataFrame) -> set:
    return set(zip(pairs["image_a"], pairs["image_b"]))


SIZES = [1, 2, 3, 5, 8, 1, 4, 12, 2, 6, 3, 1, 7, 2, 9]


def test_pairs_are_unordered_unique_and_labelled_correctly() -> None:
    images = image_table(SIZES)
    pairs = generated_pairs(images, n_nonmated=300, mated_per_subject=None, seed=3)
    assert list(pairs.columns) == ["image_a", "image_b", "mated"]
    assert (pairs["image_a"] < pairs["image_b"]).all()
    assert not pairs.duplicated(["image_a", "image_b"]).any()
    subject = images.set_index("image_id")["subject_id"]
    same = subject.loc[pairs["image_a"]].to_numpy() == subject.loc[pairs["image_b"]].to_numpy()
    np.testing.assert_array_equal(pairs["mated"].to_numpy(), same)
    mated, _ = all_pairs(images)
    assert as_set(pairs[pairs["mated"]]) == mated
    assert (~pairs["mated"]).sum() == 300


def test_mated_cap_per_subject() -> None:
    images = image_table(SIZES)
    pairs = generated_pairs(images, n_nonmated=0, mated_per_subject=4, seed=1)
    per_subject = pairs["image_a"].str[:4].value_counts()
    expected = {f"P{k:03d}": min(comb(m, 2), 4) for k, m in enumerate(SIZES) if m > 1}
    assert per_subject.to_dict() == expected
    mated, _ = all_pairs(images)
    assert as_set(pairs) <= mated


def test_same_seed_same_pairs_whatever_the_row_order() -> None:
    images = image_table(SIZES)
    first = generated_pairs(images, 200, 3, ["gender"], seed=7)
    shuffled = images.sample(frac=1.0, random_state=11)
    pd.testing.assert_frame_equal(first, generated_pairs(shuffled, 200, 3, ["gender"], seed=7))
    other = generated_pairs(images, 200, 3, ["gender"], seed=8)
    assert as_set(first[~first["mated"]]) != as_set(other[~other["mated"]])


def test_mated_cap_does_not_change_the_nonmated_sample() -> None:
    images = image_table(SIZES)
    capped = generated_pairs(images, 150, 2, seed=5)
    uncapped = generated_pairs(images, 150, None, seed=5)
    assert as_set(capped[~capped["mated"]]) == as_set(uncapped[~uncapped["mated"]])


@pytest.mark.parametrize("match_on", [[], ["gender"], ["gender", "skin_tone"]])
def test_asking_for_every_eligible_pair_returns_exactly_them(match_on: list[str]) -> None:
    images = image_table(SIZES, seed=2)
    _, eligible = all_pairs(images, match_on)
    pairs = generated_pairs(images, len(eligible), None, match_on, seed=0)
    assert as_set(pairs[~pairs["mated"]]) == eligible
    with pytest.raises(DatasetError, match=f"only {len(eligible)} pairs"):
        generated_pairs(images, len(eligible) + 1, None, match_on, seed=0)


def test_matched_pairs_share_every_attribute() -> None:
    images = image_table(SIZES * 3, seed=4)
    pairs = generated_pairs(images, 400, 1, ["gender", "skin_tone"], seed=2)
    side = images.set_index("image_id")
    non = pairs[~pairs["mated"]]
    a, b = side.loc[non["image_a"]], side.loc[non["image_b"]]
    for attr in ("gender", "skin_tone"):
        np.testing.assert_array_equal(a[attr].to_numpy(), b[attr].to_numpy())
    assert (a["subject_id"].to_numpy() != b["subject_id"].to_numpy()).all()


def test_nonmated_sample_is_uniform_over_eligible_pairs() -> None:
    # 3 subjects of 2, 2 and 3 images: 2*2 + 2*3 + 2*3 = 16 eligible pairs; draw 4 per seed.
    images = image_table([2, 2, 3])
    _, eligible = all_pairs(images)
    seeds = 400
    counts = pd.Series(0, index=pd.Index(sorted(eligible)))
    for seed in range(seeds):
        pairs = generated_pairs(images, 4, None, seed=seed)
        for key in as_set(pairs[~pairs["mated"]]):
            counts[key] += 1
    # Each pair is drawn with probability 4/16 per seed: binomial(400, 1/4), mean 100, sd 8.7.
    p = 4 / len(eligible)
    expected, sd = seeds * p, np.sqrt(seeds * p * (1 - p))
    assert counts.sum() == seeds * 4
    assert counts.between(expected - 5 * sd, expected + 5 * sd).all(), counts.to_dict()
    chi2 = (((counts - expected) ** 2) / expected).sum()
    assert chi2 < 45  # chi-square with 15 df: P(> 45) ~ 7e-5


def test_exhaustive_mated_pairs_lists_every_within_subject_pair() -> None:
    images = image_table(SIZES)
    pairs = exhaustive_mated_pairs(images.sample(frac=1.0, random_state=0))
    mated, _ = all_pairs(images)
    assert as_set(pairs) == mated and len(pairs) == sum(comb(m, 2) for m in SIZES)
    assert pairs["mated"].all()
    assert pairs.equals(pairs.sort_values(["image_a", "image_b"]).reset_index(drop=True))


def test_bad_arguments_name_the_problem() -> None:
    images = image_table(SIZES)
    with pytest.raises(DatasetError, match="race"):
        generated_pairs(images, 10, None, ["race"])
    with pytest.raises(ValueError, match="n_nonmated"):
        generated_pairs(images, -1, None)
    with pytest.raises(ValueError, match="mated_per_subject"):
        generated_pairs(images, 10, 0)
