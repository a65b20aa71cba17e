"""Every threshold gets its own name that reads back as its number; a config that lists one twice is refused."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frbench.config import validate_config
from frbench.errors import ConfigError
from frbench.groups import Groups
from frbench.measure.protocols import ExhaustivePairs
from frbench.points import OperatingPoints, Threshold, fixed_name, rate_text, target_fmr_name, target_fpir_name
from frbench.workflows.run import run_benchmark
from tests.synthetic_scores import imported_run_config
from tests.behaviour.test_protocol_equivalence import synthetic

THREE = [1.0e-3, 1.2e-3, 1.5e-3]


def test_names_that_were_unambiguous_keep_their_form() -> None:
    assert [target_fmr_name(t) for t in (1e-2, 1e-3, 3e-3, 0.1)] == ["fmr=1e-02", "fmr=1e-03", "fmr=3e-03", "fmr=1e-01"]
    assert Threshold.fold_calibrated(1e-3).name == "fold:fmr=1e-03"
    assert target_fpir_name(1e-2) == "fpir=1e-02"
    assert [fixed_name(v) for v in (0.5, -0.4, 1.0)] == ["fixed=0.5", "fixed=-0.4", "fixed=1"]


def test_a_target_that_one_digit_would_round_is_written_in_full() -> None:
    assert [target_fmr_name(t) for t in THREE] == ["fmr=1e-03", "fmr=1.2e-03", "fmr=1.5e-03"]
    assert target_fmr_name(0.25) == "fmr=2.5e-01" and target_fpir_name(0.25) == "fpir=2.5e-01"
    assert fixed_name(0.1234567) == "fixed=0.1234567"


@given(st.floats(min_value=1e-300, max_value=1.0, exclude_max=True))
def test_a_rate_name_reads_back_as_its_rate(rate: float) -> None:
    assert float(rate_text(rate)) == rate
    assert float(target_fmr_name(rate).removeprefix("fmr=")) == rate


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_fixed_name_reads_back_as_its_value(value: float) -> None:
    assert float(fixed_name(value).removeprefix("fixed=")) == value


@given(st.lists(st.floats(min_value=1e-12, max_value=1.0, exclude_max=True), min_size=2, max_size=6))
def test_different_targets_get_different_names(targets: list[float]) -> None:
    names = {target_fmr_name(t) for t in targets}
    assert len(names) == len(set(targets))


def test_a_threshold_carries_its_kind_and_target() -> None:
    t = Threshold.at_target_fmr(1.2e-3, 0.61)
    assert (t.name, t.value, t.kind, t.target, t.fold) == ("fmr=1.2e-03", 0.61, "target_fmr", 1.2e-3, "all")
    assert t.aims_at_fmr and not Threshold.at_target_fpir(1e-2, 0.7).aims_at_fmr
    fixed = Threshold.fixed(0.5)
    assert fixed.kind == "fixed" and math.isnan(fixed.target) and not fixed.aims_at_fmr
    with pytest.raises(ValueError, match="needs target"):
        Threshold("fmr=x", 0.5, "target_fmr")
    with pytest.raises(ValueError, match="kind must be one of"):
        Threshold("x", 0.5, "guess")


def test_operating_points_give_values_and_targets_and_refuse_a_name_twice() -> None:
    points = OperatingPoints([Threshold.deepface_default(0.4), Threshold.at_target_fmr(1e-3, 0.7), Threshold.fixed(0.5)])
    assert points.values() == {"deepface_default": 0.4, "fmr=1e-03": 0.7, "fixed=0.5": 0.5}
    assert points.fmr_targets() == {"fmr=1e-03": 1e-3}
    with pytest.raises(ValueError, match="two thresholds are named 'fixed=0.5'"):
        OperatingPoints([Threshold.fixed(0.5), Threshold.fixed(0.5)])


def raw_config(**section: object) -> dict:
    return {"name": "t", "dataset": {"name": "x"}, **section}


@pytest.mark.parametrize(
    "section, where",
    [
        ({"thresholds": {"target_fmr": [1e-3, 0.001]}}, "'thresholds.target_fmr': target FMR 0.001 is listed twice (threshold fmr=1e-03)"),
        ({"thresholds": {"fixed": [0.5, 0.50]}}, "'thresholds.fixed': fixed threshold 0.5 is listed twice (threshold fixed=0.5)"),
        ({"identification": {"target_fpir": [1e-2, 0.01]}}, "'identification.target_fpir': target FPIR 0.01 is listed twice (threshold fpir=1e-02)"),
    ],
)
def test_a_value_listed_twice_is_refused_in_one_line(section: dict, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(raw_config(**section))
    assert where in str(err.value) and len(str(err.value).splitlines()) == 1


def test_targets_that_used_to_print_alike_are_accepted() -> None:
    assert validate_config(raw_config(thresholds={"target_fmr": THREE})).thresholds.target_fmr == THREE


def test_three_close_targets_give_three_thresholds_and_three_rows_per_group(tmp_path: Path) -> None:
    cfg = imported_run_config(tmp_path / "data", n_nonmated=4000,
                              thresholds={"deepface_default": False, "target_fmr": THREE, "fold_calibrated": False})
    run_benchmark(validate_config(cfg), tmp_path / "run", progress=False)
    thresholds = pd.read_csv(tmp_path / "run" / "thresholds.csv")
    assert thresholds["threshold_name"].tolist() == ["fmr=1e-03", "fmr=1.2e-03", "fmr=1.5e-03"]
    assert thresholds["target_fmr"].tolist() == THREE
    per_group = pd.read_csv(tmp_path / "run" / "per_group.csv")
    rows = per_group.groupby(["attribute", "group"])["threshold_name"].agg(list)
    assert len(rows) > 1 and all(names == ["fmr=1e-03", "fmr=1.2e-03", "fmr=1.5e-03"] for names in rows)
    # each row judged against its own target: the largest target allows the most false matches
    overall = per_group[per_group["attribute"] == "all"].set_index("threshold_name")
    assert overall["fmr"].is_monotonic_increasing and (overall["fmr"] <= pd.Series(THREE, index=overall.index)).all()


def test_exhaustive_thresholds_at_one_similarity_keep_their_own_names() -> None:
    images, embeddings = synthetic()
    config = validate_config({
        "name": "eq", "dataset": {"name": "x"}, "model": {"name": "Dlib", "distance_metric": "cosine"},
        "groups": ["gender"], "pairs": {"protocol": "exhaustive"},
        # a few dozen impostors: every target below 1/n sets the same threshold, above every impostor
        "thresholds": {"deepface_default": False, "target_fmr": [1e-4, 1.2e-4], "fixed": [0.1]},
    })
    measures = ExhaustivePairs().evaluate(config, images, None, embeddings, Groups(["gender"])).measures
    assert measures.thresholds["fmr=1e-04"] == measures.thresholds["fmr=1.2e-04"]
    cells = measures.cells
    assert cells.groupby("threshold_name", sort=False).size().index.tolist() == ["fixed=0.1", "fmr=1e-04", "fmr=1.2e-04"]
    assert (cells.groupby("threshold_name").size() == len(cells) // 3).all()
    assert measures.per_group.groupby(["attribute", "group"]).size().eq(3).all()
