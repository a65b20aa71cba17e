"""report.md's rate sections: the thresholds, the error rates of every group at each, the per-group
thresholds, and which rates the data cannot resolve."""

from __future__ import annotations

import pandas as pd

from frbench.measure.result import Measures
from frbench.metrics.accuracy import BEST_ACCURACY
from frbench.report.md_format import fmt_rate, fmt_threshold, md_table

# The one rule for the "subjects" column (metrics.counts.pair_counts' n_subjects), said where it is read.
SUBJECTS_RULE = (
    "*subjects*: distinct people among the group's pairs, i.e. pairs with both sides in the group (the one "
    "group rule). Someone seen only in pairs with people of other groups counts in `all` but in no group, so "
    "the groups' subjects need not add up to `all`'s, and a group's count can be below its subjects in the "
    "dataset composition table, which counts everyone with an image."
)


def rates_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-group rows of one threshold as a readable table."""
    has_ci = "fnmr_ci_low" in rows
    out = pd.DataFrame(
        {
            "attribute": rows["attribute"],
            "group": rows["group"],
            "subjects": rows["n_subjects"],
            "mated": rows["n_mated"],
            "non-mated": rows["n_nonmated"],
            # pair-weighted: every mated pair counts once (subject-weighted FNMR: subject_fnmr.csv)
            "FNMR (pair-weighted)": [
                fmt_rate(r.fnmr, r.fnmr_ci_low if has_ci else None, r.fnmr_ci_high if has_ci else None)
                for r in rows.itertuples()
            ],
            "FMR": [
                fmt_rate(r.fmr, r.fmr_ci_low if has_ci else None, r.fmr_ci_high if has_ci else None)
                for r in rows.itertuples()
            ],
            "failed pairs": rows["n_failed"],
        }
    )
    if "fmr_resolves" in rows:
        # rule of three (3/n against the reference rate) and rule of 30 (errors enough to estimate)
        out["FNMR power"] = [_power(r.fnmr_resolves, r.fnmr_estimable) for r in rows.itertuples()]
        out["FMR power"] = [_power(r.fmr_resolves, r.fmr_estimable) for r in rows.itertuples()]
    if "in_summaries" in rows:
        out["in summaries"] = [
            "-" if r.attribute == "all" else ("yes" if r.in_summaries else f"no: {r.excluded_because}")
            for r in rows.itertuples()
        ]
    return out


def _power(resolves: bool, estimable: bool) -> str:
    if not resolves:
        return "not resolved"
    return "estimable" if estimable else "resolved"


def fold_resolution_note(threshold_table: pd.DataFrame | None, name: str) -> str:
    """For fold-calibrated rows: how many folds' calibration sets could not resolve the target."""
    if threshold_table is None or "resolvable" not in threshold_table:
        return ""
    folds = threshold_table[(threshold_table["threshold_name"] == name) & (threshold_table["fold"] != "all")]
    bad = folds[folds["resolvable"] == False]  # noqa: E712
    if bad.empty:
        return ""
    ks = ", ".join(sorted({str(k) for k in bad["k_allowed"]}))
    return (f". **Target unresolvable in {len(bad)} of {len(folds)} calibration sets** (k = {ks} false matches "
            "allowed, or none achieved): there the threshold sits above every impostor score of the other folds; "
            "per fold in thresholds.csv")


def threshold_labels(threshold_table: pd.DataFrame | None) -> dict[str, str]:
    """threshold name -> what it means on this run's impostors (thresholds.csv ``label``)."""
    if threshold_table is None or "label" not in threshold_table:
        return {}
    rows = threshold_table[threshold_table["fold"] == "all"]
    return dict(zip(rows["threshold_name"], rows["label"].fillna(rows["threshold_name"])))


def power_section(per_group: pd.DataFrame) -> list[str]:
    """Which rows cannot resolve their rates (rule of three), the ``all`` rows included, and which
    groups are left out of the summaries and tests, by name and reason."""
    if "underpowered" not in per_group:
        return []
    lines: list[str] = []
    weak = per_group[per_group["underpowered"].astype(bool)]
    if len(weak):
        by_threshold = weak.groupby("threshold_name", sort=False)
        lines += ["**Underpowered** (rule of three: 3/n above the rate the group should resolve, for FMR or FNMR):", ""]
        for name, part in by_threshold:
            items = []
            for r in part.itertuples():
                what = [k for k, ok in (("FMR", r.fmr_resolves), ("FNMR", r.fnmr_resolves)) if not ok]
                items.append(f"{'all' if r.attribute == 'all' else f'{r.attribute}={r.group}'} ({'/'.join(what)})")
            lines.append(f"- {name}: {', '.join(items)}")
        lines += ["", "An underpowered rate is not evidence of a difference, nor of its absence.", ""]
    excluded = per_group[(per_group["attribute"] != "all") & ~per_group["in_summaries"].astype(bool)]
    excluded = excluded.drop_duplicates(["attribute", "group"])
    if len(excluded):
        names = [f"{r.attribute}={r.group} ({r.excluded_because})" for r in excluded.itertuples()]
        lines += [f"**Shown but left out of fairness summaries and tests:** {', '.join(names)}.", ""]
    return lines



