"""The differential tables on disk and in report.md: score shifts, subject-weighted FNMR, its
decomposition, and the FMR(T)/FNMR(T) plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from frbench.groups import ALL
from frbench.io.spreadsheet import write_csv
from frbench.measure.differentials import Differentials
from frbench.metrics.power import MIN_BOOTSTRAP_REPLICATES, MIN_GROUP_SUBJECTS
from frbench.metrics.subject_fnmr import DECOMPOSITION_PARTS
from frbench.report.md_format import md_table
from frbench.report.threshold_plots import plot_rates_against_threshold

DIFFERENTIAL_TABLES = ("score_shift.csv", "subject_fnmr.csv", "fnmr_decomposition.csv", "rates_vs_threshold.csv")


def write_differentials(out_dir: Path, names: Sequence[str], diff: Differentials,
                        thresholds: dict[str, float]) -> list[str]:
    """The four CSVs and one plots/rates_vs_threshold_<attr>.png per attribute; returns the plot paths."""
    write_csv(out_dir / "score_shift.csv", diff.score_shift)
    write_csv(out_dir / "subject_fnmr.csv", diff.subject_fnmr)
    write_csv(out_dir / "fnmr_decomposition.csv", diff.decomposition)
    write_csv(out_dir / "rates_vs_threshold.csv", diff.curves)
    written = []
    for name in names or [ALL]:
        part = diff.curves[diff.curves["attribute"] == name]
        if part.empty:
            continue
        if not (part["group"] == ALL).any():
            # the exhaustive protocol lists the all curve once, under attribute all
            part = pd.concat([diff.curves[diff.curves["attribute"] == ALL], part], ignore_index=True)
        rel = f"plots/rates_vs_threshold_{name.replace('+', '_x_')}.png"
        plot_rates_against_threshold(part, name, out_dir / rel, thresholds)
        written.append(rel)
    return written


def with_interval(value: float, low: float | None, high: float | None, digits: int = 4) -> str:
    """``value [low, high]``; a zero-width interval (no resample varies it) and a withheld one (the group
    is missing from more than 5% of resamples) say so instead of printing a bracket."""
    if pd.isna(value):
        return "n/a"
    text = f"{value:.{digits}g}"
    if low is None or pd.isna(low):
        return text + " (interval withheld: group absent from > 5% of resamples)"
    if low == high:
        return text + " (no resample varies it: no interval)"
    return text + f" [{low:.{digits}g}, {high:.{digits}g}]"


def signed_with_interval(value: float, low: float, high: float) -> str:
    """``+0.0123 [+0.0050, +0.0200]``; ``(interval withheld)`` where the bootstrap gave none."""
    if pd.isna(value):
        return "n/a"
    if pd.isna(low) or pd.isna(high):
        return f"{value:+.4f} (interval withheld)"
    return f"{value:+.4f} [{low:+.4f}, {high:+.4f}]"


def replicates_note(replicates: int) -> str:
    """How many replicates the intervals rest on, and that it is too few where it is."""
    text = f"Intervals: 95% subject-bootstrap percentile intervals, {replicates:,} replicates"
    if replicates < MIN_BOOTSTRAP_REPLICATES:
        text += (f" (fewer than {MIN_BOOTSTRAP_REPLICATES:,}: the interval ends rest on a handful of replicates "
                 "each; treat them as rough)")
    return text + "."


def shift_table(shift: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows of one kind against ``all``, then each two-group attribute's group-against-group row."""
    part = shift[shift["kind"] == kind]
    two = part.groupby("attribute")["group"].transform("nunique") == 2
    pairwise = part[two & (part["reference"] != ALL) & (part["group"] < part["reference"])]
    rows = pd.concat([part[part["reference"] == ALL], pairwise], ignore_index=True)
    return pd.DataFrame({
        "attribute": rows["attribute"], "group": rows["group"], "against": rows["reference"],
        "subjects": rows["n_subjects"], "pairs": rows["n_pairs"],
        "median": rows["median"].map(lambda v: f"{v:.4g}"), "median (against)": rows["median_ref"].map(lambda v: f"{v:.4g}"),
        "shift": [with_interval(r.shift, r.shift_ci_low, r.shift_ci_high) for r in rows.itertuples()],
        "Cliff's delta": [with_interval(r.cliffs_delta, r.delta_ci_low, r.delta_ci_high, 3) for r in rows.itertuples()],
    })


