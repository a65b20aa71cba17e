"""Verification accuracy and TAR at every threshold, and the optimistic best-threshold accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, recall_score

from frbench.groups import Groups
from frbench.config import validate_config
from frbench.metrics.accuracy import accuracy_from_counts, accuracy_table, best_accuracy
from frbench.metrics.grouped import per_group_rates
from frbench.workflows.run import run_benchmark
from tests.builders import csv_config, make_csv_dataset, needs_dlib


def scored(scores, mated, subjects=None) -> pd.DataFrame:
    n = len(scores)
    return pd.DataFrame({
        "score": np.asarray(scores, dtype=float), "mated": np.asarray(mated, dtype=bool), "ok": True,
        "subject_a": subjects if subjects is not None else [f"s{i}" for i in range(n)],
        "subject_b": [f"t{i}" for i in range(n)],
    })


def test_hand_computed_case() -> None:
    # mated 0.9 0.8 0.4, non-mated 0.7 0.3 0.1 at threshold 0.5: TM 2, FNM 1, FM 1, TNM 2 -> accuracy 4/6
    pairs = scored([0.9, 0.8, 0.4, 0.7, 0.3, 0.1], [1, 1, 1, 0, 0, 0])
    table = accuracy_from_counts(per_group_rates(pairs, Groups(), thresholds={"t": 0.5}))
    row = table.iloc[0]
    assert (row["n_pairs"], row["n_correct"]) == (6, 4)
    assert row["accuracy"] == pytest.approx(4 / 6) and row["tar"] == pytest.approx(2 / 3)
    assert not row["optimistic"]
    # Best: a threshold in (0.3, 0.4] errs only on non-mated 0.7, one in (0.7, 0.8] only on mated 0.4:
    # 5 of 6 either way; the lower interval is taken (best_accuracy_threshold), at its midpoint.
    best = best_accuracy(pairs["score"], pairs["mated"]).iloc[0]
    assert best["optimistic"] and best["n_correct"] == 5 and best["accuracy"] == pytest.approx(5 / 6)
    assert best["threshold"] == pytest.approx(0.35) and best["tar"] == 1.0


def test_agrees_with_sklearn_and_brute_force_on_random_scores() -> None:
    rng = np.random.default_rng(11)
    mated = rng.random(400) < 0.4
    score = np.round(rng.normal(mated * 1.0, 0.8), 2)  # rounded: ties are common
    pairs = scored(score, mated)
    thresholds = {"a": -0.3, "b": 0.5, "c": 0.51, "d": 2.5}
    table = accuracy_table(per_group_rates(pairs, Groups(), thresholds=thresholds), pairs).set_index("threshold_name")
    for name, t in thresholds.items():
        decided = score >= t
        assert table.loc[name, "accuracy"] == pytest.approx(accuracy_score(mated, decided))
        assert table.loc[name, "tar"] == pytest.approx(recall_score(mated, decided))
    # the best row is the best over every threshold that could matter: each distinct score and +inf
    candidates = np.append(np.unique(score), np.inf)
    brute = max(accuracy_score(mated, score >= t) for t in candidates)
    best = table.loc["best_accuracy"]
    assert best["accuracy"] == pytest.approx(brute) and bool(best["optimistic"])
    assert accuracy_score(mated, score >= best["threshold"]) == pytest.approx(brute)


def test_failed_pairs_are_left_out_as_in_fmr_and_fnmr() -> None:
    pairs = scored([0.9, np.nan, 0.1, 0.2], [1, 1, 0, 0])
    pairs.loc[1, "ok"] = False
    table = accuracy_table(per_group_rates(pairs, Groups(), thresholds={"t": 0.5}), pairs)
    assert table["n_pairs"].tolist() == [3, 3] and table["accuracy"].tolist() == [1.0, 1.0]


@needs_dlib
def test_a_one_fold_run_reports_accuracy_tar_and_the_optimistic_best(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data")
    pairs = pd.read_csv(root / "pairs.csv")
    pairs["fold"] = 1
    pairs.to_csv(root / "pairs.csv", index=False)
    config = validate_config(csv_config(root, tmp_path / "cache"))
    out = tmp_path / "run"
    result = run_benchmark(config, out_dir=out, progress=False)

    accuracy = pd.read_csv(out / "accuracy.csv").set_index("threshold_name")
    assert not (out / "fold_accuracy.csv").exists()  # one fold: no fold-calibrated figure
    ok = result.scores[result.scores["ok"]]
    for name, t in result.thresholds.items():
        assert accuracy.loc[name, "accuracy"] == pytest.approx(accuracy_score(ok["mated"], ok["score"] >= t))
        assert accuracy.loc[name, "tar"] == pytest.approx(recall_score(ok["mated"], ok["score"] >= t))
        assert not accuracy.loc[name, "optimistic"]
    assert bool(accuracy.loc["best_accuracy", "optimistic"])
    report = (out / "report.md").read_text()
    assert "TAR (1 - FNMR)" in report and "| accuracy" in report.replace("|   accuracy", "| accuracy")
    assert "Best accuracy on these same pairs" in report and "Optimistic" in report


@pytest.mark.parametrize("kind", [True, False])
def test_best_accuracy_is_not_reported_when_pairs_are_all_mated_or_all_nonmated(kind: bool) -> None:
    # With one kind of pair any threshold beyond every score is "100 % accurate": nothing to report.
    pairs = scored([0.9, 0.8, 0.4, 0.7], [kind] * 4)
    table = accuracy_table(per_group_rates(pairs, Groups(), thresholds={"t": 0.5}), pairs)
    assert "best_accuracy" not in set(table["threshold_name"])
