"""Imported scores: matching to a dataset's pairs in either side order, and every mismatch counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frbench.errors import DatasetError
from frbench.scoring.imported import MAX_EXAMPLES, import_scores

IMAGES = pd.DataFrame(
    {
        "image_id": ["a1", "a2", "b1", "b2", "c1"],
        "path": ["/x/a1", "/x/a2", "/x/b1", "/x/b2", "/x/c1"],
        "subject_id": ["A", "A", "B", "B", "C"],
    }
)
PAIRS = pd.DataFrame(
    {
        "image_a": ["a1", "a1", "b1", "b2"],
        "image_b": ["a2", "b1", "b2", "c1"],
        "mated": [True, False, True, False],
        "fold": [1, 1, 2, 2],
    }
)
# line 2 matches pair 1 with sides swapped; line 3 contradicts pair 2's mated; line 5 names an
# unknown image; line 6 repeats line 2; line 7 is a pair the protocol lacks; pair 4 has no row.
SCORES = """image_a,image_b,score,mated
a2,a1,0.9,yes
a1,b1,0.2,true
b1,b2,0.7,1
x9,b1,0.5,0
a1,a2,0.1,yes
a2,c1,0.3,no
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scores.csv"
    path.write_text(text)
    return path


def test_matching_to_dataset_pairs_counts_every_mismatch(tmp_path):
    result = import_scores(write(tmp_path, SCORES), IMAGES, PAIRS, "similarity")
    out = result.pairs
    assert out.columns.tolist() == ["image_a", "image_b", "mated", "fold", "ok", "score"]
    assert out[["image_a", "image_b"]].values.tolist() == PAIRS[["image_a", "image_b"]].values.tolist()
    assert out["ok"].tolist() == [True, True, True, False]
    np.testing.assert_array_equal(out["score"].to_numpy(), [0.9, 0.2, 0.7, np.nan])
    # The dataset's mated wins over the file's.
    assert out["mated"].tolist() == [True, False, True, False] and out["fold"].tolist() == [1, 1, 2, 2]
    assert (result.n_rows, result.pairs_from, result.direction) == (6, "dataset", "similarity")
    assert result.unknown_images.count == 1
    assert result.unknown_images.examples == ("line 5: 'x9' is not an image of the dataset",)
    assert result.duplicate_rows.count == 1
    assert result.duplicate_rows.examples == ("line 6: repeats line 2 (score 0.1 vs 0.9)",)
    assert result.extra_rows.count == 1 and result.extra_rows.examples == ("line 7: a2 / c1",)
    assert result.unscored_pairs.count == 1 and result.unscored_pairs.examples == ("b2 / c1",)
    assert result.mated_conflicts.count == 1
    assert result.mated_conflicts.examples == ("line 3: mated=true but the dataset says False for a1 / b1",)
    summary = json.loads(json.dumps(result.summary()))
    assert summary["n_scored"] == 3 and summary["n_pairs"] == 4 and summary["unscored_pairs"]["count"] == 1


def test_distance_is_negated(tmp_path):
    out = import_scores(write(tmp_path, SCORES), IMAGES, PAIRS, "distance").pairs
    np.testing.assert_array_equal(out["score"].to_numpy(), [-0.9, -0.2, -0.7, np.nan])


def test_without_dataset_pairs_the_file_defines_them(tmp_path):
    result = import_scores(write(tmp_path, SCORES), IMAGES, None, "similarity")
    out = result.pairs
    assert out[["image_a", "image_b"]].values.tolist() == [["a2", "a1"], ["a1", "b1"], ["b1", "b2"], ["a2", "c1"]]
    # mated from subject ids; the file's contradicting 'true' on line 3 is counted.
    assert out["mated"].tolist() == [True, False, True, False]
    assert out["ok"].all() and out["score"].tolist() == [0.9, 0.2, 0.7, 0.3] and "fold" not in out
    assert result.pairs_from == "scores" and result.mated_conflicts.count == 1
    assert (result.unknown_images.count, result.duplicate_rows.count) == (1, 1)
    assert (result.extra_rows.count, result.unscored_pairs.count) == (0, 0)


def test_without_a_mated_column_nothing_conflicts(tmp_path):
    result = import_scores(write(tmp_path, "image_a,image_b,score\nb2,b1,3\nc1,a1,-1e-3\n"), IMAGES, None, "distance")
    assert result.pairs["mated"].tolist() == [True, False] and result.pairs["score"].tolist() == [-3.0, 0.001]
    assert result.mated_conflicts.count == 0


