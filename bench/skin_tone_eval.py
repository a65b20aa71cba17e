"""Cross-validated comparison of skin-tone estimators on the hand-labelled LFW development set.

    python bench/skin_tone_eval.py [--reps 5] [--seed 0] [--write-model src/frbench/annotate/models/skin_tone_v1.json]

What it does
------------
1. Rebuilds the development set of ``bench/skin_tone_devset.py`` (same seed and sizes: 360 LFW
   subjects, 180 drawn at random and 180 from today's ITA ``darker`` calls) and reads every
   ``labels/lfw-skin-tone/annotator-*.csv``. The target is their consensus
   (:func:`frbench.label.agreement.unanimous_binary`): ``darker``/``lighter`` where all annotators gave
   that label, otherwise left out of the binary measures (still counted in coverage). Monk targets
   are every annotator's Monk value, each weighted 1 / (number of Monk values for the subject).
2. For today's ITA and each variant below, runs ``--reps`` repetitions of 5-fold cross-validation,
   stratified by (consensus label, sampling stratum) and seeded. Inside each training fold an inner
   5-fold CV chooses the L2 strength (by log-loss) and the abstention band [lo, hi] (the band with
   the best balanced accuracy among those with inner darker precision >= ``--min-precision`` and
   coverage >= ``--min-coverage``; failing that, the best precision at that coverage), so every
   figure printed is for subjects whose labels took no part in any choice made for them.
3. Prints, per variant: balanced accuracy, darker precision (also weighted back to LFW's own
   mix by 1 / inclusion probability), darker recall, coverage (share of all 360 subjects not
   ``uncertain``), AUC of P(darker) (all labelled subjects), Monk MAE (ordinal model, L2 = 1 fixed),
   as the mean (and SD) over repetitions.

Variants: ``ita_today`` (subject median ITA, category rule, no abstention); ``ita_calibrated``
(logistic on the same ITA with the nested band: what calibration and abstention alone buy);
``roi_<k>`` (robust skin-pixel L*, a*, b* after correction k); ``face_<k>`` (face-wide L*
quantiles and a*, b* of its darker and lighter halves after correction k);
``face_none+all`` (every feature); ``selected`` (the inner CV also chooses among the ``face_<k>``
variants: the honest figure for picking one). Levels: ``image`` scores the photo the annotators
saw; ``subject`` aggregates all the subject's LFW photos as the shipped estimator does.

``--write-model`` then fits the ``selected`` procedure on all labelled subjects and writes the
coefficient file with its provenance.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from skin_tone_devset import default_lfw, draw_sample

from frbench.annotate.estimator import median_class, model_document, pool_subject
from frbench.annotate.features import CORRECTIONS, features_table
from frbench.annotate.fit import (
    Standardiser,
    binary_scores,
    fit_logistic,
    fit_ordinal,
    predict_logistic,
    predict_ordinal,
    roc_auc,
    stratified_folds,
)
from frbench.annotate.ita import ItaOptions, estimate_ita_images, subject_ita
from frbench.label.agreement import cohen_kappa, unanimous_binary
from frbench.label.files import read_label_file

UNSURE = "unsure"
from frbench.annotate.skin_tone import DARKER, binary_from_ita_category, ita_category
from frbench.datasets.lfw import load_lfw
from frbench.metrics.intervals import clopper_pearson
from frbench.tables import OK

REPO = Path(__file__).resolve().parents[1]
L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
MONK_L2 = 1.0
LO_GRID = np.round(np.arange(0.02, 0.51, 0.02), 2)
HI_GRID = np.round(np.arange(0.50, 0.99, 0.02), 2)
N_FOLDS = 5
FACE = ("L10", "L25", "L50", "L75", "L90", "low_a", "low_b", "high_a", "high_b")
GLOBAL = ("L_iqr", "b_iqr", "h_iqr", "log_pixels", "region_L_range", "n_regions", "cast_a", "cast_b", "image_L",
          "image_L99", "clipped", "ref_sclera_L", "has_sclera", "has_teeth", "eye_distance")


def variants() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in ("none", "grey_edge"):
        out[f"roi_{k}"] = [f"{k}_L", f"{k}_a", f"{k}_b"]
    for k in CORRECTIONS:
        out[f"face_{k}"] = [f"{k}_face_{f}" for f in FACE]
    out["face_none+all"] = out["face_none"] + [f"none_{f}" for f in ("L", "a", "b", "lit_L", "lit_a", "lit_b",
                                                                      "dark_L", "dark_a", "dark_b")] + list(GLOBAL)
    return out


SELECTABLE = tuple(f"face_{k}" for k in CORRECTIONS)


@dataclass
class DevSet:
    subjects: pd.DataFrame  # one row per sampled subject, in sample order
    y: np.ndarray  # 1 darker, 0 lighter, -1 not decided by consensus
    strata: np.ndarray
    shown: pd.DataFrame  # features of the shown image, row per subject
    images: pd.DataFrame  # features of every image of the sampled subjects, with subject index "s"
    monk: pd.DataFrame  # s, monk, weight
    label_files: list[Path]
    labels: list[pd.DataFrame]


def load_devset(args: argparse.Namespace) -> DevSet:
    images = load_lfw(args.lfw).images
    per_image = estimate_ita_images(images, ItaOptions(), cache_dir=args.cache_dir, progress=False)
    per_subject = subject_ita(per_image)
    per_subject["binary"] = binary_from_ita_category(ita_category(per_subject["ita"].to_numpy()))
    sample = draw_sample(per_subject, args.n_random, args.n_darker, args.sample_seed)
    sample["image_id"] = sample["subject_id"].map(images.groupby("subject_id")["image_id"].min())
    sample = sample.merge(per_subject[["subject_id", "ita", "binary"]], on="subject_id", how="left")

    files = sorted(Path(args.labels_dir).glob("annotator-*.csv"))
    if not files:
        raise SystemExit(f"no annotator-*.csv under {args.labels_dir}")
    labels = [_dev_labels(f) for f in files]
    want = set(zip(sample["subject_id"], sample["image_id"]))
    for f, table in zip(files, labels):
        got = set(zip(table["subject_id"], table["image_id"]))
        if got != want:
            raise SystemExit(f"{f}: labels {len(got)} (subject, image) pairs, the dev set (seed {args.sample_seed}) has "
                             f"{len(want)}; {len(got - want)} unexpected, {len(want - got)} missing")
    agreed = unanimous_binary(pd.concat(labels, ignore_index=True).assign(monk=lambda t: t["monk_text"]))
    sample["consensus"] = sample["subject_id"].map(agreed)
    y = np.where(sample["consensus"] == DARKER, 1, np.where(sample["consensus"] == UNSURE, -1, 0))
    strata = np.array([f"{c}|{s}" for c, s in zip(sample["consensus"], sample["stratum"])])

    index = {s: i for i, s in enumerate(sample["subject_id"])}
    subject_images = images[images["subject_id"].isin(index)]
    feats = features_table(subject_images, cache_dir=args.cache_dir, progress=sys.stderr.isatty())
    feats["s"] = feats["subject_id"].map(index)
    shown = sample[["image_id"]].merge(feats, on="image_id", how="left")

    monk_rows = pd.concat(labels)[["subject_id", "monk"]].dropna()
    monk_rows["s"] = monk_rows["subject_id"].map(index)
    monk_rows["weight"] = 1.0 / monk_rows.groupby("s")["monk"].transform("size")
    return DevSet(sample, y, strata, shown, feats, monk_rows[["s", "monk", "weight"]].reset_index(drop=True), files, labels)


def choose_band(p: np.ndarray, y: np.ndarray, min_cov: float, min_prec: float) -> tuple[float, float]:
    """The band (lo, hi) on the grids maximising balanced accuracy among those with coverage >=
    min_cov and darker precision >= min_prec; else the most precise band with coverage >= min_cov
    (ties: higher balanced accuracy, then higher coverage)."""
    d = y == 1
    ge = p[None, :] >= HI_GRID[:, None]
    le = p[None, :] <= LO_GRID[:, None]
    tp, fp = (ge & d).sum(1)[None, :], (ge & ~d).sum(1)[None, :]
    fn, tn = (le & d).sum(1)[:, None], (le & ~d).sum(1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (tp + fp + fn + tn) / len(p)
        prec = tp / (tp + fp)
        ba = (tp / (tp + fn) + tn / (tn + fp)) / 2
    valid = (LO_GRID[:, None] <= HI_GRID[None, :]) & (cov >= min_cov) & np.isfinite(ba) & np.isfinite(prec)
    if not valid.any():
        return 0.5, 0.5
    good = valid & (prec >= min_prec)
    keys = (np.where(good, ba, -1), np.where(good, cov, -1)) if good.any() else (np.where(valid, prec, -1), np.where(valid, ba, -1))
    flat = np.lexsort((keys[1].ravel(), keys[0].ravel()))[-1]
    i, j = np.unravel_index(flat, cov.shape)
    return float(LO_GRID[i]), float(HI_GRID[j])


def logloss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def inner_oof(X: np.ndarray, y: np.ndarray, folds: np.ndarray, l2: float) -> np.ndarray:
    p = np.empty(len(y))
    for k in range(N_FOLDS):
        tr = folds != k
        st = Standardiser.fit(X[tr])
        b, beta = fit_logistic(st.transform(X[tr]), y[tr], l2)
        p[~tr] = predict_logistic(st.transform(X[~tr]), b, beta)
    return p


def tune(dev: DevSet, rows: np.ndarray, candidates: list[tuple[str, list[str]]], seed: int, args) -> dict:
    """Inner CV on training rows: the candidate and L2 with the lowest log-loss, then the band."""
    y = dev.y[rows]
    folds = stratified_folds(dev.strata[rows], N_FOLDS, seed)
    best = None
    for name, cols in candidates:
        X = dev.shown.loc[rows, cols].to_numpy(float)
        for l2 in L2_GRID:
            p = inner_oof(X, y, folds, l2)
            loss = logloss(p, y)
            if best is None or loss < best[0]:
                best = (loss, name, cols, l2, p)
    _, name, cols, l2, p = best
    lo, hi = choose_band(p, y, args.min_coverage, args.min_precision)
    return {"variant": name, "cols": cols, "l2": l2, "band": (lo, hi)}


def cross_validate(dev: DevSet, name: str, cols: list[str] | None, rep: int, args) -> dict:
    """One repetition of the outer CV for a learnt variant (cols) or for ``selected`` (cols None)."""
    n = len(dev.subjects)
    folds = stratified_folds(dev.strata, N_FOLDS, args.seed + rep)
    ok_shown = (dev.shown["status"] == OK).to_numpy()
    img_ok = (dev.images["status"] == OK).to_numpy()
    p_img, p_sub = np.full(n, np.nan), np.full(n, np.nan)
    bands = np.full((n, 2), np.nan)
    monk_img, monk_sub = np.full(n, np.nan), np.full(n, np.nan)
    chosen = []
    candidates = [(v, variants()[v]) for v in SELECTABLE] if cols is None else [(name, cols)]
    for k in range(N_FOLDS):
        train = np.flatnonzero((folds != k) & (dev.y >= 0) & ok_shown)
        test = folds == k
        t = tune(dev, train, candidates, 1000 * (rep + 1) + k, args)
        chosen.append((t["variant"], t["l2"], t["band"]))
        X = dev.shown[t["cols"]].to_numpy(float)
        st = Standardiser.fit(X[train])
        b, beta = fit_logistic(st.transform(X[train]), dev.y[train], t["l2"])
        sel = test & ok_shown
        p_img[sel] = predict_logistic(st.transform(X[sel]), b, beta)
        bands[test] = t["band"]
        # every photo of the test subjects, aggregated as the estimator does
        rows = img_ok & test[dev.images["s"].to_numpy()]
        Xa = dev.images.loc[rows, t["cols"]].to_numpy(float)
        sa = dev.images.loc[rows, "s"].to_numpy()
        pa = predict_logistic(st.transform(Xa), b, beta)
        # Monk: ordinal model on the same features, trained on every training subject's Monk labels
        # (also those whose binary consensus is unsure)
        mk = dev.monk[np.isin(dev.monk["s"], np.flatnonzero((folds != k) & ok_shown))]
        classes = np.arange(int(mk["monk"].min()), int(mk["monk"].max()) + 1)
        theta, mbeta = fit_ordinal(st.transform(X[mk["s"].to_numpy()]), mk["monk"].to_numpy(int) - classes[0],
                                   len(classes), MONK_L2, mk["weight"].to_numpy())
        monk_img[sel] = median_class(predict_ordinal(st.transform(X[sel]), theta, mbeta), classes)
        dist = predict_ordinal(st.transform(Xa), theta, mbeta)
        for s in np.flatnonzero(test):
            m = sa == s
            if m.any():
                p_sub[s], pooled = pool_subject(pa[m], dist[m])
                monk_sub[s] = median_class(pooled[None, :], classes)[0]
    return {"image": (p_img, bands, monk_img), "subject": (p_sub, bands, monk_sub), "chosen": chosen}


def decisions(p: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """1 darker, 0 lighter, -1 uncertain (NaN p: a quality failure)."""
    out = np.full(len(p), -1)
    out[p >= bands[:, 1]] = 1
    out[p <= bands[:, 0]] = 0
    return out


def measures(dev: DevSet, score: np.ndarray, call: np.ndarray, monk: np.ndarray) -> dict[str, float]:
    """The reported measures for one set of out-of-fold predictions (higher score = darker)."""
    labelled = dev.y >= 0
    decided = labelled & (call >= 0)
    s = binary_scores(dev.y[decided], call[decided] == 1)
    weighted = binary_scores(dev.y[decided], call[decided] == 1, 1.0 / dev.subjects["p_include"].to_numpy()[decided])
    auc_rows = labelled & np.isfinite(score)
    pred = monk[dev.monk["s"].to_numpy()]
    have = np.isfinite(pred)
    w = dev.monk["weight"].to_numpy()[have]
    mae = float(np.sum(w * np.abs(pred[have] - dev.monk["monk"].to_numpy()[have])) / w.sum()) if have.any() else math.nan
    return {
        "balanced_accuracy": s["balanced_accuracy"],
        "darker_precision": s["precision"],
        "darker_precision_lfw": weighted["precision"],
        "darker_recall": s["recall"],
        "coverage": float((call >= 0).mean()),
        "auc": roc_auc(dev.y[auc_rows], score[auc_rows]),
        "monk_mae": mae,
        "darker_calls": float((call == 1).sum()),
        "tp": float(np.sum(decided & (dev.y == 1) & (call == 1))),
        "fp": float(np.sum(decided & (dev.y == 0) & (call == 1))),
        "fn": float(np.sum(decided & (dev.y == 1) & (call == 0))),
        "tn": float(np.sum(decided & (dev.y == 0) & (call == 0))),
    }


def ita_today(dev: DevSet, rep: int, args) -> dict[str, float]:
    """Today's estimator: subject median ITA, category rule; Monk from an ordinal model on ITA (CV)."""
    ita = dev.subjects["ita"].to_numpy(float)
    call = np.where(np.isnan(ita), -1, (dev.subjects["binary"] == DARKER).to_numpy().astype(int))
    folds = stratified_folds(dev.strata, N_FOLDS, args.seed + rep)
    monk = np.full(len(ita), np.nan)
    have = np.isfinite(ita)
    for k in range(N_FOLDS):
        train = np.flatnonzero((folds != k) & have)
        mk = dev.monk[np.isin(dev.monk["s"], train)]
        classes = np.arange(int(mk["monk"].min()), int(mk["monk"].max()) + 1)
        st = Standardiser.fit(ita[train, None])
        theta, beta = fit_ordinal(st.transform(ita[mk["s"].to_numpy(), None]), mk["monk"].to_numpy(int) - classes[0],
                                  len(classes), MONK_L2, mk["weight"].to_numpy())
        te = (folds == k) & have
        monk[te] = median_class(predict_ordinal(st.transform(ita[te, None]), theta, beta), classes)
    return measures(dev, -ita, call, monk)


