"""Skin-tone sensitivity analysis: labels drawn from annotators' answers and held-out confusion,
subjects resampled with them, undefined replicates counted, enough replicates, and the report's words.

Subject tables carry ``p_darker`` as estimated subjects' tables do; the analysis must not use it
(it is calibrated on the estimator's own training data only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.config import StatsConfig, validate_config
from frbench.groups import Groups
from frbench.measure.listed import measure_listed
from frbench.metrics.grouped import bootstrap_replicates

SKIN = Groups.of(["skin_tone"])
NO_ANSWERS = {"n_darker": 0, "n_lighter": 0, "n_unsure": 0}


def subject(sid, tone, estimated=False, p=np.nan, answers=(0, 0, 0), heldout=(np.nan, np.nan)):
    return {"subject_id": sid, "skin_tone": tone, "p_darker": p, "estimated": estimated,
            "n_darker": answers[0], "n_lighter": answers[1], "n_unsure": answers[2],
            "heldout_n": heldout[0], "heldout_n_darker": heldout[1]}


def scored(rows, subjects):
    """Pairs (subject_a, subject_b, mated, score), sides labelled with the subjects' measured tone."""
    tone = subjects.set_index("subject_id")["skin_tone"]
    pairs = pd.DataFrame(rows, columns=["subject_a", "subject_b", "mated", "score"])
    pairs["ok"] = True
    pairs["skin_tone_a"] = pairs["subject_a"].map(tone)
    pairs["skin_tone_b"] = pairs["subject_b"].map(tone)
    return pairs


def run_config(draws=1000, bootstrap=0):
    return validate_config({"name": "t", "dataset": {"name": "x"}, "groups": ["skin_tone"],
                            "thresholds": {"deepface_default": False, "fixed": [0.5], "target_fmr": [],
                                           "fold_calibrated": False},
                            "stats": {"label_draws": draws, "bootstrap": bootstrap, "permutations": 9, "seed": 1}})


def population(n_lighter=30, n_darker=30, seed=0):
    """Fixed labels (no noise), one mated pair each and random non-mated pairs; FNMR about 0.2."""
    rng = np.random.default_rng(seed)
    ids = [f"L{i}" for i in range(n_lighter)] + [f"D{i}" for i in range(n_darker)]
    subjects = pd.DataFrame([subject(s, "lighter" if s[0] == "L" else "darker") for s in ids])
    rows = [(s, s, True, float(rng.random() < 0.8)) for s in ids]
    for _ in range(600):
        a, b = rng.choice(len(ids), 2, replace=False)
        rows.append((ids[a], ids[b], False, float(rng.random() < 0.1)))
    return scored(rows, subjects), subjects


def by_group(per_group):
    return per_group[per_group["attribute"] == "skin_tone"].set_index("group")


# ---- the label model ---------------------------------------------------------------------------

def test_annotated_subjects_draw_one_of_their_answers_and_unsure_means_uncertain():
    from frbench.metrics.label_noise import draw_labels, label_model

    subjects = pd.DataFrame([
        subject("agree", "darker", answers=(2, 0, 0)),
        subject("split", "darker", answers=(2, 1, 0)),   # a third annotator settled a disagreement
        subject("unsure", "lighter", answers=(0, 1, 1)),
        subject("fixed", "unknown"),
    ])
    model = label_model(subjects)
    rng = np.random.default_rng(0)
    draws = pd.DataFrame([draw_labels(model, rng) for _ in range(6000)], columns=subjects["subject_id"])
    assert (draws["agree"] == "darker").all() and (draws["fixed"] == "unknown").all()
    assert (draws["split"] == "darker").mean() == pytest.approx(2 / 3, abs=0.02)
    assert set(draws["split"]) == {"darker", "lighter"}
    assert (draws["unsure"] == "uncertain").mean() == pytest.approx(0.5, abs=0.02)
    assert set(draws["unsure"]) == {"lighter", "uncertain"}


