"""One policy for where a subject's skin tone comes from: annotators' perceived labels first, then
the estimate, then unknown; the same in runs and in ``frbench annotate skin-tone``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from frbench.annotate.sources import (
    SUBJECT_TABLE_COLUMNS, annotator_kinds, apply_subjects, coverage, perceived_skin_tone, skin_tone_subjects,
    source_counts,
)
from frbench.errors import DatasetError
from tests.builders import csv_config, make_csv_dataset

HEADER = "subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool\n"


def label_file(folder, who, rows, kind=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"annotator-{who}.csv"
    path.write_text(HEADER + "".join(f"{s},{s}/1.jpg,{who},{b},{m},2026-12-01T10:00:00Z,test\n" for s, b, m in rows))
    if kind is not None:
        path.with_suffix(".json").write_text(json.dumps({"annotator": who, "kind": kind, "saw": "montages"}))
    return path


def estimate():
    return pd.DataFrame({
        "subject_id": ["A", "B", "C", "D", "E"],
        "skin_tone": ["lighter", "uncertain", "darker", "lighter", "unknown"],
        "skin_tone_source": ["estimator"] * 4 + ["unknown"],
        "skin_tone_category": ["monk_3", "monk_5", "monk_7", "monk_2", "unknown"],
        "p_darker": [0.1, 0.5, 0.9, 0.05, np.nan],
        "heldout_n": [200, 30, 22, 200, np.nan],
        "heldout_n_darker": [6, 12, 18, 6, np.nan],
    })


def test_annotators_consensus_replaces_the_estimate_and_unsure_is_uncertain(tmp_path):
    a = label_file(tmp_path, "a", [("A", "darker", 7), ("B", "lighter", 2), ("C", "unsure", ""), ("Z", "darker", 8)])
    b = label_file(tmp_path, "b", [("A", "darker", 8), ("B", "lighter", 3), ("C", "unsure", "")])
    table = skin_tone_subjects(["A", "B", "C", "D", "E", "F"], estimate(), perceived_skin_tone([a, b]))
    assert list(table.columns[: len(SUBJECT_TABLE_COLUMNS)]) == list(SUBJECT_TABLE_COLUMNS)
    t = table.set_index("subject_id")
    # A: both darker, overrides the estimate; B: labelled lighter, overrides "uncertain"; C: both
    # unsure -> uncertain, no estimate overrides annotators who looked; D: no label, estimate kept;
    # E: the estimator saw no photo; F: nothing at all. Z is labelled but not here.
    assert t["skin_tone"].to_dict() == {"A": "darker", "B": "lighter", "C": "uncertain", "D": "lighter",
                                        "E": "unknown", "F": "unknown"}
    assert t["skin_tone_source"].to_dict() == {"A": "annotators", "B": "annotators", "C": "annotators",
                                               "D": "estimator", "E": "unknown", "F": "unknown"}
    assert "human" not in set(t["skin_tone_source"])
    assert t.loc["A", "skin_tone_category"] == "monk_7"  # the lower median of 7 and 8
    assert t.loc["C", "skin_tone_category"] == "uncertain"
    # P(darker) and held-out counts only where the tone was estimated
    assert np.isnan(t.loc["A", "p_darker"]) and t.loc["D", "p_darker"] == 0.05
    assert (t.loc["D", "heldout_n"], t.loc["D", "heldout_n_darker"]) == (200, 6) and np.isnan(t.loc["A", "heldout_n"])
    assert t.loc[["A", "B", "C"], ["n_annotators", "n_agree"]].to_numpy().tolist() == [[2, 2]] * 3
    assert t.loc[["D", "F"], "n_annotators"].tolist() == [0, 0]
    assert t.loc["A", ["n_darker", "n_lighter", "n_unsure"]].tolist() == [2, 0, 0]
    assert t.loc["C", ["n_darker", "n_lighter", "n_unsure"]].tolist() == [0, 0, 2]
    images = apply_subjects(pd.DataFrame({"image_id": ["A/1", "A/2", "D/1"], "subject_id": ["A", "A", "D"]}), table)
    assert images["skin_tone"].tolist() == ["darker", "darker", "lighter"]
    assert source_counts(images).to_dict("records") == [
        {"skin_tone_source": "annotators", "skin_tone": "darker", "subjects": 1},
        {"skin_tone_source": "estimator", "skin_tone": "lighter", "subjects": 1},
    ]
    assert coverage(table) == pytest.approx(3 / 6)  # A, B, D


def test_a_third_annotator_settles_a_disagreement_and_the_answers_are_kept(tmp_path):
    a = label_file(tmp_path, "a", [("A", "darker", 7), ("B", "darker", 6)])
    b = label_file(tmp_path, "b", [("A", "lighter", 4), ("B", "lighter", 5)])
    c = label_file(tmp_path, "c", [("A", "darker", 6)])
    t = perceived_skin_tone([a, b, c]).set_index("subject_id")
    assert t.loc["A", ["skin_tone", "n_annotators", "n_agree", "n_darker", "n_lighter"]].tolist() == \
        ["darker", 3, 2, 2, 1]
    assert t.loc["B", "skin_tone"] == "uncertain"  # a tie, no third answer yet


def test_a_consensus_file_counts_the_dissenting_answers_as_unsure(tmp_path):
    path = tmp_path / "consensus.csv"
    path.write_text(HEADER.strip() + ",n_annotators,n_agree\n"
                    "A,A/1.jpg,consensus,darker,7,2026-12-01T10:00:00Z,t,3,2\n")
    t = perceived_skin_tone([path]).set_index("subject_id")
    assert t.loc["A", ["n_darker", "n_lighter", "n_unsure"]].tolist() == [2, 0, 1]


def test_the_report_names_who_the_annotators_were(tmp_path):
    a = label_file(tmp_path, "a", [("A", "darker", 7)], kind="an AI model (a multimodal language model)")
    b = label_file(tmp_path, "b", [("A", "darker", 7)])
    kinds = annotator_kinds([a, b]).set_index("annotator")["kind"].to_dict()
    assert kinds == {"a": "an AI model (a multimodal language model)", "b": "not recorded"}
    from frbench.report.markdown import annotator_lines

    text = "\n".join(annotator_lines([a, b]))
    assert "`a`: an AI model (a multimodal language model)" in text
    assert "`b`: kind not recorded (no annotator-b.json)" in text
    assert "human" not in text.lower()


def test_a_missing_label_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="no such file .*nope.csv"):
        perceived_skin_tone([tmp_path / "nope.csv"])


@pytest.mark.skipif(pytest.importorskip("importlib.util").find_spec("dlib") is None, reason="needs dlib")
def test_a_run_and_the_annotate_command_apply_the_same_policy(tmp_path: Path) -> None:
    from frbench.cli.app import main
    from frbench.config import validate_config
    from frbench.workflows.run import run_benchmark

    root = make_csv_dataset(tmp_path / "data", n_subjects=3, per_subject=2)
    labels = tmp_path / "labels"
    a = label_file(labels, "a", [("s0", "darker", 8), ("s1", "darker", 7)], kind="an AI model (test)")
    b = label_file(labels, "b", [("s0", "darker", 8), ("s1", "lighter", 4)])
    raw = csv_config(root, tmp_path / "cache", groups=["skin_tone"],
                     annotate={"skin_tone": "ita", "skin_tone_labels": [str(a), str(b)]},
                     stats={"label_draws": 50, "permutations": 9})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "tone.csv"
    result = CliRunner().invoke(main, ["annotate", "skin-tone", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    subjects = pd.read_csv(tmp_path / "tone.subjects.csv").set_index("subject_id")
    # s0: both darker; s1: a tie -> uncertain; s2: unlabelled, and ITA finds no skin in noise -> unknown
    assert subjects["skin_tone"].to_dict() == {"s0": "darker", "s1": "uncertain", "s2": "unknown"}
    assert subjects["skin_tone_source"].to_dict() == {"s0": "annotators", "s1": "annotators", "s2": "unknown"}
    assert subjects.loc["s1", ["n_annotators", "n_agree", "n_darker", "n_lighter"]].tolist() == [2, 0, 1, 1]  # none said unsure
    assert "annotators 2" in result.output

    run = run_benchmark(validate_config(raw), tmp_path / "run", data_root=tmp_path, progress=False)
    groups = run.per_group[(run.per_group["attribute"] == "skin_tone")].drop_duplicates("group")
    assert groups.set_index("group")["n_subjects"].to_dict() == subjects["skin_tone"].value_counts().to_dict()
    report = (tmp_path / "run" / "report.md").read_text()
    assert "`a`: an AI model (test)" in report and "`b`: kind not recorded" in report
    assert "| annotators " in report
    assert "human" not in report.lower()
    provenance = run.manifest["dataset"]["skin_tone"]
    assert provenance["subjects_by_source"] == {"annotators": 2, "unknown": 1}
    assert [(r["annotator"], r["kind"]) for r in provenance["annotators"]] == [("a", "an AI model (test)"),
                                                                              ("b", "not recorded")]