def ita_calibrated(dev: DevSet, rep: int, args) -> dict[str, float]:
    """Logistic on subject ITA with the nested L2 and band: abstention without new features."""
    dev.shown["_ita_subject"] = dev.subjects["ita"].to_numpy(float)
    n = len(dev.subjects)
    folds = stratified_folds(dev.strata, N_FOLDS, args.seed + rep)
    have = np.isfinite(dev.shown["_ita_subject"].to_numpy())
    p, bands = np.full(n, np.nan), np.full((n, 2), np.nan)
    X = dev.shown[["_ita_subject"]].to_numpy(float)
    for k in range(N_FOLDS):
        train = np.flatnonzero((folds != k) & (dev.y >= 0) & have)
        t = tune(dev, train, [("ita", ["_ita_subject"])], 1000 * (rep + 1) + k, args)
        st = Standardiser.fit(X[train])
        b, beta = fit_logistic(st.transform(X[train]), dev.y[train], t["l2"])
        te = (folds == k) & have
        p[te] = predict_logistic(st.transform(X[te]), b, beta)
        bands[folds == k] = t["band"]
    return measures(dev, p, decisions(p, bands), np.full(n, np.nan))


def _dev_labels(path: Path) -> pd.DataFrame:
    """One annotator's file (frbench.label.files' strict reader), Monk as a number (NaN when not given)."""
    table = read_label_file(path)
    return table.assign(monk_text=table["monk"], monk=pd.to_numeric(table["monk"].replace("", np.nan)))


