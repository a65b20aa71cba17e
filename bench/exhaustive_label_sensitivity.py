"""Label sensitivity of an exhaustive run's skin tone x gender cells: how far the 2x2 rates move
when each subject's perceived skin tone is redrawn from its annotators' answers.

    python bench/exhaustive_label_sensitivity.py RUN_DIR [--config configs/lfw-dlib-exhaustive.yaml] [--draws 1000]

The exhaustive protocol counts 87 M non-mated pairs in cells and keeps no per-pair table, so the
run's own sensitivity analysis (listed pairs only) cannot redraw labels there. Only subjects whose
annotators did not all give the same answer can change group, so this script scores every pair
that has one of *them* on a side (from the cached embeddings, exactly as the run scores), takes
the run's per_group.csv counts minus those pairs' contributions under the consensus labels as the
fixed part, and, per draw, adds the contributions back under redrawn labels: each such subject
gets one of its annotators' answers at random (an ``unsure`` answer puts it in ``uncertain``),
as frbench.metrics.label_noise does for listed pairs. A pair counts in a cell when both sides are
in it (the one group rule). With the consensus labels the recount equals the run's counts, which
the script checks. Subjects are not resampled here: this is label noise alone, a sensitivity
analysis, not a confidence interval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CELLS = ("darker+female", "darker+male", "lighter+female", "lighter+male")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--config", default="configs/lfw-dlib-exhaustive.yaml")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--thresholds", nargs="+", default=["fmr=1e-04", "fmr=1e-05"])
    args = ap.parse_args()

    from frbench.annotate.sources import perceived_skin_tone
    from frbench.config import load_config
    from frbench.datasets import load_dataset
    from frbench.datasets.registry import resolve_data_root
    from frbench.embed import embed_images
    from frbench.embed.cache import resolve_cache_dir
    from frbench.workflows.run import pipeline_from_config

    cfg = load_config(args.config, ())
    images = load_dataset(cfg.dataset, resolve_data_root()).images
    emb, _ = embed_images(images, pipeline_from_config(cfg), resolve_cache_dir(cfg.cache.dir), progress=False)
    ok = (emb.status.to_numpy() == "ok")
    E = emb.matrix[ok]
    E = E / np.linalg.norm(E, axis=1, keepdims=True)
    img = images.loc[ok].reset_index(drop=True)
    labels = perceived_skin_tone(cfg.annotate.skin_tone_labels).set_index("subject_id")
    thresholds = pd.read_csv(args.run / "thresholds.csv")
    thresholds = thresholds[(thresholds["fold"] == "all") & thresholds["threshold_name"].isin(args.thresholds)]
    per_group = pd.read_csv(args.run / "per_group.csv")
    per_group = per_group[per_group["attribute"] == "skin_tone+gender"].set_index(["threshold_name", "group"])

    answers = labels[["n_darker", "n_lighter", "n_unsure"]].astype(int)
    disputed = answers.index[(answers > 0).sum(axis=1) > 1]
    tone = labels["skin_tone"].reindex(img["subject_id"]).fillna("unknown").to_numpy()
    gender = img["gender"].astype(str).to_numpy()
    subj = img["subject_id"].to_numpy()
    in_d = np.isin(subj, disputed)
    d_idx = np.flatnonzero(in_d)
    print(f"{len(disputed)} subjects with differing answers ({in_d.sum()} enrolled images); "
          f"{len(img)} enrolled images in all", flush=True)
    sims = E[d_idx] @ E.T  # every pair with a disputed image on one side (and some twice: fixed below)
    rng = np.random.default_rng(args.seed)
    d_subjects = sorted(set(subj[d_idx]))
    pos = {s: i for i, s in enumerate(d_subjects)}
    rows = []
    for _, thr in thresholds.iterrows():
        T = thr["threshold"]
        match = sims >= T
        mated = subj[d_idx][:, None] == subj[None, :]
        # each unordered pair once: a pair of two disputed images is kept from the lower index only
        keep = ~(in_d[None, :] & (np.arange(len(img))[None, :] <= d_idx[:, None]))

        def counts(d_tone: dict[str, str]) -> dict[str, np.ndarray]:
            t_all = tone.copy()
            for s, t in d_tone.items():
                t_all[subj == s] = t
            cell = np.char.add(np.char.add(t_all.astype(str), "+"), gender.astype(str))
            same = (cell[d_idx][:, None] == cell[None, :]) & keep
            out = {}
            for c in CELLS:
                m = same & (cell[d_idx][:, None] == c)
                out[c] = np.array([(m & ~mated).sum(), (m & ~mated & match).sum(), (m & mated).sum(), (m & mated & ~match).sum()])
            return out

        observed = counts({s: labels.loc[s, "skin_tone"] for s in d_subjects})
        base = {c: np.array([per_group.loc[(thr["threshold_name"], c), k] for k in ("n_nonmated", "n_fm", "n_mated", "n_fnm")])
                - observed[c] for c in CELLS}
        draws = {c: [] for c in CELLS}
        for _ in range(args.draws):
            redrawn = {}
            for s in d_subjects:
                n = answers.loc[s].to_numpy()
                pick = rng.choice(3, p=n / n.sum())
                redrawn[s] = ("darker", "lighter", "uncertain")[pick]
            got = counts(redrawn)
            for c in CELLS:
                draws[c].append(base[c] + got[c])
        for c in CELLS:
            arr = np.array(draws[c], dtype=float)
            fmr, fnmr = arr[:, 1] / arr[:, 0], arr[:, 3] / arr[:, 2]
            row = per_group.loc[(thr["threshold_name"], c)]
            rows.append({"threshold_name": thr["threshold_name"], "group": c, "fmr": row["fmr"],
                         "fmr_label_low": np.percentile(fmr, 2.5), "fmr_label_high": np.percentile(fmr, 97.5),
                         "fnmr": row["fnmr"], "fnmr_label_low": np.percentile(fnmr, 2.5),
                         "fnmr_label_high": np.percentile(fnmr, 97.5), "draws": args.draws})
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".4g"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
