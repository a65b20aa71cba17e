"""Sample LFW subjects for a hand-labelled skin-tone development set and draw numbered montages.

    python bench/skin_tone_devset.py --out /work/devset [--seed 15] [--n-random 180] [--n-darker 180]

Design (issue 15, part 1):

* ``random`` stratum: ``--n-random`` subjects drawn uniformly, without replacement, from all LFW
  subjects, so one-image subjects appear in proportion (about 70 % of LFW);
* ``darker`` stratum: ``--n-darker`` further subjects drawn uniformly from the subjects that
  today's ITA estimator (:mod:`frbench.annotate.ita`, default options, subject median) calls
  ``darker``, excluding those already drawn, so that perceived-darker faces are well represented.

Each subject is shown by its first image (``NAME_0001.jpg``). The sample is shuffled so that
neither the montage position nor the file order reveals the stratum or the estimate.

Outputs under ``--out``:

* ``sample.csv``: ``subject_id,image_id`` in presentation order, no estimate (what annotators see);
* ``estimates_hidden.csv``: the stratum, the inclusion probability of each subject and today's ITA
  per subject and for the shown image (for evaluation only; annotators must not open it);
* ``montages/montage_NN.png`` with ``montage_NN.csv`` (``tile,subject_id,image_id``): a grid of
  centre crops of the 250x250 deep-funneled images, each with its tile number in a caption strip
  below it (not on the face, so the number does not cover skin);
* ``READY`` when everything is written.

ITA comes from the shared cache (``$FRBENCH_CACHE/ita.sqlite``) when present, else it is measured
(about 18 ms per image).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from frbench.annotate.ita import ItaOptions, estimate_ita_images, subject_ita
from frbench.annotate.skin_tone import DARKER, binary_from_ita_category, ita_category
from frbench.datasets.lfw import load_lfw

REPO = Path(__file__).resolve().parents[1]
CROP = 160
COLS, ROWS = 5, 4
CAPTION = 28
GAP = 6
# Mid grey around tiles: a white or black surround shifts perceived lightness of the face.
BACKGROUND = 128


def default_lfw() -> Path:
    data = os.environ.get("FRBENCH_DATA")
    return Path(data) / "lfw" if data else REPO.parent / "shared" / "datasets" / "lfw"


def draw_sample(per_subject: pd.DataFrame, n_random: int, n_darker: int, seed: int) -> pd.DataFrame:
    """The two-stratum sample: ``subject_id, stratum, p_include`` in shuffled order.

    ``p_include`` is the probability that the design includes the subject, for inverse-probability
    weighting back to LFW: a subject is in the random stratum with probability n_random / N; an
    ITA-darker subject not drawn there is drawn with probability n_darker / (D - d_r) where d_r
    (the random draw's darker subjects) is fixed once drawn, so p = r + (1 - r) * n_darker / (D - d_r).
    """
    rng = np.random.default_rng(seed)
    subjects = per_subject["subject_id"].to_numpy()
    darker_set = set(per_subject.loc[per_subject["binary"] == DARKER, "subject_id"])
    if n_random > len(subjects):
        raise SystemExit(f"--n-random {n_random} exceeds the {len(subjects)} subjects")
    random_pick = rng.choice(subjects, size=n_random, replace=False)
    remaining = sorted(darker_set - set(random_pick))
    if n_darker > len(remaining):
        raise SystemExit(f"--n-darker {n_darker} exceeds the {len(remaining)} ITA-darker subjects left")
    darker_pick = rng.choice(np.array(remaining, dtype=object), size=n_darker, replace=False)
    r = n_random / len(subjects)
    q = n_darker / len(remaining)
    p = {s: r + (1 - r) * q if s in darker_set else r for s in subjects}
    rows = [(s, "random") for s in random_pick] + [(s, "darker") for s in darker_pick]
    sample = pd.DataFrame(rows, columns=["subject_id", "stratum"])
    sample["p_include"] = sample["subject_id"].map(p)
    return sample.iloc[rng.permutation(len(sample))].reset_index(drop=True)


def centre_crop(path: str, size: int = CROP) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: not a readable image")
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


def montage(tiles: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """COLS x ROWS grid of crops, each with its number centred in a caption strip below it."""
    cell_w, cell_h = CROP + GAP, CROP + CAPTION + GAP
    canvas = np.full((ROWS * cell_h + GAP, COLS * cell_w + GAP, 3), BACKGROUND, dtype=np.uint8)
    for k, (number, crop) in enumerate(tiles):
        row, col = divmod(k, COLS)
        y, x = GAP + row * cell_h, GAP + col * cell_w
        canvas[y : y + CROP, x : x + CROP] = crop
        canvas[y + CROP : y + CROP + CAPTION, x : x + CROP] = 255
        text = str(number)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
        org = (x + (CROP - tw) // 2, y + CROP + (CAPTION + th) // 2)
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lfw", type=Path, default=default_lfw())
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--n-random", type=int, default=180)
    parser.add_argument("--n-darker", type=int, default=180)
    parser.add_argument("--cache-dir", type=Path, default=os.environ.get("FRBENCH_CACHE"))
    args = parser.parse_args(argv)

    images = load_lfw(args.lfw).images
    per_image = estimate_ita_images(images, ItaOptions(), cache_dir=args.cache_dir, progress=sys.stderr.isatty())
    per_subject = subject_ita(per_image)
    per_subject["category"] = ita_category(per_subject["ita"].to_numpy())
    per_subject["binary"] = binary_from_ita_category(per_subject["category"])

    sample = draw_sample(per_subject, args.n_random, args.n_darker, args.seed)
    first = images.groupby("subject_id")["image_id"].min()
    paths = images.set_index("image_id")["path"]
    sample["image_id"] = sample["subject_id"].map(first)
    n_images = images.groupby("subject_id").size()
    image_ita = per_image.set_index("image_id")

    hidden = sample.merge(per_subject.rename(columns={"ita": "ita_subject", "binary": "ita_binary",
                                                      "category": "ita_category", "n_images": "n_ok_images"}),
                          on="subject_id", how="left")
    hidden["n_images"] = hidden["subject_id"].map(n_images)
    hidden["ita_image"] = hidden["image_id"].map(image_ita["ita"])
    hidden["image_status"] = hidden["image_id"].map(image_ita["status"])

    out = args.out
    (out / "montages").mkdir(parents=True, exist_ok=True)
    (out / "READY").unlink(missing_ok=True)
    sample[["subject_id", "image_id"]].to_csv(out / "sample.csv", index=False)
    hidden[["subject_id", "image_id", "stratum", "p_include", "n_images", "n_ok_images", "ita_subject",
            "ita_category", "ita_binary", "ita_image", "image_status"]].to_csv(out / "estimates_hidden.csv", index=False)

    per_montage = COLS * ROWS
    for m, start in enumerate(range(0, len(sample), per_montage), 1):
        chunk = sample.iloc[start : start + per_montage]
        tiles = [(t, centre_crop(paths[i])) for t, i in enumerate(chunk["image_id"], 1)]
        cv2.imwrite(str(out / "montages" / f"montage_{m:02d}.png"), montage(tiles))
        pd.DataFrame({"tile": range(1, len(chunk) + 1), "subject_id": chunk["subject_id"].to_numpy(),
                      "image_id": chunk["image_id"].to_numpy()}).to_csv(out / "montages" / f"montage_{m:02d}.csv", index=False)
    (out / "READY").write_text(f"seed={args.seed} n_random={args.n_random} n_darker={args.n_darker} "
                               f"subjects={len(sample)} montages={m}\n")
    print(f"{len(sample)} subjects ({args.n_random} random, {args.n_darker} ITA-darker), {m} montages -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
