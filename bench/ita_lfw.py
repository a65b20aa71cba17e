"""Skin tone by ITA over LFW: failures, category distribution, agreement with perceived-race labels.

    python bench/ita_lfw.py --out /tmp/ita_lfw [--limit N] [--workers 1] [--subjects all|race-json]
                            [--regions both] [--statistic median_lab] [--outliers iqr] [--grey-world]
    python bench/ita_lfw.py --out /tmp/ita_cmp --subjects race-json --compare

The first form runs :func:`frbench.annotate.ita.estimate_ita_images` with one option set and writes
``per_image.csv`` and ``per_subject.csv`` under ``--out``. ``--compare`` detects each face once
and measures every combination of grey-world, region set, outlier rule and statistic on the same
landmarks, writing ``compare.csv``.

Agreement uses labels/lfw_race_dict.json (perceived race, single-label entries only): the share of
``african`` subjects whose ITA binary is ``darker`` and of ``caucasian`` subjects in ``lighter``,
over subjects with an estimate. Race is not skin tone; these are plausibility checks, not accuracy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu
from tqdm import tqdm

from frbench.annotate.ita import (
    OUTLIER_RULES,
    REGIONS,
    STATISTICS,
    ItaOptions,
    estimate_ita_images,
    face_landmarks,
    ita_from_landmarks,
    subject_ita,
)
from frbench.annotate.skin_tone import ITA_CATEGORIES, binary_from_ita_category, ita_category
from frbench.io.spreadsheet import write_csv
from frbench.tables import OK, UNKNOWN

REPO = Path(__file__).resolve().parents[1]


def default_lfw() -> Path:
    data = os.environ.get("FRBENCH_DATA")
    return Path(data) / "lfw" if data else REPO.parent / "shared" / "datasets" / "lfw"


def lfw_images(root: Path, subjects: set[str] | None, limit: int | None) -> pd.DataFrame:
    base = root / "images_deepfunneled"
    paths = sorted(base.glob("*/*.jpg"))
    if not paths:
        sys.exit(f"no images under {base}")
    rows = [(p.relative_to(base).as_posix(), str(p), p.parent.name) for p in paths]
    table = pd.DataFrame(rows, columns=["image_id", "path", "subject_id"])
    if subjects is not None:
        table = table[table["subject_id"].isin(subjects)]
    return table.head(limit).reset_index(drop=True) if limit else table.reset_index(drop=True)


def single_race_labels(root: Path) -> dict[str, str]:
    race = json.loads((root / "labels" / "lfw_race_dict.json").read_text())
    return {name: label for name, label in race.items() if "," not in label}


def agreement(per_subject: pd.DataFrame, race: dict[str, str]) -> dict[str, float]:
    """Shares of african -> darker and caucasian -> lighter, their mean, and the AUC of ITA
    separating caucasian (higher) from african subjects."""
    known = per_subject[per_subject["ita"].notna()]
    labels = known["subject_id"].map(race)
    binary = binary_from_ita_category(ita_category(known["ita"].to_numpy()))
    afr, cau = (labels == "african").to_numpy(), (labels == "caucasian").to_numpy()
    share_afr = float(np.mean(binary[afr] == "darker")) if afr.any() else np.nan
    share_cau = float(np.mean(binary[cau] == "lighter")) if cau.any() else np.nan
    ita = known["ita"].to_numpy()
    auc = np.nan
    if afr.any() and cau.any():
        auc = mannwhitneyu(ita[cau], ita[afr]).statistic / (cau.sum() * afr.sum())
    return {
        "n_african": int(afr.sum()),
        "african_darker": share_afr,
        "n_caucasian": int(cau.sum()),
        "caucasian_lighter": share_cau,
        "balanced": (share_afr + share_cau) / 2,
        "auc": float(auc),
        "median_ita_african": float(np.median(ita[afr])) if afr.any() else np.nan,
        "median_ita_caucasian": float(np.median(ita[cau])) if cau.any() else np.nan,
    }


def within_subject_sd(per_image: pd.DataFrame) -> float:
    """Median over subjects with >= 3 ok images of the SD of their per-image ITA (stability)."""
    ok = per_image[per_image["status"] == OK]
    sd = ok.groupby("subject_id")["ita"].agg(["std", "size"])
    return float(sd.loc[sd["size"] >= 3, "std"].median())


def report(per_image: pd.DataFrame, per_subject: pd.DataFrame, race: dict[str, str]) -> None:
    print(f"images: {len(per_image)}  subjects: {len(per_subject)}")
    print("status:", dict(Counter(per_image["status"]).most_common()))
    category = ita_category(per_subject["ita"].to_numpy())
    counts = Counter(category)
    n = len(per_subject)
    print("subjects by ITA category:")
    for name in (*ITA_CATEGORIES, UNKNOWN):
        print(f"  {name:13s} {counts.get(name, 0):5d}  {counts.get(name, 0) / n:6.1%}")
    binary = Counter(binary_from_ita_category(category))
    shares = {k: f"{binary.get(k, 0)} ({binary.get(k, 0) / n:.1%})" for k in ("lighter", "darker", UNKNOWN)}
    print("subjects by binary:", shares)
    a = agreement(per_subject, race)
    print(
        f"agreement with race JSON (single-label, subjects with an estimate): african -> darker "
        f"{a['african_darker']:.1%} of {a['n_african']}; caucasian -> lighter {a['caucasian_lighter']:.1%} "
        f"of {a['n_caucasian']}; mean {a['balanced']:.1%}; AUC(ITA, caucasian vs african) {a['auc']:.3f}; "
        f"median ITA african {a['median_ita_african']:.1f}, caucasian {a['median_ita_caucasian']:.1f}"
    )
    labelled = per_subject["subject_id"].map(race)
    for group in ("lighter", "darker"):
        in_group = (binary_from_ita_category(category) == group) & labelled.notna().to_numpy()
        print(f"race labels of {group} subjects (single-label):", dict(Counter(labelled[in_group]).most_common()))
    sd = within_subject_sd(per_image)
    print(f"within-subject SD of ITA (median over subjects with >= 3 ok images): {sd:.2f} deg")


def all_options(base: ItaOptions) -> list[ItaOptions]:
    return [
        replace(base, grey_world=g, regions=r, outliers=o, statistic=s)
        for g, r, o, s in itertools.product((False, True), REGIONS, OUTLIER_RULES, STATISTICS)
    ]


def _compare_one(path: str, options: list[ItaOptions]) -> list[tuple[float, str]]:
    image = cv2.imread(path)
    if image is None:
        return [(np.nan, "unreadable")] * len(options)
    landmarks = face_landmarks(image, options[0].upsample)
    if landmarks is None:
        return [(np.nan, "no_face")] * len(options)
    results = [ita_from_landmarks(image, landmarks, o) for o in options]
    return [(np.nan if r.ita is None else r.ita, r.status) for r in results]


def compare(images: pd.DataFrame, base: ItaOptions, workers: int, race: dict[str, str]) -> pd.DataFrame:
    options = all_options(base)
    paths = images["path"].tolist()
    if workers == 1:
        results = [_compare_one(p, options) for p in tqdm(paths, unit="img")]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(tqdm(pool.map(_compare_one, paths, [options] * len(paths), chunksize=16), total=len(paths)))
    rows = []
    for k, opt in enumerate(options):
        per_image = images[["image_id", "subject_id"]].copy()
        per_image["ita"] = [r[k][0] for r in results]
        per_image["status"] = [r[k][1] for r in results]
        per_subject = subject_ita(per_image)
        binary = Counter(binary_from_ita_category(ita_category(per_subject["ita"].to_numpy())))
        rows.append(
            {
                "grey_world": opt.grey_world,
                "regions": opt.regions,
                "outliers": opt.outliers,
                "statistic": opt.statistic,
                "ok_images": int((per_image["status"] == OK).sum()),
                "subjects_darker": binary.get("darker", 0),
                "subjects_lighter": binary.get("lighter", 0),
                **agreement(per_subject, race),
                "within_subject_sd": within_subject_sd(per_image),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=default_lfw())
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSVs (outside the repo)")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--subjects", choices=("all", "race-json"), default="all")
    parser.add_argument("--regions", choices=REGIONS, default=ItaOptions.regions)
    parser.add_argument("--statistic", choices=STATISTICS, default=ItaOptions.statistic)
    parser.add_argument("--outliers", choices=OUTLIER_RULES, default=ItaOptions.outliers)
    parser.add_argument("--grey-world", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--compare", action="store_true", help="measure every option combination")
    args = parser.parse_args()

    race = single_race_labels(args.lfw)
    subjects = None
    if args.subjects == "race-json":
        subjects = set(json.loads((args.lfw / "labels" / "lfw_race_dict.json").read_text()))
    images = lfw_images(args.lfw, subjects, args.limit)
    options = ItaOptions(
        regions=args.regions, statistic=args.statistic, outliers=args.outliers, grey_world=args.grey_world
    )
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.compare:
        table = compare(images, options, args.workers, race)
        write_csv(args.out / "compare.csv", table)
        with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
            print(table.sort_values("balanced", ascending=False).to_string(index=False))
    else:
        print(f"options: {options} (fingerprint {options.fingerprint()})")
        per_image = estimate_ita_images(images, options, cache_dir=args.cache_dir, workers=args.workers)
        per_subject = subject_ita(per_image)
        write_csv(args.out / "per_image.csv", per_image)
        write_csv(args.out / "per_subject.csv", per_subject)
        report(per_image, per_subject, race)
    elapsed = time.perf_counter() - start
    per_image_ms = elapsed / max(len(images), 1) * 1000
    print(f"time: {elapsed:.1f} s for {len(images)} images ({per_image_ms:.1f} ms/image, workers={args.workers})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
