"""Verification and identification as two studies of one run: one folder, one list of outputs, and
the same fairness summaries and group tests for searches (FNIR, FPIR) as for pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact

from frbench.config import validate_config
from frbench.workflows.summary import run_summary
from frbench.search.identification import search_fairness, search_group_tests
from frbench.workflows.manifest import RUN_OUTPUTS, run_dir_problems
from frbench.workflows.run import run_benchmark
from tests.builders import csv_config, make_csv_dataset, needs_dlib

SEARCH = {"candidates": 3, "ranks": [1, 3], "target_fpir": [0.5], "gallery_size": {"steps": 0}, "enrolled_fraction": 0.5}


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def assert_one_run(folder: Path) -> None:
    """Every file in the folder is the manifest's run's, and no run table is left over from another."""
    manifest = json.loads((folder / "manifest.json").read_text())
    assert run_dir_problems(folder, manifest) == []
    unlisted = files_in(folder) - set(manifest["outputs"]) - {"manifest.json"}
    # the rates-against-threshold plots are written but were never listed in the manifest
    assert {p for p in unlisted if not p.startswith("plots/rates_vs_threshold_")} == set()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_csv_dataset(tmp_path_factory.mktemp("data"), n_subjects=6, per_subject=3)


@needs_dlib
def test_a_search_run_into_a_verification_runs_folder_leaves_none_of_its_files(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    run_benchmark(validate_config(csv_config(dataset, cache)), out_dir=out, progress=False)
    before = files_in(out)
    assert {"per_group.csv", "scores.csv", "fairness.csv", "eer.csv"} <= before
    old_plots = {p for p in before if p.startswith("plots/")}
    assert old_plots
    run_benchmark(validate_config(csv_config(dataset, cache, pairs={"protocol": "identification"},
                                             identification=SEARCH)), out_dir=out, progress=False)
    after = files_in(out)
    assert not {"per_group.csv", "scores.csv", "eer.csv", "thresholds.csv", "accuracy.csv"} & after
    assert not old_plots & after
    assert "identification.csv" in after
    assert_one_run(out)


@needs_dlib
def test_a_verification_run_into_a_search_runs_folder_leaves_none_of_its_files(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    run_benchmark(validate_config(csv_config(dataset, cache, pairs={"protocol": "identification"},
                                             identification=SEARCH)), out_dir=out, progress=False)
    before = files_in(out)
    search_only = {"identification.csv", "searches.csv", "candidates.csv", "gallery.csv", "probes.csv",
                   "identification.json"}
    assert search_only <= before
    old_plots = {p for p in before if p.startswith("plots/")}
    assert old_plots
    run_benchmark(validate_config(csv_config(dataset, cache)), out_dir=out, progress=False)
    after = files_in(out)
    assert not search_only & after
    assert not old_plots & after
    assert_one_run(out)


@needs_dlib
def test_every_file_either_study_writes_is_on_the_one_list_of_outputs(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_benchmark(validate_config(csv_config(dataset, cache)), out_dir=tmp_path / "pairs", progress=False)
    run_benchmark(validate_config(csv_config(dataset, cache, pairs={"protocol": "identification"},
                                             identification=SEARCH)), out_dir=tmp_path / "search", progress=False)
    for folder in ("pairs", "search"):
        top = {p for p in files_in(tmp_path / folder) if "/" not in p}
        assert top - {"manifest.json"} <= set(RUN_OUTPUTS), folder


@needs_dlib
def test_a_search_run_writes_fnir_and_fpir_fairness_and_group_tests_from_its_counts(dataset: Path, tmp_path: Path) -> None:
    config = validate_config(csv_config(dataset, tmp_path / "cache", pairs={"protocol": "identification"},
                                        identification={**SEARCH, "target_fpir": [0.5, 0.25]},
                                        stats={"min_group_subjects": 1}))
    result = run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    out = tmp_path / "run"
    rates = pd.read_csv(out / "identification.csv")
    fairness = pd.read_csv(out / "fairness.csv")
    tests = pd.read_csv(out / "group_tests.csv")
    assert set(fairness["threshold_name"]) == set(tests["threshold_name"]) == {"fpir=5e-01", "fpir=2.5e-01"}
    assert set(tests["rate"]) == {"fnir", "fpir"}
    assert {"fnir_max_min_ratio", "fpir_max_min_ratio", "fnir_difference", "fpir_ratio"} <= set(fairness["measure"])
    assert not fairness["measure"].str.contains("fmr|fnmr").any()
    for _, row in fairness[fairness["measure"] == "fnir_difference"].iterrows():
        groups = rates[(rates["threshold_name"] == row["threshold_name"]) & (rates["attribute"] == row["attribute"])]
        fnir = groups.set_index("group").loc[row["groups"].split(";"), "fnir"]
        assert row["value"] == pytest.approx(fnir.max() - fnir.min())
    for _, row in tests.iterrows():
        groups = rates[(rates["threshold_name"] == row["threshold_name"]) & (rates["attribute"] == row["attribute"])]
        k, n = ("n_fnm", "n_mated") if row["rate"] == "fnir" else ("n_fm", "n_nonmated")
        expected = "; ".join(f"{g.group} {getattr(g, k)}/{getattr(g, n)}" for g in groups.itertuples() if getattr(g, n) > 0)
        assert row["errors"] == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"fairness.csv", "group_tests.csv"} <= set(manifest["outputs"])
    report = (out / "report.md").read_text()
    assert "### Differences between probe groups" in report and "p equal FPIR (Holm)" in report
    assert result.kind == "identification" and run_summary(result)["kind"] == "identification"


def search_rates(n_mated: list[int], n_fnm: list[int], n_nonmated: list[int], n_fm: list[int]) -> pd.DataFrame:
    """identification.csv's columns the summaries read, for one fpir= threshold, one rank= row and two groups."""
    rows = []
    for name, threshold in (("rank=1", -np.inf), ("fpir=1e-01", 0.7)):
        rows.append({"threshold_name": name, "threshold": threshold, "attribute": "all", "group": "all",
                     "n_subjects": 40, "n_mated": sum(n_mated), "n_fnm": sum(n_fnm), "n_nonmated": sum(n_nonmated),
                     "n_fm": sum(n_fm)})
        for i, group in enumerate(("a", "b")):
            rows.append({"threshold_name": name, "threshold": threshold, "attribute": "g", "group": group,
                         "n_subjects": 20, "n_mated": n_mated[i], "n_fnm": n_fnm[i], "n_nonmated": n_nonmated[i],
                         "n_fm": n_fm[i]})
    out = pd.DataFrame(rows)
    out["fnir"] = out["n_fnm"] / out["n_mated"]
    out["fpir"] = out["n_fm"] / out["n_nonmated"]
    return out


