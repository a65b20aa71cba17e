"""report.md's skin-tone parts: the Gender Shades headline table, and the Skin tone section (where
each subject's tone comes from, coverage, the annotators and their agreement, the sensitivity analysis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from frbench.measure.result import Measures
from frbench.report.md_format import fmt_rate, fmt_threshold, md_table


def gender_shades_table(
    per_group: pd.DataFrame, thresholds: dict[str, float], threshold_table: pd.DataFrame | None = None
) -> tuple[str, pd.DataFrame] | None:
    """The 2x2 darker/lighter x female/male table of FNMR and FMR, when the run has that intersection."""
    from frbench.measure.thresholds import primary_threshold

    name = primary_threshold(thresholds, threshold_table)
    rows = per_group[(per_group["attribute"] == "skin_tone+gender") & (per_group["threshold_name"] == name)]
    if name is None or rows.empty:
        return None
    cells = rows.set_index("group")
    table = []
    tones = ["darker", "lighter"] + [t for t in ("uncertain", "unknown") if any(g.startswith(t + "+") for g in cells.index)]
    for tone in tones:
        row = {"skin tone": tone}
        for gender in ("female", "male"):
            key = f"{tone}+{gender}"
            if key in cells.index:
                r = cells.loc[key]
                row[f"{gender} FNMR"] = fmt_rate(r["fnmr"], r.get("fnmr_ci_low"), r.get("fnmr_ci_high")) + _label(r, "fnmr")
                row[f"{gender} FMR"] = fmt_rate(r["fmr"], r.get("fmr_ci_low"), r.get("fmr_ci_high")) + _label(r, "fmr")
                row[f"{gender} n (mated/non-mated)"] = f"{int(r['n_mated'])}/{int(r['n_nonmated'])}"
            else:
                row[f"{gender} FNMR"] = row[f"{gender} FMR"] = "n/a"
                row[f"{gender} n (mated/non-mated)"] = "0/0"
        table.append(row)
    return name, pd.DataFrame(table)


def _label(row: pd.Series, kind: str) -> str:
    """``; sensitivity [a, b]`` where the row has a skin-tone sensitivity interval (metrics.label_noise),
    or why it is withheld."""
    status = row.get(f"{kind}_sens_status")
    if status is None or pd.isna(status):
        return ""
    if status == "not_reported":
        return f"; sensitivity withheld ({row.get(f'{kind}_sens_undefined_share', float('nan')):.0%} undefined)"
    return f"; sensitivity [{row[f'{kind}_sens_low']:.4g}, {row[f'{kind}_sens_high']:.4g}]"


def headline_section(measures: Measures, images: pd.DataFrame) -> list[str]:
    """The skin tone x gender table at the headline threshold, with the coverage of skin-tone labels;
    nothing where the run has no such intersection."""
    thresholds = measures.thresholds
    headline = gender_shades_table(measures.per_group, thresholds, measures.threshold_table)
    if headline is None:
        return []
    lines = [
        "## Headline: skin tone x gender (Gender Shades subgroups)",
        "",
        f"FNMR and FMR at the global threshold {headline[0]} (similarity >= {fmt_threshold(thresholds[headline[0]])}); "
        "rows skin tone, columns female/male. Brackets: 95% Clopper-Pearson interval; `sensitivity [..]`: the "
        "skin-tone sensitivity analysis (subjects resampled and perceived labels redrawn; a sensitivity "
        "analysis, not a confidence interval: Skin tone section), where there is one.",
        "",
        md_table(headline[1]),
        "",
    ]
    if "skin_tone_source" in images.columns:
        from frbench.annotate.sources import coverage, source_counts

        by_source = source_counts(images).groupby("skin_tone_source")["subjects"].sum()
        lines += [
            f"Coverage {coverage(images):.1%} of subjects (lighter or darker); sources: "
            + ", ".join(f"{k} {v:,}" for k, v in by_source.items()) + " subjects (Skin tone section).",
            "",
        ]
    return lines


def skin_tone_section(
    images: pd.DataFrame, figures: dict[str, list[str]], label_files: list[Any] | None = None,
    label_noise: pd.DataFrame | None = None,
) -> list[str]:
    """Where each subject's tone comes from, coverage, the categories, who the annotators were and
    how they agree, and the sensitivity analysis of the darker-lighter difference."""
    from frbench.annotate.skin_tone import FITZPATRICK_BINARY, ITA_BINARY, MONK_BINARY, ITA_CATEGORY_BOUNDS
    from frbench.annotate.sources import ANNOTATORS, coverage, source_counts

    estimated = images["skin_tone_source"].replace({"unknown": pd.NA, ANNOTATORS: pd.NA}).dropna()
    kind = estimated.iloc[0] if len(estimated) else (ANNOTATORS if (images["skin_tone_source"] == ANNOTATORS).any() else "unknown")
    counts = (
        images.groupby(["skin_tone_category", "skin_tone"], sort=False)
        .agg(subjects=("subject_id", "nunique"), images=("image_id", "size"))
        .reset_index()
    )
    # ITA categories lightest first, then the estimator's Monk estimates 1-10
    order = {c: i for i, c in enumerate([c for c, _, _ in ITA_CATEGORY_BOUNDS] + [f"monk_{m}" for m in range(1, 11)])}
    counts = counts.sort_values("skin_tone_category", key=lambda c: c.map(order).fillna(99).astype(int))
    subjects = images["subject_id"].nunique()
    lines = ["## Skin tone", "",
             f"**Coverage:** {coverage(images):.1%} of {subjects:,} subjects are lighter or darker; the rest are "
             "`uncertain` (the estimator abstains, or annotators could not tell) or `unknown`, groups of their own in "
             "every table.", "",
             "Where each subject's tone comes from (`annotators`: the annotators' perceived labels, first; then the "
             "estimate; `frbench.annotate.sources`):", "",
             md_table(source_counts(images)), ""]
    if kind == "ita":
        bounds = ", ".join(
            f"{c} {'> ' + format(lo, 'g') if hi == float('inf') else ('<= ' + format(hi, 'g') if lo == float('-inf') else f'({lo:g}, {hi:g}]')}"
            for c, lo, hi in ITA_CATEGORY_BOUNDS
        )
        mapping = ", ".join(f"{k} -> {v}" for k, v in ITA_BINARY.items())
        lines += [f"Estimated by ITA (degrees): {bounds}. Binary (Gender Shades): {mapping}. ITA records no "
                  "held-out confusion, so the sensitivity analysis treats its calls as carrying no checked "
                  "information (below).", ""]
    elif kind == "estimator":
        lines += [
            "Estimated by the calibrated skin-tone estimator (P(darker) with an abstention band, Monk "
            "estimate as category; docs/skin_tone.md). `uncertain`: P(darker) inside the band or no "
            "usable photo.",
            "",
        ]
    elif kind == "dataset":
        lines += [
            "The dataset's own labels. Binary: Fitzpatrick "
            + ", ".join(f"{k} -> {v}" for k, v in FITZPATRICK_BINARY.items())
            + "; Monk "
            + ", ".join(f"{k} -> {v}" for k, v in MONK_BINARY.items())
            + ".",
            "",
        ]
    if label_files:
        lines += annotator_lines(label_files)
    lines += [md_table(counts), ""]
    if label_noise is not None and len(label_noise):
        lines += sensitivity_lines(images, label_noise)
    lines += [f"![ITA histogram]({p})" for p in figures.get("skin_tone", [])]
    return lines + [""]


def agreement_text(stat: dict[str, Any]) -> str:
    """An agreement statistic with its interval; a zero-width bootstrap interval (every resample
    agrees perfectly) is not an interval and is not printed as one."""
    low, high = stat.get("ci_low"), stat.get("ci_high")
    if low is None or pd.isna(low):
        return f"{stat['value']:.3f} (no interval)"
    if low == high:
        return (f"{stat['value']:.3f} (every bootstrap resample gives {low:.3f}: no disagreement to resample, "
                "so no interval is reported; more doubly-labelled subjects are needed to bound it)")
    return f"{stat['value']:.3f} [{low:.3f}, {high:.3f}]"


def sensitivity_lines(images: pd.DataFrame, differences: pd.DataFrame) -> list[str]:
    """The sensitivity analysis: what was redrawn from what, how many replicates, and the
    darker-lighter differences (skin_tone_sensitivity.csv)."""
    from frbench.annotate.sources import ANNOTATORS, ESTIMATED_SOURCES
    from frbench.metrics.label_noise import RECOMMENDED_DRAWS

    per_subject = images.drop_duplicates("subject_id")
    source = per_subject["skin_tone_source"]
    labelled = per_subject[source == ANNOTATORS]
    split = int(((labelled[["n_darker", "n_lighter", "n_unsure"]] > 0).sum(axis=1) > 1).sum()) if len(labelled) else 0
    estimated = per_subject[source.isin(ESTIMATED_SOURCES)]
    fallback = int(estimated["heldout_n"].isna().sum()) if "heldout_n" in estimated else len(estimated)
    draws = int(differences["draws"].iloc[0])
    lines = [
        "### Sensitivity analysis: skin-tone labels", "",
        f"A **sensitivity analysis, not a confidence interval** ({draws:,} replicates; `metrics.label_noise`). "
        "Each replicate resamples subjects (the subject bootstrap) and redraws every subject's perceived label, "
        "then recounts: a subject labelled by annotators gets one of its annotators' answers at random (an "
        "`unsure` answer puts it in `uncertain`); an estimated subject is perceived darker with the share of the "
        "estimator's held-out subjects with the same call (`darker`, `lighter` or `uncertain`) whom annotators "
        "perceived darker, that share itself drawn from its Beta posterior. Noise all annotators share is not in "
        "it. Intervals are withheld where more than 5% of replicates leave a group without comparisons.",
        "",
        f"- Labelled by annotators: {len(labelled):,} subjects, {split:,} of them with annotators disagreeing "
        "(the others never change).",
        f"- Estimated: {len(estimated):,} subjects" + (
            f"; for {fallback:,} of them the estimate records no held-out confusion, so their calls are treated as "
            "carrying no checked information (P(darker) ~ Beta(1/2, 1/2), 1/2 on average)." if fallback else
            "; redrawn from the held-out confusion recorded with the estimator."),
    ]
    if draws < RECOMMENDED_DRAWS:
        lines.append(f"- **Only {draws:,} replicates, fewer than the {RECOMMENDED_DRAWS:,} recommended**: interval "
                     "ends move in the second digit between seeds (`stats.label_draws`).")
    return lines + [
        "",
        "Darker minus lighter, with the measured labels and under the sensitivity analysis; `share_reversed`: "
        "replicates whose sign is opposite (NaN where withheld or the difference is 0). Per-group intervals are in "
        "per_group.csv (`*_sens_low/high/status/undefined_share`); this table is `skin_tone_sensitivity.csv`.", "",
        md_table(differences.round(6)), "",
    ]


def annotator_lines(label_files: list[Any]) -> list[str]:
    """Who the annotators were (annotator-NAME.json's ``kind``), their agreement with intervals,
    and the share of subjects only one labelled."""
    from frbench.annotate.sources import annotator_kinds
    from frbench.label.agreement import label_summary

    from frbench.metrics.power import MIN_BOOTSTRAP_REPLICATES

    s = label_summary(label_files, replicates=MIN_BOOTSTRAP_REPLICATES)
    kinds = annotator_kinds(label_files)
    described = [(r.annotator, r.kind if r.kind != "not recorded" else
                  f"kind not recorded (no {Path(r.file).with_suffix('.json').name})") for r in kinds.itertuples()]
    # annotators of one kind are named together, so seven sessions of one model read as one sentence
    by_kind: dict[str, list[str]] = {}
    for name, kind in described:
        by_kind.setdefault(kind, []).append(f"`{name}`")
    who = "; ".join(f"{', '.join(names)}: {kind}" for kind, names in by_kind.items())
    lines = [f"**Annotators' labels:** {s['n_subjects']:,} subjects labelled by {s['n_annotators']} annotator(s); "
             f"{s['share_single_annotator']:.0%} of them by a single annotator. Who the annotators were: {who}."]
    for key, what in (("kappa_binary", "Cohen's kappa, lighter/darker"), ("alpha_binary", "Krippendorff's alpha, lighter/darker"),
                      ("alpha_monk", "Krippendorff's alpha, Monk (ordinal)")):
        stat = s.get(key)
        if stat and not pd.isna(stat["value"]):
            lines.append(f"- {what}: {agreement_text(stat)} over {stat['n_subjects']} subjects")
    return lines + ["", "Perceived skin tone, by the annotators named, from the photos shown: not ground truth.", ""]

