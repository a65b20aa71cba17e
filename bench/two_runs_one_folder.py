"""Two `frbench run`s into one output folder, started at the same instant, many times over.

Issue: two runs (cosine and euclidean) into one -o folder both exited 0, and in 2 of 9 tries the
folder's manifest and report described one run while its tables held the other's numbers. This
script repeats that race on a tiny imported-scores dataset (no model, so each try takes about a
second) and counts the folders that end up mixed.

Each try forks two processes from this one (frbench already imported), which wait at a barrier and
then call the command line with the same -o and different fixed thresholds (0.4 and 0.6). The
folder is then checked without trusting anything the runs record about themselves: the threshold
named in manifest.json's config must be the one in thresholds.csv, per_group.csv, scores.csv's
decision column and report.md. It also counts how the pair ended: one refused (exit 2, the lock)
and one completed, or both completed (one after the other: the race was lost).

    PYTHONPATH=src python bench/two_runs_one_folder.py --tries 200

Point PYTHONPATH at another checkout to measure that one (e.g. the commit before the lock).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

THRESHOLDS = (0.4, 0.6)


def make_dataset(root: Path, n_subjects: int = 6, per_subject: int = 3) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for s in range(n_subjects):
        (root / f"s{s}").mkdir(parents=True, exist_ok=True)
        for i in range(per_subject):
            (root / f"s{s}" / f"{i}.png").write_bytes(b"placeholder")
            rows.append({"file": f"s{s}/{i}.png", "person": f"s{s}", "gender": "female" if s % 2 else "male"})
    pd.DataFrame(rows).to_csv(root / "images.csv", index=False)
    files = [r["file"] for r in rows]
    person = {r["file"]: r["person"] for r in rows}
    pairs = [(a, b, person[a] == person[b]) for i, a in enumerate(files) for b in files[i + 1:]]
    pd.DataFrame(pairs, columns=["image_a", "image_b", "mated"]).to_csv(root / "pairs.csv", index=False)
    scores = [(a, b, round(float(rng.normal(0.7 if m else 0.2, 0.1)), 6)) for a, b, m in pairs]
    pd.DataFrame(scores, columns=["image_a", "image_b", "score"]).to_csv(root / "scores.csv", index=False)


def config(root: Path, fixed: float) -> dict:
    return {
        "name": f"fixed-{fixed}",
        "dataset": {"name": "tiny", "format": "csv", "root": str(root), "images": "images.csv", "pairs": "pairs.csv",
                    "columns": {"path": "file", "subject_id": "person"}},
        "model": {"name": "scores", "path": str(root / "scores.csv")},
        "thresholds": {"deepface_default": False, "target_fmr": [], "fixed": [fixed]},
        "groups": ["gender"],
        "stats": {"permutations": 0, "label_draws": 0},
    }


def one_run(barrier, cfg: str, out: str, status) -> None:
    from frbench.cli.app import main

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    barrier.wait()
    try:
        main(["run", cfg, "-o", out, "-q"], prog_name="frbench")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    status.value = code


def folder_state(out: Path) -> str:
    """'consistent', 'mixed' (the files disagree on which run they are) or 'incomplete' (no manifest)."""
    if not (out / "manifest.json").is_file():
        return "incomplete"
    fixed = json.loads((out / "manifest.json").read_text())["config"]["thresholds"]["fixed"][0]
    name = f"fixed={fixed}"
    others = [f"fixed={t}" for t in THRESHOLDS if t != fixed]
    seen = {
        "thresholds.csv": set(pd.read_csv(out / "thresholds.csv")["threshold_name"]),
        "per_group.csv": set(pd.read_csv(out / "per_group.csv")["threshold_name"]),
        "scores.csv": {c.removeprefix("match_") for c in pd.read_csv(out / "scores.csv", nrows=1).columns
                       if c.startswith("match_")},
    }
    report = (out / "report.md").read_text()
    agrees = all(name in names and not any(o in names for o in others) for names in seen.values())
    agrees = agrees and name in report and not any(o in report for o in others)
    return "consistent" if agrees else "mixed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="copy mixed folders here")
    args = parser.parse_args()
    import frbench.cli.app  # noqa: F401  (imported once, before forking)
    import frbench.workflows.run  # noqa: F401

    ctx = multiprocessing.get_context("fork")
    work = Path(tempfile.mkdtemp(prefix="two-runs-"))
    try:
        make_dataset(work / "data")
        cfgs = []
        for t in THRESHOLDS:
            path = work / f"fixed-{t}.yaml"
            path.write_text(yaml.safe_dump(config(work / "data", t)))
            cfgs.append(str(path))
        outcomes: Counter[str] = Counter()
        states: Counter[str] = Counter()
        for i in range(args.tries):
            out = work / "runs" / "same"
            shutil.rmtree(out, ignore_errors=True)
            barrier = ctx.Barrier(2)
            status = [ctx.Value("i", -1) for _ in cfgs]
            procs = [ctx.Process(target=one_run, args=(barrier, c, str(out), s)) for c, s in zip(cfgs, status)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            codes = tuple(sorted(s.value for s in status))
            outcomes[{(0, 2): "one refused, one completed", (0, 0): "both completed (one after the other)"}.get(
                codes, f"exit statuses {codes}")] += 1
            state = folder_state(out)
            states[state] += 1
            if state == "mixed" and args.keep:
                shutil.copytree(out, args.keep / f"try-{i}")
            print(f"try {i + 1}/{args.tries}: exit {codes}, folder {state}", file=sys.stderr, flush=True)
        print(json.dumps({"tries": args.tries, "folders": dict(states), "outcomes": dict(outcomes)}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