def test_estimated_labels_follow_the_held_out_confusion_not_their_own_p_darker():
    # audit: P(darker) is calibrated only on the estimator's own training data
    from frbench.metrics.label_noise import draw_labels, label_model

    # the estimator is sure (p 0.99), but held out its darker calls were perceived darker 5 of 10 times
    subjects = pd.DataFrame([subject(f"d{i}", "darker", True, 0.99, heldout=(10, 5)) for i in range(50)]
                            + [subject(f"l{i}", "lighter", True, 0.01, heldout=(200, 2)) for i in range(50)])
    model = label_model(subjects)
    rng = np.random.default_rng(1)
    draws = np.array([draw_labels(model, rng) for _ in range(3000)])
    darker_called = draws[:, :50] == "darker"
    assert darker_called.mean() == pytest.approx(0.5, abs=0.03)          # Beta(5.5, 5.5) has mean 1/2
    assert (draws[:, 50:] == "darker").mean() == pytest.approx(2.5 / 201, abs=0.004)
    # one theta per call per replicate: the subjects of a call move together, so replicate shares spread
    # like Beta(5.5, 5.5) (sd 0.14), far more than 50 independent coin flips would (sd 0.07)
    assert darker_called.mean(axis=1).std() > 0.11


def test_without_a_recorded_held_out_confusion_the_call_carries_no_information():
    from frbench.metrics.label_noise import draw_labels, label_model

    subjects = pd.DataFrame([subject(f"d{i}", "darker", True, 0.95) for i in range(20)])
    model = label_model(subjects)
    rng = np.random.default_rng(2)
    draws = np.array([draw_labels(model, rng) for _ in range(4000)])
    assert (draws == "darker").mean() == pytest.approx(0.5, abs=0.03)
    assert not model.heldout_recorded.any()


def test_uncertain_estimated_subjects_are_redrawn():
    # audit: `uncertain` subjects were never redrawn
    subjects = pd.DataFrame([subject(f"D{i}", "darker", True, 0.9, heldout=(200, 199)) for i in range(15)]
                            + [subject(f"L{i}", "lighter", True, 0.1, heldout=(200, 1)) for i in range(15)]
                            + [subject("U", "uncertain", True, 0.5, heldout=(30, 15))])
    # only U misses its mate; darker and lighter subjects all match theirs
    rows = [(s, s, True, 0.9) for s in subjects["subject_id"] if s != "U"] + [("U", "U", True, 0.1)]
    result = measure_listed(run_config(400), scored(rows, subjects), SKIN, subjects)
    darker = by_group(result.per_group).loc["darker"]
    assert darker["fnmr"] == 0
    # in some replicates U is perceived darker and brings its false non-match to the darker group
    assert darker["fnmr_sens_high"] > 0


# ---- sampling and undefined replicates -----------------------------------------------------------

def test_a_darker_group_with_one_nonmated_pair_is_no_certain_difference():
    # audit: group size was ignored; 1 non-mated pair gave share_reversed 0, a "certain" difference
    lighter_pairs, lighter = population(n_darker=0)
    darker = pd.DataFrame([subject(s, "darker", True, 0.97, heldout=(40, 39)) for s in ("D0", "D1")])
    subjects = pd.concat([lighter, darker], ignore_index=True)
    # the darker group: two subjects, their mated pairs and a single non-mated pair, not a false match
    pairs = pd.concat([lighter_pairs, scored([("D0", "D0", True, 1.0), ("D1", "D1", True, 1.0),
                                              ("D0", "D1", False, 0.0)], subjects)], ignore_index=True)
    result = measure_listed(run_config(400), pairs, SKIN, subjects)
    groups = by_group(result.per_group)
    assert groups.loc["darker", "n_nonmated"] == 1 and groups.loc["darker", "fmr"] == 0 < groups.loc["lighter", "fmr"]
    fmr = result.label_noise.set_index("rate").loc["fmr"]
    assert fmr["darker_minus_lighter"] < 0
    assert fmr["share_reversed"] != 0
    # the single pair exists only in replicates that draw both subjects: the interval is withheld
    assert fmr["sens_status"] == "not_reported" and fmr["undefined_share"] > 0.05
    assert groups.loc["darker", "fmr_sens_status"] == "not_reported" and np.isnan(groups.loc["darker", "fmr_sens_low"])