def thresholds_section(measures: Measures) -> list[str]:
    """Each global threshold with what it means on this run's impostors, its overall rates and accuracy;
    unresolvable targets named; the optimistic best accuracy and the fold-calibrated one; the run's notes."""
    per_group, thresholds = measures.per_group, measures.thresholds
    lines = ["## Thresholds", ""]
    overall = per_group[per_group["attribute"] == "all"].drop_duplicates("threshold_name").set_index("threshold_name")
    meaning = threshold_labels(measures.threshold_table)
    columns = {
        "threshold": list(thresholds),
        "what it is": [meaning.get(n, n) for n in thresholds],
        "similarity": [fmt_threshold(v) for v in thresholds.values()],
        "FNMR (pair-weighted)": [fmt_rate(overall.loc[n, "fnmr"]) for n in thresholds],
        "FMR": [fmt_rate(overall.loc[n, "fmr"]) for n in thresholds],
    }
    accuracy = measures.accuracy.set_index("threshold_name") if measures.accuracy is not None else None
    if accuracy is not None:
        columns["TAR (1 - FNMR)"] = [fmt_rate(accuracy.loc[n, "tar"]) for n in thresholds]
        columns["accuracy"] = [fmt_rate(accuracy.loc[n, "accuracy"]) for n in thresholds]
    lines += [md_table(pd.DataFrame(columns)), ""]
    unresolved = [n for n in thresholds if meaning.get(n, "").startswith("above every impostor score")]
    if unresolved:
        lines += [
            f"**Unresolvable targets:** {', '.join(unresolved)}: with this run's impostors no false match is "
            "allowed at that target, so the threshold only sits above the largest impostor score. Its FNMR is "
            "not an FNMR at that FMR; read it as such a threshold's, nothing more.",
            "",
        ]
    if accuracy is not None and BEST_ACCURACY in accuracy.index:
        best = accuracy.loc[BEST_ACCURACY]
        lines += [
            f"Best accuracy on these same pairs: **{best['accuracy']:.4f}** at similarity >= {best['threshold']:.6g} "
            f"({int(best['n_correct'])} of {int(best['n_pairs'])} pairs). Optimistic: the threshold is chosen on the "
            "pairs it is scored on (what deepface's benchmark reports); a threshold chosen on other data "
            "(fold-calibrated, with two folds or more) gives the figure to compare across studies.",
            "",
        ]
    if measures.fold_accuracy is not None:
        acc = measures.fold_accuracy["accuracy"]
        lines += [
            f"Fold-calibrated accuracy (LFW protocol: threshold of best accuracy on the other folds, "
            f"applied to each held-out fold): **{acc.mean():.4f} +/- {acc.std(ddof=1):.4f}** over {len(acc)} folds.",
            "",
        ]
    return lines + [f"- {note}" for note in measures.notes] + ([""] if measures.notes else [])


def error_rates_section(measures: Measures) -> list[str]:
    """One table of every group's rates per threshold, global thresholds and fold-calibrated ones alike."""
    per_group, thresholds = measures.per_group, measures.thresholds
    meaning = threshold_labels(measures.threshold_table)
    lines = ["## Error rates by group", "", SUBJECTS_RULE, ""]
    for name in per_group["threshold_name"].unique():
        rows = per_group[per_group["threshold_name"] == name]
        if name in thresholds:
            title = f"### {name}: {meaning.get(name, name)} (similarity >= {fmt_threshold(thresholds[name])})"
        else:
            title = f"### {name} (threshold set on the other folds, applied to each held-out fold; counts pooled)"
            title += fold_resolution_note(measures.threshold_table, name)
        lines += [title, "", md_table(rates_table(rows)), ""]
    return lines


def per_group_thresholds_section(per_group_thresholds: pd.DataFrame | None) -> list[str]:
    """The threshold each group would need on its own (thresholds.per_group), where the run set them."""
    if per_group_thresholds is None:
        return []
    return [
        "## Per-group thresholds",
        "",
        "The threshold each group would need to reach the target FMR on its own non-mated pairs: the spread "
        "shows what one global threshold does to each group.",
        "",
        md_table(per_group_thresholds),
        "",
    ]
