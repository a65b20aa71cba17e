"""The Gender Shades 2x2 tables (skin tone x gender) of a finished run, as Markdown.

    python bench/gender_shades_tables.py RUN_DIR [--thresholds fmr=1e-04 fmr=1e-05]

For each threshold and rate (FNMR, FMR): one cell per (darker|lighter) x (female|male) with the
rate, its errors/comparisons, the Clopper-Pearson 95 % interval (sampling, pairs treated as
independent) and, where the run made one, the skin-tone sensitivity interval (subjects resampled
and labels redrawn: a sensitivity analysis, not a confidence interval). Below each table, whether
the darker and lighter intervals of each gender overlap, i.e. whether the data resolve the
difference at that level. Everything is read from the run's per_group.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

TONES, GENDERS = ("darker", "lighter"), ("female", "male")


def cell(row: pd.Series, rate: str) -> str:
    errors, total = ("n_fnm", "n_mated") if rate == "fnmr" else ("n_fm", "n_nonmated")
    text = f"{row[rate]:.3g} ({int(row[errors])}/{int(row[total])}) CI [{row[f'{rate}_ci_low']:.3g}, {row[f'{rate}_ci_high']:.3g}]"
    low, high = row.get(f"{rate}_sens_low"), row.get(f"{rate}_sens_high")
    if low is not None and pd.notna(low):
        text += f" sens [{low:.3g}, {high:.3g}]"
    return text


def tables(per_group: pd.DataFrame, thresholds: list[str]) -> str:
    out = []
    rows = per_group[per_group["attribute"] == "skin_tone+gender"].set_index(["threshold_name", "group"])
    for name in thresholds:
        for rate in ("fnmr", "fmr"):
            out += [f"**{rate.upper()} at {name}** (threshold {rows.loc[name].iloc[0]['threshold']:.6g})", "",
                    "| skin tone | female | male |", "|---|---|---|"]
            for tone in TONES:
                out.append(f"| {tone} | " + " | ".join(cell(rows.loc[(name, f"{tone}+{g}")], rate) for g in GENDERS) + " |")
            notes = []
            for g in GENDERS:
                d, l = rows.loc[(name, f"darker+{g}")], rows.loc[(name, f"lighter+{g}")]
                apart = d[f"{rate}_ci_low"] > l[f"{rate}_ci_high"] or l[f"{rate}_ci_low"] > d[f"{rate}_ci_high"]
                ratio = d[rate] / l[rate] if l[rate] > 0 else float("inf")
                notes.append(f"{g}: darker/lighter {ratio:.3g}, intervals {'apart' if apart else 'overlap'}")
            out += ["", "; ".join(notes) + ".", ""]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--thresholds", nargs="+", default=["fmr=1e-04", "fmr=1e-05"])
    args = ap.parse_args()
    print(tables(pd.read_csv(args.run / "per_group.csv"), args.thresholds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
