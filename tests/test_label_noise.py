"""Label-noise intervals: hand-checked draws, and agreement with a direct recount."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.groups import Groups
from frbench.metrics.label_noise import darker_lighter_difference, draw_labels, label_noise_replicates
from frbench.metrics.grouped import per_group_rates


def pairs_and_subjects():
    # subjects: A, B definite darker/lighter with posteriors; H human (no posterior); U uncertain
    subjects = pd.DataFrame({
        "subject_id": ["A", "B", "H", "U"],
        "skin_tone": ["darker", "lighter", "lighter", "uncertain"],
        "p_darker": [0.9, 0.2, np.nan, 0.5],
    })
    tone = subjects.set_index("subject_id")["skin_tone"]
    rows = [("A", "A", True, 0.1), ("B", "B", True, 0.9), ("H", "H", True, 0.2), ("U", "U", True, 0.9),
            ("A", "B", False, 0.8), ("B", "H", False, 0.7), ("A", "H", False, 0.1)]
    pairs = pd.DataFrame(rows, columns=["subject_a", "subject_b", "mated", "score"])
    pairs["ok"] = True
    pairs["skin_tone_a"] = pairs["subject_a"].map(tone)
    pairs["skin_tone_b"] = pairs["subject_b"].map(tone)
    return pairs, subjects


def test_only_definite_estimated_labels_are_redrawn_at_their_posterior():
    _, subjects = pairs_and_subjects()
    rng = np.random.default_rng(0)
    draws = pd.DataFrame([draw_labels(subjects, rng) for _ in range(4000)])
    assert (draws["H"] == "lighter").all() and (draws["U"] == "uncertain").all()
    assert (draws["A"] == "darker").mean() == pytest.approx(0.9, abs=0.02)
    assert (draws["B"] == "darker").mean() == pytest.approx(0.2, abs=0.02)


def test_replicates_equal_a_recount_with_the_drawn_labels():
    pairs, subjects = pairs_and_subjects()
    groups = Groups.of(["skin_tone"])
    rows, fnmr, fmr = label_noise_replicates(pairs, groups, {"t": 0.5}, subjects, draws=30, seed=3)
    rng = np.random.default_rng(3)
    for r in range(30):
        label = draw_labels(subjects, rng)
        drawn = pairs.assign(skin_tone_a=pairs["subject_a"].map(label), skin_tone_b=pairs["subject_b"].map(label))
        direct = per_group_rates(drawn, groups, {"t": 0.5}).set_index(["threshold_name", "attribute", "group"])
        for i, key in enumerate(rows.itertuples(index=False)):
            expected = direct["fnmr"].get(tuple(key), np.nan)
            assert (np.isnan(fnmr[r, i]) and np.isnan(expected)) or fnmr[r, i] == pytest.approx(expected)


def test_difference_and_its_reversals():
    pairs, subjects = pairs_and_subjects()
    groups = Groups.of(["skin_tone"])
    table = per_group_rates(pairs, groups, {"t": 0.5})
    rows, fnmr, fmr = label_noise_replicates(pairs, groups, {"t": 0.5}, subjects, draws=200, seed=1)
    diff = darker_lighter_difference(table, rows, fnmr, fmr).set_index("rate")
    # measured: darker's one mated pair (A, 0.1) misses: FNMR 1; lighter's B (0.9) and H (0.2): 1/2
    assert diff.loc["fnmr", "darker_minus_lighter"] == pytest.approx(0.5)
    assert diff.loc["fnmr", "label_low"] <= 0.5 <= diff.loc["fnmr", "label_high"]
    assert 0 < diff.loc["fnmr", "share_reversed"] < 1  # some draws swap A and B's tones
    assert np.isnan(diff.loc["fmr", "share_reversed"])  # darker has no non-mated pair: no sign to reverse
