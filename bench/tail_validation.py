"""Validate the GPD tail model on LFW: fit on a random 1 % of the non-mated pairs, predict the FMR of
all of them at the thresholds for 1e-5 and 1e-6, and count how often the intervals cover.

    FRBENCH_CACHE=/work/cache nice python bench/tail_validation.py -o docs/tails_validation.csv

Embeddings come from the embedding cache only (Dlib, dlib detector, aligned: the pipeline of
configs/lfw-dlib-exhaustive.yaml); the script stops if more than ``--max-missing`` images are not
cached, rather than embed LFW. Groups: LFW's gender and race labels (no annotation step).

1. Every non-mated pair is scored exactly (:func:`frbench.scoring.exhaustive.exhaustive_scores`):
   the thresholds T at target FMR 1e-5 and 1e-6 over all pairs, and the count of pairs >= T in
   every cell (g_a, g_b) of each attribute: the observed FMR.
2. A random 1 % of all image pairs (seeded, without replacement; mated ones dropped) is scored with
   the same exact quantised similarity. Per cell, the GPD of :mod:`frbench.metrics.tails` is fitted
   to the sample's highest scores and predicts FMR(T) with a 95 % parametric-bootstrap interval.
3. Per cell: model-based FMR, interval, observed FMR, whether the interval covers it and
   |log10(model / observed)|; the sample's own count at T shows what the sample alone resolves.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

from frbench.config import load_config
from frbench.datasets import load_dataset
from frbench.datasets.registry import resolve_data_root
from frbench.embed import CACHE_FILE, embed_images
from frbench.embed.cache import EmbeddingCache, content_hash, resolve_cache_dir
from frbench.groups import Groups
from frbench.metrics.tails import fit_tail, tail_fmr, tail_fmr_interval
from frbench.scoring.exhaustive import _DOT_UNIT, exhaustive_scores, quantised_unit_rows
from frbench.tables import OK
from frbench.workflows.run import pipeline_from_config

TARGETS = (1e-5, 1e-6)


def pair_rows(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major index k of the upper triangle (i < j) of an n x n matrix -> (i, j)."""
    k = k.astype(np.float64)
    i = (n - 2 - np.floor(np.sqrt(-8 * k + 4 * n * (n - 1) - 7) / 2.0 - 0.5)).astype(np.int64)
    j = (k + i + 1 - n * (n - 1) // 2 + (n - i) * ((n - i) - 1) // 2).astype(np.int64)
    return i, j


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/lfw-dlib-exhaustive.yaml")
    ap.add_argument("--fraction", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--max-missing", type=int, default=300)
    ap.add_argument("-o", "--out", default="docs/tails_validation.csv")
    args = ap.parse_args()
    t0 = time.time()
    config = load_config(args.config, overrides=["annotate.skin_tone=null", "groups=[gender,race]", "intersections=[]"])
    dataset = load_dataset(config.dataset, resolve_data_root(None))
    images = dataset.images.reset_index(drop=True)
    pipeline = pipeline_from_config(config)
    cache_dir = resolve_cache_dir(config.cache.dir)
    hashes = [content_hash(p) for p in images["path"]]
    with EmbeddingCache(cache_dir / CACHE_FILE) as cache:
        found = cache.get_many(pipeline.fingerprint(), [h for h in hashes if h])
    missing = sum(1 for h in hashes if h and h not in found)
    print(f"{len(images)} images, {missing} not in the cache at {cache_dir}")
    if missing > args.max_missing:
        sys.exit(f"{missing} images are not cached: not embedding LFW here")
    emb, _ = embed_images(images, pipeline, cache_dir=cache_dir, executor="serial", workers=1, progress=False,
                       offline=True)
    row = pd.Series(np.arange(len(emb.image_ids)), index=emb.image_ids)
    matrix = emb.matrix[row.loc[images["image_id"]].to_numpy()]
    ok = (emb.status.loc[images["image_id"]] == OK).to_numpy()
    keep = images[ok].reset_index(drop=True)
    x = matrix[ok]
    subj, _ = pd.factorize(keep["subject_id"])
    groups = Groups.of(["gender", "race"])
    codes, cats = {}, {}
    for name in groups.names:
        c, cat = pd.factorize(pd.Series(groups.image_labels(keep, name)), sort=True)
        codes[name], cats[name] = c, list(cat)
    print(f"{len(keep)} enrolled images; scoring every pair ({time.time() - t0:.0f} s)")
    full = exhaustive_scores(x, subj, codes, targets=TARGETS, metric="cosine")
    thr = full.thresholds
    print(f"thresholds {dict(zip(TARGETS, thr))}; {full.n_nonmated:,} non-mated pairs ({time.time() - t0:.0f} s)")

    n = len(keep)
    total = n * (n - 1) // 2
    rng = np.random.default_rng(args.seed)
    k = rng.choice(total, size=int(round(args.fraction * total)), replace=False)
    i, j = pair_rows(np.sort(k), n)
    nonmated = subj[i] != subj[j]
    i, j = i[nonmated], j[nonmated]
    q = quantised_unit_rows(x)
    scores = np.einsum("ij,ij->i", q[i], q[j]) * _DOT_UNIT  # exact, as in the exhaustive scores
    print(f"sample: {i.size:,} non-mated pairs ({time.time() - t0:.0f} s)")

    rows = []
    cells = [("all", "all", "all", np.ones(i.size, bool), full.n_nonmated, full.n_fm)]
    for a in groups.names:
        g = codes[a]
        for ga in range(len(cats[a])):
            for gb in range(ga, len(cats[a])):
                in_cell = ((g[i] == ga) & (g[j] == gb)) | ((g[i] == gb) & (g[j] == ga))
                cells.append((a, cats[a][ga], cats[a][gb], in_cell, int(full.cell_nonmated[a][ga, gb]),
                              full.cell_fm[a][:, ga, gb]))
    for attr, ga, gb, in_cell, n_cell, fm in cells:
        s = scores[in_cell]
        base = {"attribute": attr, "group_a": ga, "group_b": gb, "n_nonmated": n_cell, "n_sample": int(s.size)}
        if s.size < 1000:
            for t, target in zip(thr, TARGETS):
                rows.append({**base, "target_fmr": target, "threshold": t, "n_fm": int(fm[list(TARGETS).index(target)]),
                             "note": "fewer than 1,000 sampled pairs: not fitted"})
            continue
        fit = fit_tail(s)
        model = tail_fmr(fit, thr)
        low, high = tail_fmr_interval(fit, thr, level=0.95, n_boot=args.boot, seed=args.seed)
        for m, (t, target) in enumerate(zip(thr, TARGETS)):
            obs = fm[m] / n_cell
            rows.append({
                **base, "target_fmr": target, "threshold": t, "n_fm": int(fm[m]), "observed_fmr": obs,
                "sample_fm": int((s >= t).sum()), "u": fit.u, "n_exceed": fit.n_exceed, "xi": fit.xi,
                "sigma": fit.sigma, "model_fmr": model[m], "model_fmr_low": low[m], "model_fmr_high": high[m],
                "covered": bool(low[m] <= obs <= high[m]),
                "abs_log10_model_over_observed": float(np.abs(np.log10(model[m] / obs))) if model[m] > 0 and obs > 0 else np.nan,
                "note": "" if t > fit.u else "threshold below u: empirical range",
            })
    out = pd.DataFrame(rows)
    out.to_csv(args.out, index=False)
    fitted = out.dropna(subset=["model_fmr"]) if "model_fmr" in out else out.iloc[:0]
    print(f"\ncells fitted: {len(fitted) // len(TARGETS)}; load average {os.getloadavg()[0]:.1f}; {time.time() - t0:.0f} s")
    for target in TARGETS:
        f = fitted[fitted["target_fmr"] == target]
        print(f"target {target:.0e}: intervals cover the observed FMR in {int(f['covered'].sum())} of {len(f)} cells; "
              f"median |log10(model/observed)| {f['abs_log10_model_over_observed'].median():.3f}")
    cols = ["attribute", "group_a", "group_b", "target_fmr", "n_nonmated", "n_sample", "n_fm", "sample_fm",
            "observed_fmr", "model_fmr", "model_fmr_low", "model_fmr_high", "covered"]
    print(fitted[cols].to_string(index=False))


if __name__ == "__main__":
    main()
