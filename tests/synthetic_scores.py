"""A synthetic CSV dataset with imported scores: many subjects, known score shifts, no model run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def imported_run_config(root: Path, n_subjects: int = 40, per_subject: int = 3, shift: float = -0.1,
                        seed: int = 3, n_nonmated: int = 600, **extra: object) -> dict:
    """Images (no files needed: scores are imported), pairs and scores; female mated scores moved by ``shift``."""
    rng = np.random.default_rng(seed)
    rows, pairs = [], []
    for s in range(n_subjects):
        for i in range(per_subject):
            rows.append({"file": f"s{s}/img{i}.png", "person": f"s{s}", "gender": "female" if s % 2 else "male",
                         "tone": "darker" if s % 4 < 2 else "lighter"})
    images = pd.DataFrame(rows)
    root.mkdir(parents=True, exist_ok=True)
    for f in images["file"]:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"")
    images.to_csv(root / "images.csv", index=False)
    by_subject = images.groupby("person")["file"].apply(list)
    for s, files in by_subject.items():
        female = int(s[1:]) % 2 == 1
        for i, a in enumerate(files):
            for b in files[i + 1:]:
                pairs.append({"image_a": a, "image_b": b, "mated": True,
                              "score": rng.normal(0.7 + (shift if female else 0.0), 0.08)})
    files = images["file"].to_numpy()
    for _ in range(n_nonmated):
        a, b = rng.choice(len(files), 2, replace=False)
        if images["person"].iloc[a] != images["person"].iloc[b]:
            pairs.append({"image_a": files[a], "image_b": files[b], "mated": False, "score": rng.normal(0.2, 0.1)})
    table = pd.DataFrame(pairs)
    key = [tuple(sorted(ab)) for ab in zip(table["image_a"], table["image_b"])]
    table = table[~pd.Series(key).duplicated().to_numpy()]
    table[["image_a", "image_b", "mated"]].to_csv(root / "pairs.csv", index=False)
    table[["image_a", "image_b", "score"]].to_csv(root / "scores_in.csv", index=False)
    cfg = {
        "name": "synthetic-imported",
        "dataset": {"name": "synthetic", "format": "csv", "root": str(root), "images": "images.csv",
                    "pairs": "pairs.csv", "columns": {"path": "file", "subject_id": "person", "tone": "tone"}},
        "model": {"name": "scores", "path": str(root / "scores_in.csv"), "direction": "similarity"},
        "thresholds": {"deepface_default": False, "target_fmr": [0.01]},
        "groups": ["gender", "tone"],
        "offline": True,
    }
    cfg.update(extra)
    return cfg