def differentials_section(diff: Differentials, primary: str | None, plots: Sequence[str]) -> list[str]:
    """report.md's "Why rates differ" section."""
    lines = [
        "## Why rates differ: comparison-score differentials", "",
        "Per group against all scored pairs of the same kind (and, for two-group attributes, against the other "
        "group): the median shift and Cliff's delta (P(group score > other) - P(<); 0 = same distribution). "
        "Mated scores are **subject-weighted** (each subject's pairs weigh 1 in all), non-mated scores "
        "pair-weighted. A negative mated shift moves a group's genuine scores toward the threshold (more false "
        "non-matches); a positive non-mated shift moves its impostor scores toward it (more false matches). "
        + replicates_note(diff.replicates) + " `score_shift.csv` has every pair of groups; "
        "definitions in `frbench.metrics.score_shift`.", "",
        "### Mated scores", "", md_table(shift_table(diff.score_shift, "mated")), "",
    ]
    if diff.nonmated_listed:
        lines += ["### Non-mated scores", "", md_table(shift_table(diff.score_shift, "nonmated")), ""]
    else:
        lines += ["Non-mated score shifts: not available, this protocol does not list non-mated scores "
                  "(their per-group FMR and FMR(T) are exact, from counts).", ""]
    if primary is not None and len(diff.subject_fnmr):
        fn = diff.subject_fnmr[diff.subject_fnmr["threshold_name"] == primary]
        lines += [
            f"### FNMR per pair and per subject at {primary}", "",
            "Pair-weighted FNMR (per_group.csv's `fnmr`) counts every mated pair; subject-weighted FNMR is the mean of "
            "each subject's own FNMR, so that a subject with hundreds of photos counts once. `largest share`: the "
            "share of the group's mated pairs held by its largest subject. All thresholds: `subject_fnmr.csv`.", "",
            md_table(pd.DataFrame({
                "attribute": fn["attribute"], "group": fn["group"], "subjects": fn["n_subjects_mated"],
                "mated pairs": fn["n_mated"], "largest share": fn["largest_subject_share"].map(lambda v: f"{v:.1%}"),
                "FNMR (pair-weighted)": fn["fnmr_pair_weighted"].map(lambda v: f"{v:.4g}"),
                "FNMR (subject-weighted)": [with_interval(r.fnmr_subject_weighted, r.fnmr_subject_weighted_ci_low,
                                                          r.fnmr_subject_weighted_ci_high) for r in fn.itertuples()],
            })), "",
        ]
        dec = diff.decomposition[diff.decomposition["threshold_name"] == primary]
        few = dec[dec["n_subjects_mated"] < MIN_GROUP_SUBJECTS]
        dec = dec[dec["n_subjects_mated"] >= MIN_GROUP_SUBJECTS]
        if len(dec):
            lines += [
                f"### Why a group's FNMR differs, at {primary}", "",
                "Subject-weighted FNMR of the group minus that of all mated scores, split in turn into *location* "
                "(everyone's scores moved by the group's median shift), *spread* (and scaled to the group's "
                "interquartile range) and *shape* (the rest); the three sum to the difference "
                "(`frbench.metrics.subject_fnmr`). In brackets: subject-bootstrap percentile intervals, subjects "
                "resampled within their group; an interval is withheld where its part is undefined (an "
                "interquartile range of 0) in more than 5% of resamples (`ci_note` in `fnmr_decomposition.csv`)"
                + (f"; groups with fewer than {MIN_GROUP_SUBJECTS} subjects are left out here ({len(few)}; "
                   "`fnmr_decomposition.csv` has them)" if len(few) else "") + ".", "",
                md_table(pd.DataFrame({
                    "attribute": dec["attribute"], "group": dec["group"], "subjects": dec["n_subjects_mated"],
                    "FNMR all": dec["fnmr_all"].map(lambda v: f"{v:.4g}"),
                    "FNMR group": dec["fnmr_group"].map(lambda v: f"{v:.4g}"),
                    **{part: [signed_with_interval(v, lo, hi) for v, lo, hi in
                              zip(dec[part], dec[f"{part}_ci_low"], dec[f"{part}_ci_high"])]
                       for part in DECOMPOSITION_PARTS},
                })), "",
            ]
    if plots:
        lines += ["### FMR(T) and FNMR(T) by group", "",
                  "Each group's error rates against the threshold with 95% Clopper-Pearson bands (over pairs); "
                  "dotted lines mark the run's thresholds. Points: `rates_vs_threshold.csv`.", ""]
        lines += [f"![FMR(T) and FNMR(T): {p}]({p})" for p in plots] + [""]
    return lines
