"""model.multiple_faces: largest (default, as before), fail (a counted failure), all-best (as DeepFace.verify)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import frbench
from frbench.config import validate_config
from frbench.embed.backend import ALL_BEST, FAIL, LARGEST, SEVERAL_FACES, EmbedResult, Embedder, Pipeline
from frbench.embed.cache import EmbeddingCache
from frbench.errors import ConfigError
from frbench.scoring.multiple_faces import best_face_similarities
from frbench.workflows.run import run_benchmark
from frbench.scoring.similarity import similarity_from_distance
from tests.builders import needs_dlib


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "euclidean_l2", "angular"])
def test_best_face_similarity_is_deepface_s_smallest_distance_over_face_pairs(metric: str) -> None:
    from deepface.modules.verification import find_distance

    rng = np.random.default_rng(2)
    faces_a = [rng.normal(size=(k, 16)).astype(np.float32) for k in (1, 3, 2, 1)]
    faces_b = [rng.normal(size=(k, 16)).astype(np.float32) for k in (2, 1, 2, 1)]
    ours = best_face_similarities(faces_a, faces_b, metric)
    for i, (fa, fb) in enumerate(zip(faces_a, faces_b)):
        # DeepFace.verify: the minimum distance over every face of image 1 against every face of image 2
        closest = min(float(find_distance(x, y, metric)) for x in fa for y in fb)
        assert ours[i] == pytest.approx(similarity_from_distance(closest, metric), abs=1e-6)


class FakeRepresent:
    """DeepFace.represent's answer for an image with the given face boxes (w, h), recording max_faces."""

    def __init__(self, boxes: list[tuple[int, int]]) -> None:
        self.boxes, self.calls = boxes, []

    def __call__(self, img_path, max_faces=None, **kwargs):
        self.calls.append(max_faces)
        faces = [{"embedding": [float(w), float(h), 1.0], "facial_area": {"x": 0, "y": 0, "w": w, "h": h}}
                 for w, h in self.boxes]
        if max_faces is not None and max_faces < len(faces):
            faces = sorted(faces, key=lambda f: f["facial_area"]["w"] * f["facial_area"]["h"], reverse=True)[:max_faces]
        return faces


def embed_with(mode: str, boxes: list[tuple[int, int]], image: Path) -> tuple[EmbedResult, list]:
    embedder = Embedder.__new__(Embedder)  # no model built: the fake stands in for deepface
    embedder.pipeline = Pipeline("Dlib", "dlib", True, multiple_faces=mode)
    embedder._represent = fake = FakeRepresent(boxes)
    return embedder.embed(str(image)), fake.calls


def test_each_choice_asks_deepface_for_what_it_needs(tmp_path: Path) -> None:
    image = tmp_path / "i.png"
    cv2.imwrite(str(image), np.zeros((20, 20, 3), np.uint8))
    two = [(10, 10), (30, 30)]
    largest, calls = embed_with(LARGEST, two, image)
    assert calls == [1] and largest.status == "ok" and largest.vector.tolist() == [30.0, 30.0, 1.0]
    fail, calls = embed_with(FAIL, two, image)
    assert calls == [2] and fail.status == SEVERAL_FACES and fail.vector is None
    one, _ = embed_with(FAIL, [(10, 10)], image)
    assert one.status == "ok" and one.vector.tolist() == [10.0, 10.0, 1.0]
    every, calls = embed_with(ALL_BEST, two, image)
    assert calls == [None] and every.vector.tolist() == [[30.0, 30.0, 1.0], [10.0, 10.0, 1.0]]  # largest first


def test_largest_keeps_the_cache_key_it_had_before_the_option() -> None:
    pipeline = Pipeline("Dlib", "dlib", True)
    before = {  # Pipeline.fingerprint's payload before multiple_faces existed
        "pipeline": {k: v for k, v in asdict(pipeline).items() if k != "multiple_faces"},
        "frbench": frbench.__version__,
        "deepface": importlib.metadata.version("deepface"),
        "engine": __import__("deepface.commons.backend_utils", fromlist=["x"]).get_backend_engine(),
    }
    assert pipeline.fingerprint() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    prints = {Pipeline("Dlib", "dlib", True, multiple_faces=m).fingerprint() for m in (LARGEST, FAIL, ALL_BEST)}
    assert len(prints) == 3
    with pytest.raises(ConfigError, match="multiple_faces must be one of largest, fail, all-best"):
        Pipeline("Dlib", "dlib", True, multiple_faces="first")


def test_the_cache_keeps_every_face(tmp_path: Path) -> None:
    faces = np.arange(6, dtype=np.float32).reshape(2, 3)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("fp", [("two", EmbedResult(faces, "ok")), ("one", EmbedResult(faces[0], "ok"))])
        got = cache.get_many("fp", ["two", "one"])
    assert got["two"].vector.tolist() == faces.tolist() and got["one"].vector.tolist() == faces[0].tolist()


