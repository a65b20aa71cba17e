"""Model-based FPIR per searcher group from cross-group FMR and the gallery's make-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.config import validate_config
from frbench.search.fpir_prediction import gallery_composition, ordered_cells, predict_fpir
from frbench.workflows.run import run_benchmark
from tests.builders import csv_config, make_csv_dataset, needs_dlib


def cells(fm_aa: int = 40, fm_ab: int = 100, fm_bb: int = 300, n: int = 1_000_000) -> pd.DataFrame:
    return pd.DataFrame({
        "threshold_name": "t", "threshold": 0.5, "attribute": "g",
        "group_a": ["a", "a", "b"], "group_b": ["a", "b", "b"],
        "n_nonmated": [n, n, n], "n_fm": [fm_aa, fm_ab, fm_bb],
    })


def test_hand_computed_fpir_and_expected_false_candidates() -> None:
    out = predict_fpir(cells(), "g", {"a": 0.25, "b": 0.75}, [1000, 1e6])
    a = out[(out["searcher_group"] == "a") & (out["n_gallery"] == 1000)].iloc[0]
    # searcher a: FMR 4e-5 against a, 1e-4 against b
    lam = 0.25 * 4e-5 + 0.75 * 1e-4
    assert a["model_false_candidates"] == pytest.approx(1000 * lam)
    assert a["model_fpir"] == pytest.approx(1 - (1 - 4e-5) ** 250 * (1 - 1e-4) ** 750)
    b = out[(out["searcher_group"] == "b") & (out["n_gallery"] == 1e6)].iloc[0]
    assert b["model_fpir"] == pytest.approx(1 - (1 - 1e-4) ** 250_000 * (1 - 3e-4) ** 750_000)
    assert (out["fmr_source"] == "counts").all() and out["resolved"].all()
    assert (out["model_fpir_low"] <= out["model_fpir"]).all() and (out["model_fpir"] <= out["model_fpir_high"]).all()


def test_cells_are_read_in_both_orders() -> None:
    o = ordered_cells(cells())
    assert len(o) == 4
    assert o[(o["searcher_group"] == "b") & (o["gallery_group"] == "a")]["n_fm"].item() == 100


def test_a_cell_below_the_rule_of_30_is_flagged_or_replaced_by_a_labelled_tail_value() -> None:
    out = predict_fpir(cells(fm_aa=2), "g", {"a": 0.5, "b": 0.5}, [1e5])
    a = out[out["searcher_group"] == "a"].iloc[0]
    assert not a["resolved"] and a["fmr_source"] == "counts below rule of 30"
    assert out[out["searcher_group"] == "b"]["resolved"].item()
    tail = pd.DataFrame({"threshold_name": ["t"], "searcher_group": ["a"], "gallery_group": ["a"],
                         "model_fmr": [3e-6], "model_fmr_low": [1e-6], "model_fmr_high": [9e-6]})
    with_tail = predict_fpir(cells(fm_aa=2), "g", {"a": 0.5, "b": 0.5}, [1e5], tail=tail)
    a = with_tail[with_tail["searcher_group"] == "a"].iloc[0]
    assert a["resolved"] and a["fmr_source"] == "counts + tail model"
    assert a["model_false_candidates"] == pytest.approx(1e5 * (0.5 * 3e-6 + 0.5 * 1e-4))


def test_the_interval_covers_the_true_fpir_in_simulation() -> None:
    rng = np.random.default_rng(0)
    true = {"aa": 4e-5, "ab": 1e-4, "bb": 3e-4}
    n, N, shares = 200_000, 5000, {"a": 0.3, "b": 0.7}
    truth = 1 - (1 - true["aa"]) ** (N * 0.3) * (1 - true["ab"]) ** (N * 0.7)
    hits = 0
    for _ in range(200):
        k = {c: rng.binomial(n, p) for c, p in true.items()}
        out = predict_fpir(cells(k["aa"], k["ab"], k["bb"], n), "g", shares, [N])
        row = out[out["searcher_group"] == "a"].iloc[0]
        hits += row["model_fpir_low"] <= truth <= row["model_fpir_high"]
    assert hits >= 190  # joint (Bonferroni) intervals: at least 95 %


def test_composition_and_inputs_are_checked() -> None:
    g = pd.DataFrame({"image_id": ["x1", "x2", "y1", "z1"], "subject_id": ["x", "x", "y", "z"]})
    assert gallery_composition(g, pd.Series(["a", "b", "a", "b"])) == {"a": 2 / 3, "b": 1 / 3}
    with pytest.raises(ValueError, match="sum to 1"):
        predict_fpir(cells(), "g", {"a": 0.5, "b": 0.6}, [10])
    with pytest.raises(ValueError, match="without cells"):
        predict_fpir(cells(), "g", {"a": 0.5, "c": 0.5}, [10])


@needs_dlib
def test_a_search_run_checks_its_model_on_the_sweeps_and_predicts_large_galleries(tmp_path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=10, per_subject=3)
    config = validate_config(csv_config(
        root, tmp_path / "cache", pairs={"protocol": "identification"}, thresholds={"target_fmr": []},
        identification={"candidates": 3, "ranks": [1], "target_fpir": [0.5], "enrolled_fraction": 0.5,
                        "gallery_size": {"steps": 2, "smallest": 2, "repeats": 2},
                        "fpir_prediction": {"sizes": [1e5, 3e7]}},
    ))
    run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    check = pd.read_csv(tmp_path / "run" / "fpir_prediction_check.csv")
    big = pd.read_csv(tmp_path / "run" / "fpir_prediction.csv")
    assert set(check["sweep"]) == {"gallery_size"} and {"measured_fpir", "model_fpir"} <= set(check.columns)
    assert set(big["n_gallery"]) == {1e5, 3e7} and set(big["searcher_group"]) >= {"all", "female", "male"}
    # nothing predicted is named like a measurement
    assert not {"fpir", "fpir_ci_low"} & set(big.columns)
    assert "Model-based FPIR per searcher group (predicted, not measured)" in (tmp_path / "run" / "report.md").read_text()
