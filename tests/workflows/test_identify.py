"""frbench run with pairs.protocol: identification, end to end on a tiny dataset the test builds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from frbench.config import validate_config
from frbench.errors import ConfigError
from frbench.workflows.run import run_benchmark
from tests.builders import csv_config, make_csv_dataset, needs_dlib


@needs_dlib
def test_a_search_run_writes_its_tables_report_and_manifest(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=6, per_subject=3)
    config = validate_config(csv_config(
        root, tmp_path / "cache", pairs={"protocol": "identification"},
        identification={"candidates": 3, "ranks": [1, 3], "target_fpir": [0.5], "gallery_size": {"steps": 0},
                        "enrolled_fraction": 0.5},
    ))
    result = run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    out = tmp_path / "run"
    for name in ("identification.csv", "searches.csv", "cmc.csv", "candidate_groups.csv", "gallery.csv",
                 "probes.csv", "report.md", "manifest.json", "failures.csv", "failure_to_enrol.csv"):
        assert (out / name).is_file(), name
    rates = pd.read_csv(out / "identification.csv")
    searches = pd.read_csv(out / "searches.csv")
    everyone = rates[(rates["threshold_name"] == "rank=1") & (rates["attribute"] == "all")].iloc[0]
    # FNIR at rank 1 is the share of completed mated searches whose mate is not ranked first
    done = searches[searches["ok"] & searches["mated"]]
    assert everyone["fnir"] == pytest.approx((done["mate_rank"].fillna(99) > 1).mean())
    assert set(rates["threshold_name"]) == {"rank=1", "rank=3", "fpir=5e-01"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identification"]["n_mated_probes"] == int(searches["mated"].sum())
    assert "One-to-many search" in (out / "report.md").read_text()
    assert result.per_group is not None and "fpir" in result.per_group


def test_search_needs_cosine_and_says_so_at_load() -> None:
    with pytest.raises(ConfigError, match="<config>: pairs.protocol identification ranks candidates by cosine"):
        validate_config({"name": "x", "dataset": {"name": "d"}, "pairs": {"protocol": "identification"},
                         "model": {"distance_metric": "euclidean"}})
