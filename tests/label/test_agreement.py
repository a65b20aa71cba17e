"""Agreement statistics against hand-worked cases and independent implementations
(``sklearn.metrics.cohen_kappa_score``, the ``krippendorff`` package), and the tables built on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from frbench.cli import main
from frbench.label.agreement import agreement, answer_intervals, cohen_kappa, consensus, krippendorff_alpha, label_summary
from frbench.label.files import CONSENSUS_COLUMNS, label_row, read_label_file, write_label_file
from frbench.metrics.intervals import percentile_interval, subject_draws

krippendorff = pytest.importorskip("krippendorff")
sk_metrics = pytest.importorskip("sklearn.metrics")

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders, 12 units,
# values 1-5, missing values; published alpha nominal 0.743, ordinal 0.815.
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
])  # fmt: skip


def test_kappa_hand_worked():
    # p_o = 4/5; shares a: L 3/5, D 2/5; b: L 2/5, D 3/5 -> p_e = 12/25; kappa = (0.8-0.48)/0.52 = 8/13
    a, b = list("LLDDL"), list("LDDDL")
    assert cohen_kappa(a, b) == pytest.approx(8 / 13)
    assert cohen_kappa(a, b) == pytest.approx(sk_metrics.cohen_kappa_score(a, b))
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    # always opposite, balanced: p_o = 0, p_e = 1/2 -> -1
    assert cohen_kappa(list("LD"), list("DL")) == pytest.approx(-1.0)
    # one shared answer everywhere: agreement beyond chance is undefined
    assert np.isnan(cohen_kappa(list("LLL"), list("LLL")))


def test_kappa_matches_sklearn_on_random_answers():
    rng = np.random.default_rng(5)
    for _ in range(100):
        a = rng.choice(["lighter", "darker", "unsure"], 30)
        b = np.where(rng.random(30) < 0.6, a, rng.choice(["lighter", "darker", "unsure"], 30))
        assert cohen_kappa(a, b) == pytest.approx(sk_metrics.cohen_kappa_score(a, b), abs=1e-12)


def test_alpha_hand_worked_binary():
    # units (L,L) (L,D) (D,D) (D,D): o_LL = 2, o_LD = o_DL = 1, o_DD = 4; n_L = 3, n_D = 5, n = 8
    # alpha = 1 - (n-1) * 2 / (2 * 3 * 5) = 8/15
    data = [[0, 0, 1, 1], [0, 1, 1, 1]]
    assert krippendorff_alpha(data, "nominal") == pytest.approx(8 / 15)


def test_alpha_hand_worked_ordinal():
    # units (1,2) (2,2) (3,3): n_1 = 1, n_2 = 3, n_3 = 2, n = 6; only o_12 = o_21 = 1 off the diagonal.
    # d_12 = ((1+3) - (1+3)/2)^2 = 4, d_13 = (6 - 1.5)^2 = 20.25, d_23 = (5 - 2.5)^2 = 6.25
    # observed 2 * 4 = 8; expected 2 * (3*4 + 2*20.25 + 6*6.25) = 180; alpha = 1 - 5 * 8 / 180 = 7/9
    data = [[1, 2, 3], [2, 2, 3]]
    assert krippendorff_alpha(data, "ordinal") == pytest.approx(7 / 9)
    # nominal: observed 2, expected 2 * (3 + 2 + 6) = 22 -> 1 - 5 * 2 / 22 = 6/11
    assert krippendorff_alpha(data, "nominal") == pytest.approx(6 / 11)


def test_alpha_matches_the_published_example_and_the_krippendorff_package():
    assert krippendorff_alpha(KRIPPENDORFF_2011, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(KRIPPENDORFF_2011, "ordinal") == pytest.approx(0.815, abs=5e-4)
    rng = np.random.default_rng(2)
    for _ in range(50):
        data = rng.integers(1, 11, (4, 25)).astype(float)
        data[rng.random(data.shape) < 0.35] = NAN
        for level in ("nominal", "ordinal"):
            expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
            assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-10)


def test_alpha_undefined_cases():
    assert np.isnan(krippendorff_alpha([[1, 1], [1, 1]]))  # one value only
    assert np.isnan(krippendorff_alpha([[1, NAN], [NAN, 2]]))  # nothing pairable
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha([[1, 2], [1, 2]], "interval")


def answers_frame(table: dict[str, dict[str, tuple[str, str]]]) -> pd.DataFrame:
    """{annotator: {subject: (binary, monk)}} -> answers as read_annotator_files returns them."""
    rows = [
        {"subject_id": s, "image_id": f"{s}/1.jpg", "annotator": who, "skin_tone_binary": b, "monk": m,
         "labelled_at": "2026-12-01T10:00:00.000Z", "tool": "t"}
        for who, answers in table.items() for s, (b, m) in answers.items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


def random_answers(seed: int, annotators: int, subjects: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 11, subjects)
    table = {}
    for j in range(annotators):
        answers = {}
        for i in range(subjects):
            if rng.random() < 0.2:
                continue  # not every annotator sees every subject
            monk = int(np.clip(truth[i] + rng.integers(-1, 2), 1, 10))
            binary = "unsure" if rng.random() < 0.1 else ("lighter" if monk <= 5 else "darker")
            answers[f"s{i:02d}"] = (binary, str(monk) if rng.random() < 0.8 else "")
        table[f"ann{j}"] = answers
    return answers_frame(table)


def reliability(answers: pd.DataFrame, column: str, codes: dict[str, float]) -> np.ndarray:
    wide = answers.pivot(index="subject_id", columns="annotator", values=column).sort_index()
    return wide.T.apply(lambda col: col.map(codes)).to_numpy(dtype=float)


def test_agreement_statistics_match_independent_implementations():
    answers = random_answers(1, annotators=3)
    result = agreement(answers, replicates=50)
    stats = result.statistics.set_index(["statistic", "annotators"])
    binary = {"lighter": 0.0, "darker": 1.0}  # unsure: no answer (the default)
    monk = {str(i): float(i) for i in range(1, 11)}
    wide = answers.pivot(index="subject_id", columns="annotator", values="skin_tone_binary")
    for a, b in [("ann0", "ann1"), ("ann0", "ann2"), ("ann1", "ann2")]:
        both = wide[a].isin(binary) & wide[b].isin(binary)
        row = stats.loc[("cohen_kappa", f"{a}|{b}")]
        assert row["n_subjects"] == both.sum()
        assert row["value"] == pytest.approx(sk_metrics.cohen_kappa_score(wide.loc[both, a], wide.loc[both, b]))
    nominal = krippendorff.alpha(reliability_data=reliability(answers, "skin_tone_binary", binary), level_of_measurement="nominal")
    ordinal = krippendorff.alpha(reliability_data=reliability(answers, "monk", monk), level_of_measurement="ordinal")
    assert stats.loc[("krippendorff_alpha_nominal", "all"), "value"] == pytest.approx(nominal)
    assert stats.loc[("krippendorff_alpha_ordinal", "all"), "value"] == pytest.approx(ordinal)


def test_unsure_as_a_category():
    answers = answers_frame({
        "a": {"s1": ("lighter", ""), "s2": ("unsure", ""), "s3": ("darker", ""), "s4": ("unsure", "")},
        "b": {"s1": ("lighter", ""), "s2": ("unsure", ""), "s3": ("darker", ""), "s4": ("lighter", "")},
    })  # fmt: skip
    missing = agreement(answers, replicates=10).statistics.set_index("statistic")
    category = agreement(answers, replicates=10, unsure="category").statistics.set_index("statistic")
    # as no answer: s1 and s3 remain, both agreed
    assert missing.loc["cohen_kappa", "n_subjects"] == 2
    assert missing.loc["cohen_kappa", "value"] == pytest.approx(1.0)
    # as a category: all four, s4 a disagreement
    a, b = ["lighter", "unsure", "darker", "unsure"], ["lighter", "unsure", "darker", "lighter"]
    assert category.loc["cohen_kappa", "n_subjects"] == 4
    assert category.loc["cohen_kappa", "value"] == pytest.approx(sk_metrics.cohen_kappa_score(a, b))


def test_bootstrap_intervals_equal_explicit_resampling():
    answers = random_answers(3, annotators=2, subjects=25)
    replicates, seed = 100, 7
    result = agreement(answers, replicates=replicates, seed=seed).statistics.set_index("statistic")
    # Independent route: materialise each replicate's resampled subjects (a subject drawn c times
    # becomes c subjects) and compute the statistics with sklearn and krippendorff.
    subjects = sorted(answers["subject_id"].unique())
    draws = subject_draws(len(subjects), replicates, seed)
    binary = {"lighter": 0.0, "darker": 1.0}
    monk = {str(i): float(i) for i in range(1, 11)}
    kappas, alphas = [], []
    for counts in draws:
        copies = [answers[answers["subject_id"] == s].assign(subject_id=f"{s}#{c}")
                  for s, n in zip(subjects, counts) for c in range(n)]  # fmt: skip
        sample = pd.concat(copies)
        wide = sample.pivot(index="subject_id", columns="annotator", values="skin_tone_binary")
        both = wide["ann0"].isin(binary) & wide["ann1"].isin(binary)
        x, y = wide.loc[both, "ann0"], wide.loc[both, "ann1"]
        kappas.append(sk_metrics.cohen_kappa_score(x, y) if len(set(x) | set(y)) > 1 else NAN)
        alphas.append(krippendorff.alpha(reliability_data=reliability(sample, "monk", monk), level_of_measurement="ordinal"))
    for statistic, values in (("cohen_kappa", kappas), ("krippendorff_alpha_ordinal", alphas)):
        low, high = percentile_interval(np.array(values, dtype=float))
        assert result.loc[statistic, "ci_low"] == pytest.approx(low, abs=1e-9)
        assert result.loc[statistic, "ci_high"] == pytest.approx(high, abs=1e-9)
        assert low <= result.loc[statistic, "value"] <= high


def test_bootstrap_is_reproducible_and_seeded():
    answers = random_answers(4, annotators=2)
    a = agreement(answers, replicates=100, seed=1).statistics
    b = agreement(answers, replicates=100, seed=1).statistics
    c = agreement(answers, replicates=100, seed=2).statistics
    pd.testing.assert_frame_equal(a, b)
    assert not a[["ci_low", "ci_high"]].equals(c[["ci_low", "ci_high"]])


def test_consensus_hand_worked():
    answers = answers_frame({
        "a": {"X": ("lighter", "3"), "Y": ("lighter", "2"), "Z": ("lighter", ""), "W": ("darker", "8")},
        "b": {"X": ("lighter", "4"), "Y": ("darker", "7"), "Z": ("unsure", "")},
        "c": {"X": ("darker", "6")},
    })  # fmt: skip
    out = consensus(answers).set_index("subject_id")
    assert list(out.reset_index().columns) == list(CONSENSUS_COLUMNS)
    assert out.loc["X", ["skin_tone_binary", "monk", "n_annotators", "n_agree"]].tolist() == ["lighter", "4", 3, 2]
    # a tie is unsure; nobody said unsure, so nobody agrees with it; Monk lower median of 2, 7
    assert out.loc["Y", ["skin_tone_binary", "monk", "n_annotators", "n_agree"]].tolist() == ["unsure", "2", 2, 0]
    assert out.loc["Z", ["skin_tone_binary", "monk", "n_annotators", "n_agree"]].tolist() == ["unsure", "", 2, 1]
    assert out.loc["W", ["skin_tone_binary", "monk", "n_annotators", "n_agree"]].tolist() == ["darker", "8", 1, 1]
    assert (out["annotator"] == "consensus").all()


def test_confusion_and_disagreements():
    answers = answers_frame({
        "a": {"X": ("lighter", "3"), "Y": ("lighter", "2"), "Z": ("darker", "6"), "V": ("lighter", "1")},
        "b": {"X": ("lighter", "4"), "Y": ("darker", "7"), "Z": ("darker", "9"), "U": ("darker", "")},
    })  # fmt: skip
    result = agreement(answers, replicates=10)
    conf = result.confusion[result.confusion["scale"] == "binary"].set_index(["answer_a", "answer_b"])["n"]
    assert len(conf) == 9 and conf.sum() == 3  # the three subjects both answered
    assert conf[("lighter", "lighter")] == 1 and conf[("lighter", "darker")] == 1 and conf[("darker", "darker")] == 1
    monk = result.confusion[result.confusion["scale"] == "monk"]
    assert len(monk) == 100 and monk["n"].sum() == 3
    # Y differs in the binary; Z agrees on darker but is 3 Monk steps apart; X is one step apart
    listed = result.disagreements.set_index("subject_id")
    assert sorted(listed.index) == ["Y", "Z"]
    assert listed.loc["Y", ["binary_a", "binary_b", "monk_a", "monk_b"]].tolist() == ["lighter", "darker", "2", "7"]
    assert listed.loc["Z", "monk_range"] == 3


def test_one_annotator_gives_undefined_agreement():
    answers = answers_frame({"a": {"X": ("lighter", "3"), "Y": ("darker", "8")}})
    stats = agreement(answers, replicates=10).statistics
    assert "cohen_kappa" not in set(stats["statistic"])
    assert stats["value"].isna().all() and (stats["n_subjects"] == 0).all()


def write_answers(path: Path, who: str, answers: list[tuple[str, str, str, str]]) -> Path:
    write_label_file(path, [label_row(s, [f"{s}/1.jpg"], who, b, m, t) for s, b, m, t in answers])
    return path


def test_label_summary(tmp_path):
    a = write_answers(tmp_path / "a.csv", "a", [
        ("X", "lighter", "3", "2026-12-01T10:00:00.000Z"),
        ("Y", "darker", "7", "2026-12-01T10:00:02.000Z"),
        ("Z", "unsure", "", "2026-12-01T10:00:05.000Z"),
        ("X", "lighter", "2", "2026-12-01T11:00:00.000Z"),  # after a break: not a labelling time
    ])  # fmt: skip
    b = write_answers(tmp_path / "b.csv", "b", [
        ("X", "lighter", "3", "2026-12-01T10:00:00.000Z"),
        ("Y", "lighter", "5", "2026-12-01T10:00:04.000Z"),
    ])  # fmt: skip
    summary = label_summary([a, b], replicates=50)
    assert summary["annotators"] == ["a", "b"]
    assert summary["n_subjects"] == 3
    assert summary["n_single_annotator"] == 1 and summary["share_single_annotator"] == pytest.approx(1 / 3)
    assert summary["n_unsure"] == 1
    assert summary["kappa_binary"]["n_subjects"] == 2
    assert summary["kappa_binary"]["value"] == pytest.approx(sk_metrics.cohen_kappa_score(["lighter", "darker"], ["lighter", "lighter"]))
    # gaps 2 s, 3 s (a) and 4 s (b); the hour-long one is a break
    assert summary["median_seconds_per_answer"] == pytest.approx(3.0)
    assert answer_intervals(read_label_file(a)).tolist() == [2.0, 3.0]
    solo = label_summary([a], replicates=10)
    assert solo["kappa_binary"] is None and np.isnan(solo["alpha_binary"]["value"])
    assert solo["share_single_annotator"] == 1.0


def test_cli_agreement_writes_tables_and_a_readable_consensus(tmp_path):
    a = write_answers(tmp_path / "a.csv", "a", [
        ("X", "lighter", "3", "2026-12-01T10:00:00.000Z"), ("Y", "darker", "7", "2026-12-01T10:00:02.000Z"),
        ("Z", "darker", "8", "2026-12-01T10:00:04.000Z"),
    ])  # fmt: skip
    b = write_answers(tmp_path / "b.csv", "b", [
        ("X", "lighter", "4", "2026-12-01T10:00:00.000Z"), ("Y", "lighter", "5", "2026-12-01T10:00:02.000Z"),
        ("Z", "darker", "9", "2026-12-01T10:00:04.000Z"),
    ])  # fmt: skip
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["label", "agreement", str(a), str(b), "-o", str(out), "--replicates", "50"])
    assert result.exit_code == 0, result.output
    assert "2 annotators, 3 subjects, 3 with two or more answers, 1 disagreements" in result.output
    stats = pd.read_csv(out / "agreement.csv").set_index("statistic")
    expected = sk_metrics.cohen_kappa_score(["lighter", "darker", "darker"], ["lighter", "lighter", "darker"])
    assert stats.loc["cohen_kappa", "value"] == pytest.approx(expected)
    assert pd.read_csv(out / "disagreements.csv")["subject_id"].tolist() == ["Y"]
    assert pd.read_csv(out / "confusion.csv")["n"].sum() == 6
    agreed = read_label_file(out / "consensus.csv").set_index("subject_id")
    assert agreed.loc["Y", "skin_tone_binary"] == "unsure" and agreed.loc["Z", "n_agree"] == 2


def test_consensus_time_is_the_latest_answer_by_time_not_by_spelling():
    answers = answers_frame({"a": {"X": ("lighter", "")}, "b": {"X": ("lighter", "")}})
    answers["labelled_at"] = ["2026-12-01T10:00:00Z", "2026-12-01T10:00:00.500Z"]  # '.' sorts before 'Z'
    assert consensus(answers)["labelled_at"].iloc[0] == "2026-12-01T10:00:00.500Z"


def test_many_annotators_pairs_share_subjects_and_each_gets_its_own_agreement():
    # a block design: ann0 & ann1 share subjects 0-9, ann1 & ann2 share 10-19; ann0 and ann2 share none
    rows = []
    for s in range(20):
        pair = ("ann0", "ann1") if s < 10 else ("ann1", "ann2")
        for a in pair:
            # ann2 contradicts ann1 on every darker subject; ann0 agrees with ann1 everywhere
            dark = s % 3 == 0
            answer = "darker" if dark != (a == "ann2") else "lighter"
            rows.append({"subject_id": f"s{s}", "image_id": f"s{s}/1.jpg", "annotator": a, "skin_tone_binary": answer,
                         "monk": "8" if answer == "darker" else "2", "labelled_at": "2026-12-01T10:00:00Z"})
    stats = agreement(pd.DataFrame(rows), replicates=50, seed=0).statistics
    kappa = stats[stats["statistic"] == "cohen_kappa"].set_index("annotators")
    assert "ann0|ann2" not in kappa.index  # they share no subject
    assert kappa.loc["ann0|ann1", "value"] == pytest.approx(1.0)
    assert kappa.loc["ann1|ann2", "value"] < 0
    assert kappa.loc["ann0|others", "n_subjects"] == 10 and kappa.loc["ann1|others", "n_subjects"] == 20
    assert kappa.loc["ann0|others", "value"] > kappa.loc["ann1|others", "value"] > kappa.loc["ann2|others", "value"]
    monk = stats[stats["scale"] == "monk"].set_index("annotators")
    assert {"ann0|ann1", "ann1|ann2", "all", "ann0|others"} <= set(monk.index)
    assert monk.loc["ann0|ann1", "value"] == pytest.approx(1.0)