def test_examples_are_capped_but_counts_are_not(tmp_path):
    rows = "".join(f"ghost{i},a1,{i}\n" for i in range(MAX_EXAMPLES + 3))
    result = import_scores(write(tmp_path, "image_a,image_b,score\n" + rows), IMAGES, PAIRS, "similarity")
    assert result.unknown_images.count == MAX_EXAMPLES + 3
    assert len(result.unknown_images.examples) == MAX_EXAMPLES
    assert result.unscored_pairs.count == 4 and not result.pairs["ok"].any()


def test_a_blank_score_is_an_unscored_pair_not_an_error(tmp_path):
    """frbench writes a blank score for a pair whose image failed to enrol; reading it back, the
    pair stays and counts as failed (with a dataset pair list and without one)."""
    text = "image_a,image_b,score\na1,a2,\nb1,b2,0.7\n"
    with_pairs = import_scores(write(tmp_path, text), IMAGES, PAIRS, "similarity")
    assert with_pairs.pairs["ok"].tolist() == [False, False, True, False]
    assert with_pairs.unscored_pairs.count == 3
    alone = import_scores(write(tmp_path, text), IMAGES, None, "similarity")
    assert alone.pairs["ok"].tolist() == [False, True] and len(alone.pairs) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image_a,image_b,score\na1,a2,0.5\na1,b1,high\n", r"scores.csv:3: score 'high' is not a finite number"),
        ("image_a,image_b,score\na1,a2,nan\n", r"scores.csv:2: score 'nan' is not a finite number"),
        ("image_a,image_b,score\na1,a2,inf\n", r"scores.csv:2: score 'inf' is not a finite number"),
        ("image_a,image_b,similarity\na1,a2,1\n", r"scores.csv:1: missing column\(s\) \['score'\]"),
        ("image_a,image_b,score,mated\na1,a2,1,maybe\n", r"scores.csv:2: mated 'maybe' is not true/false"),
        ("image_a,image_b,score\na1,a1,1\n", r"scores.csv:2: compares image 'a1' with itself"),
        ("image_a,image_b,score\n,a1,1\n", r"scores.csv:2: empty image_a"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        import_scores(write(tmp_path, text), IMAGES, PAIRS, "similarity")


def test_unknown_direction(tmp_path):
    with pytest.raises(DatasetError, match="direction must be one of"):
        import_scores(write(tmp_path, SCORES), IMAGES, PAIRS, "higher")


ALL_IMAGES = IMAGES["image_id"].tolist() + ["ghost"]
ROW = st.tuples(st.sampled_from(ALL_IMAGES), st.sampled_from(ALL_IMAGES), st.integers(-50, 50)).filter(
    lambda r: r[0] != r[1]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=20))
def test_agrees_with_a_dictionary_lookup(tmp_path, rows):
    """An independent reading: first row per unordered pair wins, rows with an unknown image are
    skipped, every dataset pair looks itself up; every row lands in exactly one bucket."""
    text = "image_a,image_b,score\n" + "".join(f"{a},{b},{s}\n" for a, b, s in rows)
    result = import_scores(write(tmp_path, text), IMAGES, PAIRS, "similarity")
    known = set(IMAGES["image_id"])
    first: dict[frozenset, int] = {}
    unknown = duplicates = 0
    for a, b, s in rows:
        if a not in known or b not in known:
            unknown += 1
        elif frozenset((a, b)) in first:
            duplicates += 1
        else:
            first[frozenset((a, b))] = s
    protocol = {frozenset(p) for p in zip(PAIRS["image_a"], PAIRS["image_b"])}
    expected = [first.get(frozenset(p), np.nan) for p in zip(PAIRS["image_a"], PAIRS["image_b"])]
    np.testing.assert_array_equal(result.pairs["score"].to_numpy(), np.array(expected, dtype=float))
    assert result.unknown_images.count == unknown and result.duplicate_rows.count == duplicates
    assert result.extra_rows.count == len(set(first) - protocol)
    assert result.unscored_pairs.count == len(protocol - set(first))
    scored_rows = int(result.pairs["ok"].sum())
    assert unknown + duplicates + result.extra_rows.count + scored_rows == len(rows)