def test_search_fairness_is_the_ratio_of_probe_groups_fnir_and_fpir_at_fpir_thresholds() -> None:
    rates = search_rates(n_mated=[100, 50], n_fnm=[10, 10], n_nonmated=[80, 40], n_fm=[8, 12])
    table = search_fairness(rates, ["fpir=1e-01"]).set_index("measure")
    assert set(table["threshold_name"]) == {"fpir=1e-01"}  # at rank=R, FPIR is 1 by construction
    assert table.loc["fnir_max_min_ratio", "value"] == pytest.approx(0.2 / 0.1)
    assert table.loc["fpir_max_min_ratio", "value"] == pytest.approx(0.3 / 0.1)
    assert "FNIR" in table.loc["fnir_max_min_ratio", "definition"]
    assert "FMR" not in " ".join(table["definition"]) + " ".join(table["reason"])


def test_search_group_tests_are_fishers_test_on_the_search_counts() -> None:
    rates = search_rates(n_mated=[100, 50], n_fnm=[10, 15], n_nonmated=[80, 40], n_fm=[2, 9])
    tests = search_group_tests(rates, ["fpir=1e-01"]).set_index("rate")
    assert list(tests.index) == ["fpir", "fnir"]
    assert tests.loc["fnir", "exact_p"] == pytest.approx(fisher_exact([[10, 90], [15, 35]])[1], rel=1e-6)
    assert tests.loc["fpir", "exact_p"] == pytest.approx(fisher_exact([[2, 78], [9, 31]])[1], rel=1e-6)
    assert tests.loc["fnir", "errors"] == "a 10/100; b 15/50"
    assert "independent trial" in tests.loc["fnir", "note"]
