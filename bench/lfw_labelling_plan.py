"""How the perceived skin-tone labels of all LFW subjects were organised (labels/lfw-skin-tone-all).

The 5,749 subjects are split at random (seed 21) into six blocks. Each block is drawn twice as
numbered sheets (``frbench label sheets``), with different seeds, so the two annotators of a
block see the subjects in another order, beside other neighbours and, for subjects with more than
four photos, often other photos. Annotator ``ai-J`` labels block J's first drawing and block J+1's
second (block 6's second goes to ``ai-1``... wrapping), so every subject has two independent
annotators, and every pair of neighbouring annotators overlaps on one block for agreement.

    python bench/lfw_labelling_plan.py --out /work/labelling    # block lists and all sheets

The sheets are crops of LFW: keep them out of the repository.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

N_BLOCKS = 6
SEED = 21


def assignments() -> dict[str, list[tuple[int, int]]]:
    """Annotator -> [(block, drawing)]: ai-J draws block J (drawing 1) and block J+1 (drawing 2)."""
    return {f"ai-{j}": [(j, 1), (j % N_BLOCKS + 1, 2)] for j in range(1, N_BLOCKS + 1)}


def blocks(subjects: list[str], seed: int = SEED) -> list[list[str]]:
    order = np.random.default_rng(seed).permutation(len(subjects))
    return [sorted(subjects[i] for i in part) for part in np.array_split(order, N_BLOCKS)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", default="configs/lfw-dlib-skintone.yaml")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    people = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "lfw" / "lfw-names.txt"
    subjects = sorted(line.split()[0] for line in people.read_text().splitlines() if line.strip())
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for b, members in enumerate(blocks(subjects), 1):
        listing = args.out / f"block{b}.txt"
        listing.write_text("\n".join(members) + "\n")
        for drawing in (1, 2):
            jobs.append(["frbench", "label", "sheets", args.config, "--subjects", str(listing),
                         "--seed", str(100 * drawing + b), "-o", str(args.out / f"block{b}-drawing{drawing}")])
    with ThreadPoolExecutor(args.jobs) as pool:
        codes = list(pool.map(lambda cmd: subprocess.run(cmd, check=False).returncode, jobs))
    print(f"{len(subjects)} subjects in {N_BLOCKS} blocks, {len(jobs)} drawings -> {args.out}")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