def label_summary(dev: DevSet) -> list[str]:
    lines = [f"label files: {', '.join(f.name for f in dev.label_files)}"]
    for f, t in zip(dev.label_files, dev.labels):
        lines.append(f"  {f.name}: " + ", ".join(f"{k} {v}" for k, v in t["skin_tone_binary"].value_counts().items()))
    if len(dev.labels) >= 2:
        both = dev.labels[0].merge(dev.labels[1], on=["subject_id", "image_id"], suffixes=("_a", "_b"))
        dec = both[(both["skin_tone_binary_a"] != UNSURE) & (both["skin_tone_binary_b"] != UNSURE)]
        agree = (dec["skin_tone_binary_a"] == dec["skin_tone_binary_b"]).mean()
        kappa = cohen_kappa(dec["skin_tone_binary_a"], dec["skin_tone_binary_b"])
        m = both.dropna(subset=["monk_a", "monk_b"])
        lines.append(
            f"  agreement {dev.labels[0]['annotator'].iloc[0]} vs {dev.labels[1]['annotator'].iloc[0]}: "
            f"{round(agree * len(dec))}/{len(dec)} subjects both decided ({agree:.3f}, Cohen's kappa "
            f"{kappa:.3f}); one or both unsure on {len(both) - len(dec)}; Monk exact "
            f"{(m['monk_a'] == m['monk_b']).mean():.3f}, mean |difference| {(m['monk_a'] - m['monk_b']).abs().mean():.3f} "
            f"over {len(m)}"
        )
    c = pd.Series(dev.y).map({1: "darker", 0: "lighter", -1: "not agreed/unsure"}).value_counts()
    lines.append("consensus target: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    return lines


COLUMNS = ("balanced_accuracy", "darker_precision", "darker_precision_lfw", "darker_recall", "coverage", "auc", "monk_mae")


def table(results: dict[tuple[str, str], list[dict[str, float]]]) -> str:
    head = "| variant | level | " + " | ".join(COLUMNS) + " | darker calls |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for (name, level), reps in results.items():
        frame = pd.DataFrame(reps)
        cells = []
        for c in COLUMNS:
            mean, sd = frame[c].mean(), frame[c].std(ddof=1) if len(frame) > 1 else 0.0
            cells.append("n/a" if np.isnan(mean) else f"{mean:.3f} ± {sd:.3f}")
        lines.append(f"| {name} | {level} | " + " | ".join(cells) + f" | {frame['darker_calls'].mean():.1f} |")
    return "\n".join(lines)


def write_model(dev: DevSet, args, cv_rows: dict) -> None:
    ok_shown = (dev.shown["status"] == OK).to_numpy()
    train = np.flatnonzero((dev.y >= 0) & ok_shown)
    t = tune(dev, train, [(v, variants()[v]) for v in SELECTABLE], 424242, args)
    X = dev.shown[t["cols"]].to_numpy(float)
    st = Standardiser.fit(X[train])
    b, beta = fit_logistic(st.transform(X[train]), dev.y[train], t["l2"])
    mk = dev.monk[np.isin(dev.monk["s"], np.flatnonzero(ok_shown))]
    classes = list(range(int(mk["monk"].min()), int(mk["monk"].max()) + 1))
    theta, mbeta = fit_ordinal(st.transform(X[mk["s"].to_numpy()]), mk["monk"].to_numpy(int) - classes[0],
                               len(classes), MONK_L2, mk["weight"].to_numpy())
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    provenance = {
        "fitted_on": datetime.date.today().isoformat(),
        "command": "python bench/skin_tone_eval.py " + " ".join(sys.argv[1:]),
        "git_commit_before_fit": commit,
        "dev_set": f"LFW deep-funneled, bench/skin_tone_devset.py seed {args.sample_seed}: {args.n_random} random + "
                   f"{args.n_darker} ITA-darker subjects, first image each",
        "labels": [{"file": f.relative_to(REPO).as_posix() if f.is_relative_to(REPO) else str(f),
                    "sha256": hashlib.sha256(f.read_bytes()).hexdigest()} for f in dev.label_files],
        "target": "consensus of the label files (subjects all annotators labelled alike); Monk: every annotator's value",
        "n_train_binary": len(train),
        "n_train_darker": int(dev.y[train].sum()),
        "n_train_monk_labels": len(mk),
        "variant": t["variant"],
        "l2": t["l2"],
        "monk_l2": MONK_L2,
        "band_rule": f"inner {N_FOLDS}-fold CV: best balanced accuracy with darker precision >= {args.min_precision} "
                     f"and coverage >= {args.min_coverage}",
        "cross_validated": cv_rows,
        "caveat": "labels are perceived skin tone from one photo by non-expert annotators (see labels/lfw-skin-tone/README.md)",
    }
    doc = model_document(t["cols"], st.mean, st.scale, b, beta, classes, theta, mbeta, t["band"], provenance)
    Path(args.write_model).parent.mkdir(parents=True, exist_ok=True)
    Path(args.write_model).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.write_model}: variant {t['variant']}, l2 {t['l2']}, band {t['band']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=default_lfw())
    parser.add_argument("--labels-dir", type=Path, default=REPO / "labels" / "lfw-skin-tone")
    parser.add_argument("--cache-dir", type=Path, default=os.environ.get("FRBENCH_CACHE"))
    parser.add_argument("--sample-seed", type=int, default=15)
    parser.add_argument("--n-random", type=int, default=180)
    parser.add_argument("--n-darker", type=int, default=180)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-precision", type=float, default=0.85)
    parser.add_argument("--min-coverage", type=float, default=0.65)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    parser.add_argument("--write-model", type=Path)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    dev = load_devset(args)
    print("\n".join(label_summary(dev)))
    all_variants = {**variants(), "selected": None}
    names = args.only or ["ita_today", "ita_calibrated", *all_variants]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    chosen: list = []
    for name in names:
        for rep in range(args.reps):
            if name == "ita_today":
                results.setdefault((name, "subject"), []).append(ita_today(dev, rep, args))
                continue
            if name == "ita_calibrated":
                results.setdefault((name, "subject"), []).append(ita_calibrated(dev, rep, args))
                continue
            out = cross_validate(dev, name, all_variants[name], rep, args)
            levels = ("image", "subject") if name in ("selected", "face_none", "face_grey_edge") else ("image",)
            for level in levels:
                p, bands, monk = out[level]
                results.setdefault((name, level), []).append(measures(dev, p, decisions(p, bands), monk))
            if name == "selected":
                chosen += out["chosen"]
        print(f"  {name}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    print(f"\n{args.reps} x {N_FOLDS}-fold CV (seed {args.seed}), {len(dev.subjects)} subjects; mean ± SD over repetitions\n")
    print(table(results))
    print("\nSampling uncertainty, first repetition (Clopper-Pearson 95 %; 45 darker subjects make these wide):")
    for (name, level), reps in results.items():
        if name in ("ita_today", "selected"):
            r = reps[0]
            tp, fp, fn, tn = (int(r[c]) for c in ("tp", "fp", "fn", "tn"))
            pl, ph = clopper_pearson(tp, tp + fp)
            rl, rh = clopper_pearson(tp, tp + fn)
            sl, sh = clopper_pearson(tn, tn + fp)
            print(f"  {name}/{level}: TP {tp} FP {fp} FN {fn} TN {tn}; darker precision {tp / max(tp + fp, 1):.3f} "
                  f"[{pl:.3f}, {ph:.3f}], recall {tp / max(tp + fn, 1):.3f} [{rl:.3f}, {rh:.3f}], "
                  f"lighter recall {tn / max(tn + fp, 1):.3f} [{sl:.3f}, {sh:.3f}]")
    if chosen:
        frame = pd.DataFrame(chosen, columns=["variant", "l2", "band"])
        print("\nselected: inner choices over outer folds:", frame["variant"].value_counts().to_dict(),
              "l2", frame["l2"].value_counts().to_dict(), "bands", frame["band"].value_counts().head(5).to_dict())
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.write_model:
        rows = {f"{n}/{lvl}": {c: float(pd.DataFrame(r)[c].mean()) for c in COLUMNS}
                for (n, lvl), r in results.items() if n in ("selected", "ita_today")}
        write_model(dev, args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
