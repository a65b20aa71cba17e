"""Reproducibility: what a manifest records, and `frbench run --from MANIFEST` with its mismatch report."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from frbench.cli.app import main
from frbench.config import validate_config
from frbench.embed.weights import provision_packaged_weights
from frbench.workflows.manifest import labels_hash, manifest_mismatches, weight_hashes
from frbench.workflows.run import run_benchmark
from tests.builders import csv_config, make_csv_dataset

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models",
)
DLIB_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_LANDMARKS = "shape_predictor_5_face_landmarks.dat"


def packaged(name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / name


@needs_dlib
def test_weight_hashes_are_sha256_of_each_file_the_pipeline_loads(tmp_path: Path) -> None:
    provision_packaged_weights(tmp_path)
    expected = {name: hashlib.sha256(packaged(name).read_bytes()).hexdigest() for name in (DLIB_MODEL, DLIB_LANDMARKS)}
    assert weight_hashes("Dlib", "skip", tmp_path) == {DLIB_MODEL: expected[DLIB_MODEL]}
    assert weight_hashes("Dlib", "dlib", tmp_path) == expected
    assert weight_hashes("ArcFace", "skip", tmp_path) == {"arcface_weights.onnx": "absent"}


def test_labels_hash_changes_with_a_label_and_not_with_row_order() -> None:
    images = pd.DataFrame({"image_id": ["a", "b"], "gender": ["female", "male"], "path": ["/x", "/y"]})
    base = labels_hash(images, ["gender"])
    assert labels_hash(images.iloc[::-1], ["gender"]) == base
    assert labels_hash(images.assign(path=["/p", "/q"]), ["gender"]) == base  # where files live is not a label
    assert labels_hash(images.assign(gender=["female", "female"]), ["gender"]) != base


def recorded_manifest() -> dict:
    config = {"name": "x", "model": {"name": "Dlib", "detector": "dlib"}}
    return {
        "frbench_version": "0.1.0",
        "config": config,
        "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        "versions": {"numpy": "2.4.6", "deepface": "0.0.103"},
        "platform": {"python": "3.11.7"},
        "pipeline": {"engine": "onnx", "fingerprint": "f1", "align": True},
        "weights": {DLIB_MODEL: "aa", DLIB_LANDMARKS: "bb"},
        "dataset": {"root": "/data/lfw", "sha256": "d1", "labels_sha256": "l1", "n_images": 10},
        "timings_s": {"total_s": 1.0},
    }


def test_manifest_mismatches_name_every_difference_and_nothing_else() -> None:
    recorded = recorded_manifest()
    current = copy.deepcopy(recorded)
    current["timings_s"]["total_s"] = 9.0  # how long a run took is not a difference
    assert manifest_mismatches(recorded, current) == []

    current["versions"]["numpy"] = "2.5.0"
    current["weights"][DLIB_MODEL] = "cc"
    current["dataset"]["labels_sha256"] = "l2"
    current["config"] = {"name": "x", "model": {"name": "Dlib", "detector": "opencv"}}
    found = {m.item: (m.recorded, m.current) for m in manifest_mismatches(recorded, current)}
    assert found == {
        "versions.numpy": ("2.4.6", "2.5.0"),
        f"weights.{DLIB_MODEL}": ("aa", "cc"),
        "dataset.labels_sha256": ("l1", "l2"),
        "config.model.detector": ("dlib", "opencv"),
    }

    older = copy.deepcopy(recorded)
    del older["weights"]
    older["config"]["model"]["detector"] = "opencv"  # edited by hand: no longer hashes to config_sha256
    items = [str(m) for m in manifest_mismatches(older, recorded)]
    assert items[0].startswith("config_sha256: recorded") and "edited" in items[0]
    assert "weights: not in the recorded manifest, so not checked (now present)" in items


@needs_dlib
def test_run_from_manifest_reproduces_per_group_bytes_and_warns_on_each_mismatch(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=3, per_subject=2)
    cache = tmp_path / "cache"
    config = validate_config(csv_config(root, cache))
    original = run_benchmark(config, out_dir=tmp_path / "original", progress=False)
    manifest = original.manifest
    assert manifest["weights"] == {DLIB_MODEL: hashlib.sha256(packaged(DLIB_MODEL).read_bytes()).hexdigest()}
    assert manifest["pipeline"]["engine"] == "onnx" and len(manifest["dataset"]["labels_sha256"]) == 64

    # the record says another numpy and another weight file were used
    recorded = tmp_path / "recorded"
    shutil.copytree(tmp_path / "original", recorded)
    tampered = json.loads((recorded / "manifest.json").read_text())
    tampered["versions"]["numpy"] = "0.0.1"
    tampered["weights"][DLIB_MODEL] = "0" * 64
    (recorded / "manifest.json").write_text(json.dumps(tampered))
    shutil.rmtree(cache)  # embeddings are computed again, not read back

    out = tmp_path / "again"
    result = CliRunner().invoke(main, ["run", "--from", str(recorded / "manifest.json"), "-o", str(out), "--quiet"])
    # strict by default: a repetition that differs from its record is its own exit status
    assert result.exit_code == 4, result.output
    assert result.stderr.splitlines()[-1].startswith("frbench: error: reproduction: 2 difference(s) from the record")
    assert (out / "per_group.csv").read_bytes() == (tmp_path / "original" / "per_group.csv").read_bytes()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("frbench: warning: reproduction:")]
    assert len(warnings) == 2
    assert any(w.endswith("versions.numpy: recorded 0.0.1, now " + manifest["versions"]["numpy"]) for w in warnings)
    assert any(f"weights.{DLIB_MODEL}: recorded {'0' * 64}, now {manifest['weights'][DLIB_MODEL]}" in w for w in warnings)
    new = json.loads((out / "manifest.json").read_text())
    assert new["embedding"]["n_computed"] == 7 and new["config"] == manifest["config"]
    reproduction = new["reproduction"]
    assert reproduction["of"] == str((recorded / "manifest.json").resolve())
    assert reproduction["identical"] is False
    assert {m["item"] for m in reproduction["mismatches"]} == {"versions.numpy", f"weights.{DLIB_MODEL}"}


def test_run_from_refuses_to_overwrite_the_recorded_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({"config": {"name": "x", "dataset": {"name": "lfw"}}}))
    result = CliRunner().invoke(main, ["run", "--from", str(run_dir / "manifest.json"), "-o", str(run_dir)])
    assert result.exit_code == 2
    assert f"output directory {run_dir} is the recorded run's own" in result.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json"]

    both = CliRunner().invoke(main, ["run", "config.yaml", "--from", str(run_dir / "manifest.json")])
    assert both.exit_code == 2 and "give either CONFIG or --from MANIFEST" in both.stderr
    not_a_run = CliRunner().invoke(main, ["run", "--from", str(tmp_path / "nothing.json")])
    assert not_a_run.exit_code == 2 and "nothing.json: no such manifest" in not_a_run.stderr