def test_undefined_replicates_are_counted_and_withhold_the_interval_over_five_percent():
    # audit: undefined draws were dropped silently (83 % in one cell)
    lighter_pairs, lighter = population(n_darker=0)
    # the darker group is one subject called darker; held out, such calls were perceived darker 2 in 3
    # times, so the group is empty in many replicates (not drawn, or perceived lighter)
    subjects = pd.concat([lighter, pd.DataFrame([subject("X", "darker", True, 0.75, heldout=(30, 20))])],
                         ignore_index=True)
    pairs = pd.concat([lighter_pairs, scored([("X", "X", True, 0.0)], subjects)], ignore_index=True)
    result = measure_listed(run_config(400), pairs, SKIN, subjects)
    darker = by_group(result.per_group).loc["darker"]
    assert darker["fnmr_sens_undefined_share"] > 0.05
    assert darker["fnmr_sens_status"] == "not_reported"
    assert np.isnan(darker["fnmr_sens_low"]) and np.isnan(darker["fnmr_sens_high"])
    lighter = by_group(result.per_group).loc["lighter"]
    assert lighter["fnmr_sens_undefined_share"] == 0 and lighter["fnmr_sens_status"] == "two_sided"


def test_without_label_noise_the_replicates_are_the_subject_bootstrap():
    # simulation: fixed labels, a known FNMR of 0.2; the combined analysis reduces to the bootstrap
    from frbench.metrics.label_noise import sensitivity_replicates

    pairs, subjects = population(seed=3)
    rows, fnmr, fmr = sensitivity_replicates(pairs, SKIN, {"t": 0.5}, subjects, draws=300, seed=7)
    boot_fmr, boot_fnmr = bootstrap_replicates(pairs, SKIN, {"t": 0.5}, 300, seed=7)
    np.testing.assert_array_equal(fnmr, boot_fnmr)
    np.testing.assert_array_equal(fmr, boot_fmr)
    assert list(rows["group"]) == ["all", "darker", "lighter"]


def test_label_noise_widens_the_interval_beyond_sampling_alone():
    pairs, subjects = population(seed=4)
    # every darker subject's two annotators disagree (one darker, one lighter); lighter ones agree
    darker = subjects["skin_tone"] == "darker"
    subjects.loc[darker, ["n_darker", "n_lighter"]] = [1, 1]
    subjects.loc[~darker, "n_lighter"] = 2
    row = by_group(measure_listed(run_config(400, bootstrap=400), pairs, SKIN, subjects).per_group).loc["darker"]
    # the same subject draws (seed) with and without the label draws
    assert row["fnmr_sens_high"] - row["fnmr_sens_low"] > row["fnmr_boot_high"] - row["fnmr_boot_low"]


def test_an_inconsistent_subject_table_is_refused():
    from frbench.metrics.label_noise import label_model

    with pytest.raises(ValueError, match="either labelled by annotators or estimated"):
        label_model(pd.DataFrame([subject("A", "darker", True, answers=(1, 0, 0))]))
    with pytest.raises(ValueError, match="different held-out counts"):
        label_model(pd.DataFrame([subject("A", "darker", True, heldout=(3, 1)),
                                  subject("B", "darker", True, heldout=(4, 1))]))
    with pytest.raises(ValueError, match="0 <= heldout_n_darker <= heldout_n"):
        label_model(pd.DataFrame([subject("A", "darker", True, heldout=(3, 4))]))


# ---- replicates and words --------------------------------------------------------------------------

def test_the_default_number_of_draws_is_at_least_a_thousand():
    # audit: 200 draws were too few (upper ends moved from 0.26 to 0.32 with 1,000)
    assert StatsConfig().label_draws >= 1000


def test_fewer_draws_are_said_and_the_result_is_called_a_sensitivity_analysis():
    from frbench.report.markdown import sensitivity_lines

    pairs, subjects = population(seed=5)
    subjects["n_darker"] = (subjects["skin_tone"] == "darker").astype(int) * 2
    subjects["n_lighter"] = (subjects["skin_tone"] == "lighter").astype(int) * 2
    subjects.loc[0, ["n_darker", "n_lighter"]] = [1, 1]
    images = subjects.assign(skin_tone_source="annotators")
    for draws, said in ((200, True), (1000, False)):
        result = measure_listed(run_config(draws), pairs, SKIN, subjects)
        text = "\n".join(sensitivity_lines(images, result.label_noise))
        assert "sensitivity analysis, not a confidence interval" in text
        assert ("fewer than the 1,000 recommended" in text) is said
        assert "confidence interval" not in text.replace("not a confidence interval", "")
