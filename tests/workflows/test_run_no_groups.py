"""Runs without demographic groups: the whole population (the `all` rows) is a baseline of its own.

Among them the shipped configs/example-deepface-pairs.yaml, whose dataset has no attributes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from frbench.cli import main
from frbench.config import validate_config
from frbench.workflows.run import run_benchmark
from tests.conftest import REPO
from tests.builders import csv_config, make_csv_dataset, needs_dlib


@needs_dlib
@pytest.mark.parametrize("protocol", ["file", "exhaustive"])
def test_a_run_without_groups_writes_every_table_and_the_overall_plots(tmp_path: Path, protocol: str) -> None:
    root = make_csv_dataset(tmp_path / "data")
    config = validate_config(csv_config(root, tmp_path / "cache", groups=[], pairs={"protocol": protocol}))
    out = tmp_path / "run"
    result = run_benchmark(config, out_dir=out, progress=False)

    for name in ("per_group.csv", "scores.csv", "thresholds.csv", "failure_to_enrol.csv",
                 "det_points.csv", "report.md", "manifest.json", "plots/det_all.png"):
        assert (out / name).is_file(), name
    per_group = pd.read_csv(out / "per_group.csv")
    assert set(per_group["attribute"]) == {"all"} and len(per_group) == len(result.thresholds)
    # one overall DET curve: at its lowest threshold everything matches
    det = pd.read_csv(out / "det_points.csv")
    assert set(det["group"]) == {"all"} and det["threshold"].is_unique
    assert det.iloc[0][["fmr", "fnmr"]].tolist() == [1.0, 0.0]
    assert det["fmr"].is_monotonic_decreasing and det["fnmr"].is_monotonic_increasing
    report = (out / "report.md").read_text()
    assert "## Error rates by group" in report and "![DET curves: plots/det_all.png]" in report
    assert json.loads((out / "manifest.json").read_text())["config"]["groups"] == []
    if protocol == "file":
        assert (out / "plots" / "scores_all.png").is_file()
        hist = pd.read_csv(out / "score_distributions.csv")
        # one histogram per mated value, holding every scored pair once
        assert hist.groupby("mated")["count"].sum().to_dict() == (
            result.scores[result.scores["ok"]].groupby("mated").size().to_dict()
        )


def deepface_layout(folder: Path, images: dict[str, np.ndarray]) -> Path:
    """deepface's tests/unit/dataset shape: images beside master.csv (file_x, file_y, Decision)."""
    folder.mkdir(parents=True)
    for name, pixels in images.items():
        cv2.imwrite(str(folder / name), pixels)
    names = sorted(images)
    person = {n: n.split("_")[0] for n in names}
    rows = [f"{a},{b},{'Yes' if person[a] == person[b] else 'No'}" for i, a in enumerate(names) for b in names[i + 1:]]
    (folder / "master.csv").write_text("file_x,file_y,Decision\n" + "\n".join(rows) + "\n")
    return folder


def run_example_config(data: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        main, ["run", str(REPO / "configs" / "example-deepface-pairs.yaml"), "-o", str(out), "-q", *extra],
        env={"FRBENCH_DATA": str(data)},
    )


@needs_dlib
def test_the_shipped_deepface_pairs_example_runs_on_faces(lfw: Path, tmp_path: Path) -> None:
    # The config as shipped (Dlib with the dlib detector), on real faces laid out as deepface's test set.
    people = {"Aaron_Peirsol": 3, "Abdullah_Gul": 3, "Abel_Pacheco": 2}
    images = {}
    for person, n in people.items():
        for i in range(1, n + 1):
            images[f"{person.replace('_', '')}_{i}.jpg"] = cv2.imread(
                str(lfw / "images_deepfunneled" / person / f"{person}_{i:04d}.jpg")
            )
    data = tmp_path / "data"
    deepface_layout(data / "deepface", images)
    out = tmp_path / "run"
    result = run_example_config(data, out)
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file() and (out / "manifest.json").is_file()
    per_group = pd.read_csv(out / "per_group.csv")
    overall = per_group[per_group["threshold_name"] == "fmr=1e-02"].iloc[0]
    assert (overall["n_mated"], overall["n_nonmated"]) == (3 + 3 + 1, 28 - 7)


@needs_dlib
def test_the_shipped_deepface_pairs_example_runs_without_a_detector(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    bases = {p: rng.integers(0, 255, (120, 120, 3)) for p in ("anna", "bert", "carl")}
    images = {
        f"{p}_{i}.png": np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        for p, base in bases.items() for i in range(2)
    }
    data = tmp_path / "data"
    deepface_layout(data / "deepface", images)
    out = tmp_path / "run"
    result = run_example_config(data, out, "--set", "model.detector=skip", "--set", "cache.dir=" + str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file() and (out / "manifest.json").is_file()
    assert set(pd.read_csv(out / "per_group.csv")["attribute"]) == {"all"}
    shutil.rmtree(out)