def test_all_best_is_refused_for_the_exhaustive_protocol_before_any_work(tmp_path: Path) -> None:
    from tests.builders import csv_config, make_csv_dataset

    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    cfg = csv_config(root, tmp_path / "cache", pairs={"protocol": "exhaustive"})
    cfg["model"]["multiple_faces"] = "all-best"
    with pytest.raises(ConfigError, match="multiple_faces: all-best .* exhaustive"):
        run_benchmark(validate_config(cfg), out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "cache").exists()


def two_face_dataset(lfw: Path, root: Path) -> Path:
    """Two people (gender labels from LFW) and one image holding both of them, side by side."""
    faces = lfw / "images_deepfunneled"
    root.mkdir(parents=True)
    rows = []
    for person, gender in (("Aaron_Peirsol", "male"), ("Abdullah_Gul", "male"), ("Serena_Williams", "female")):
        for i in (1, 2):
            name = f"{person}_{i:04d}.jpg"
            cv2.imwrite(str(root / name), cv2.imread(str(faces / person / name)))
            rows.append({"file": name, "person": person, "gender": gender})
    small = cv2.copyMakeBorder(cv2.resize(cv2.imread(str(faces / "Serena_Williams" / "Serena_Williams_0003.jpg")),
                                          (200, 200)), 25, 25, 25, 25, cv2.BORDER_CONSTANT, value=0)
    both = np.concatenate([cv2.imread(str(faces / "Aaron_Peirsol" / "Aaron_Peirsol_0003.jpg")), small], axis=1)
    cv2.imwrite(str(root / "two.jpg"), both)
    rows.append({"file": "two.jpg", "person": "Serena_Williams", "gender": "female"})
    pd.DataFrame(rows).to_csv(root / "images.csv", index=False)
    files = [r["file"] for r in rows]
    pairs = [{"image_a": a, "image_b": b} for i, a in enumerate(files) for b in files[i + 1:]]
    pd.DataFrame(pairs).to_csv(root / "pairs.csv", index=False)
    return root


def two_face_config(root: Path, cache: Path, mode: str) -> dict:
    return {
        "name": f"faces-{mode}",
        "dataset": {"name": "faces", "format": "csv", "root": str(root), "images": "images.csv", "pairs": "pairs.csv",
                    "columns": {"path": "file", "subject_id": "person"}},
        "model": {"name": "Dlib", "detector": "dlib", "align": True, "distance_metric": "euclidean",
                  "multiple_faces": mode},
        "thresholds": {"target_fmr": [0.1]},
        "groups": ["gender"],
        "cache": {"dir": str(cache)},
        "execution": {"executor": "serial"},
        "offline": True,
    }


@needs_dlib
def test_on_real_faces_fail_counts_per_group_and_all_best_matches_deepface_verify(lfw: Path, tmp_path: Path) -> None:
    from deepface import DeepFace

    root = two_face_dataset(lfw, tmp_path / "data")
    runs = {
        mode: run_benchmark(validate_config(two_face_config(root, tmp_path / "cache", mode)),
                            out_dir=tmp_path / mode, progress=False)
        for mode in (LARGEST, FAIL, ALL_BEST)
    }
    # fail: the two-face image is a failure to enrol, counted in its group
    failures = pd.read_csv(tmp_path / FAIL / "failures.csv")
    assert failures[["image_id", "status"]].values.tolist() == [["two.jpg", "several_faces"]]
    fte = pd.read_csv(tmp_path / FAIL / "failure_to_enrol.csv").set_index(["attribute", "group"])
    assert fte.loc[("gender", "female"), "n_failed"] == 1 and fte.loc[("gender", "male"), "n_failed"] == 0
    assert "several_faces" in (tmp_path / FAIL / "report.md").read_text()
    assert pd.read_csv(tmp_path / LARGEST / "failures.csv").empty

    # all-best: every pair with the two-face image scores as DeepFace.verify decides it
    scores = runs[ALL_BEST].scores.set_index(["image_a", "image_b"])["score"]
    largest = runs[LARGEST].scores.set_index(["image_a", "image_b"])["score"]
    for other in ("Serena_Williams_0001.jpg", "Aaron_Peirsol_0001.jpg"):
        verified = DeepFace.verify(str(root / "two.jpg"), str(root / other), model_name="Dlib", detector_backend="dlib",
                                   distance_metric="euclidean", align=True)
        assert scores[(other, "two.jpg")] == pytest.approx(-verified["distance"], abs=1e-6)
        assert scores[(other, "two.jpg")] >= largest[(other, "two.jpg")]
    # the largest face is Aaron Peirsol's: only all-best sees Serena Williams in the image
    assert scores[("Serena_Williams_0001.jpg", "two.jpg")] > largest[("Serena_Williams_0001.jpg", "two.jpg")]
    assert scores[("Aaron_Peirsol_0001.jpg", "two.jpg")] == largest[("Aaron_Peirsol_0001.jpg", "two.jpg")]
    # pairs of one-face images score the same in every mode
    single = [k for k in scores.index if "two.jpg" not in k]
    assert np.array_equal(scores[single].to_numpy(), largest[single].to_numpy())
