"""One policy for where a subject's skin tone comes from: human labels first, then the estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.annotate.sources import apply_human_labels, coverage, human_skin_tone, source_counts
from frbench.errors import DatasetError

HEADER = "subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool\n"


def label_file(tmp_path, who, rows):
    path = tmp_path / f"annotator-{who}.csv"
    path.write_text(HEADER + "".join(f"{s},{s}/1.jpg,{who},{b},{m},2026-12-01T10:00:00Z,test\n" for s, b, m in rows))
    return path


def estimated_images():
    return pd.DataFrame({
        "image_id": ["A/1.jpg", "A/2.jpg", "B/1.jpg", "C/1.jpg", "D/1.jpg"],
        "subject_id": ["A", "A", "B", "C", "D"],
        "skin_tone": ["lighter", "lighter", "uncertain", "darker", "lighter"],
        "skin_tone_category": ["monk_3", "monk_3", "monk_5", "monk_7", "monk_2"],
        "skin_tone_source": "estimator",
        "p_darker": [0.1, 0.1, 0.5, 0.9, 0.05],
    })


def test_human_consensus_replaces_the_estimate_and_unsure_is_uncertain(tmp_path):
    a = label_file(tmp_path, "a", [("A", "darker", 7), ("B", "lighter", 2), ("C", "unsure", ""), ("Z", "darker", 8)])
    b = label_file(tmp_path, "b", [("A", "darker", 8), ("B", "lighter", 3), ("C", "unsure", "")])
    human = human_skin_tone([a, b])
    out, counts = apply_human_labels(estimated_images(), human)
    by_subject = out.drop_duplicates("subject_id").set_index("subject_id")
    # A: both darker, overrides the estimate; B: labelled lighter, overrides "uncertain";
    # C: both unsure -> uncertain, no estimate overrides people who looked; D: no label, estimate kept
    assert by_subject["skin_tone"].to_dict() == {"A": "darker", "B": "lighter", "C": "uncertain", "D": "lighter"}
    assert by_subject["skin_tone_source"].to_dict() == {"A": "human", "B": "human", "C": "human", "D": "estimator"}
    assert by_subject.loc["A", "skin_tone_category"] == "monk_7"  # the lower median of 7 and 8
    assert np.isnan(by_subject.loc["A", "p_darker"]) and by_subject.loc["D", "p_darker"] == 0.05
    assert counts == {"subjects_labelled": 4, "used": 3, "not_in_run": 1}  # Z is not in this run
    assert source_counts(out).to_dict("records") == [
        {"skin_tone_source": "estimator", "skin_tone": "lighter", "subjects": 1},
        {"skin_tone_source": "human", "skin_tone": "darker", "subjects": 1},
        {"skin_tone_source": "human", "skin_tone": "lighter", "subjects": 1},
        {"skin_tone_source": "human", "skin_tone": "uncertain", "subjects": 1},
    ]
    assert coverage(out) == pytest.approx(3 / 4)


def test_a_tie_between_annotators_is_uncertain(tmp_path):
    a = label_file(tmp_path, "a", [("A", "darker", 7)])
    b = label_file(tmp_path, "b", [("A", "lighter", 4)])
    assert human_skin_tone([a, b]).set_index("subject_id").loc["A", "skin_tone"] == "uncertain"


def test_a_missing_label_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="no such file .*nope.csv"):
        human_skin_tone([tmp_path / "nope.csv"])
