"""report.md: the run's tables in Markdown, with the dataset's composition, pipeline and caveats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from frbench.config import IMPORTED_SCORES, Config
from frbench.datasets import Dataset
from frbench.measure.result import Measures
from frbench.metrics.accuracy import BEST_ACCURACY

def imported_source(config: Config) -> str:
    """A score-only dataset's score file and its format, as reports name it."""
    d = config.dataset
    return f"{d.scores} ({d.score_format}" + (f", impostors {d.impostors}" if d.impostors else "") + ")"


TOOL_CAVEATS = [
    "Thresholds at a target FMR are set on the non-mated scores of this same run (one global threshold, "
    "as NIST FRVT Part 3 does); they describe this data, not a deployment.",
    "A group's FMR counts non-mated pairs whose two sides are both in the group; FNMR counts the group's "
    "mated pairs. Pairs with an image that failed to enrol are excluded from both and counted in n_failed.",
]
CP_CAVEAT = (
    "Intervals in the rate tables are exact Clopper-Pearson binomial intervals over pairs. Pairs that share a "
    "subject are not independent, so these intervals are too narrow where subjects contribute many pairs"
)


def interval_caveat(bootstrap: int, protocol: str) -> str:
    """The caveat on pair-level intervals, pointing to the subject bootstrap only where it did not run."""
    if bootstrap and protocol != "exhaustive":
        return (CP_CAVEAT + f"; the subject bootstrap ran ({bootstrap:,} replicates): its intervals are per_group.csv's "
                "`*_boot_*` columns and the fairness summaries'.")
    if protocol == "exhaustive":
        return CP_CAVEAT + "; the exhaustive protocol has no subject bootstrap of its rates."
    return CP_CAVEAT + "; set stats.bootstrap for subject-bootstrap intervals that account for it."


def md_table(frame: pd.DataFrame) -> str:
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt="g")


def fmt_rate(value: float, low: float | None = None, high: float | None = None) -> str:
    """A rate with its interval, e.g. ``0.0123 [0.0101, 0.0150]``; NaN (no pairs) shows as ``n/a``."""
    if pd.isna(value):
        return "n/a"
    text = f"{value:.4g}"
    if low is not None and high is not None and not pd.isna(low):
        text += f" [{low:.4g}, {high:.4g}]"
    return text


def fmt_threshold(value: float) -> str:
    """A threshold with as many digits as tell it apart: 6 significant where they give the value back,
    else the shortest exact form (a threshold just above tied scores at 0.7 is 0.7000000000000001,
    which "0.7" would hide: a fixed threshold at 0.7 lets those scores match)."""
    short = f"{value:.6g}"
    return short if float(short) == float(value) else repr(float(value))


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


ITA_CAVEAT = (
    "Skin tone here is estimated, not labelled: the Individual Typology Angle of cheek and forehead pixels, "
    "which depends on lighting, exposure and white balance as much as on skin. On LFW a large share of the "
    "'darker' group are lighter-skinned people in poor light (docs/skin_tone.md); treat skin-tone results "
    "as indicative and prefer a dataset's own Fitzpatrick or Monk labels, or annotators' perceived labels, where they exist."
)


ESTIMATOR_CAVEAT = (
    "Skin tone here is estimated, not labelled: a model fitted to perceived skin tone of one photo per subject "
    "for 344 LFW subjects, labelled by non-expert (AI) annotators. Its cross-validated accuracy and the "
    "share it abstains on are in docs/skin_tone.md; subjects it is unsure of form the `uncertain` group."
)


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


def imported_section(summary: dict[str, Any]) -> list[str]:
    """What the score import matched and what it could not, with examples: nothing dropped silently."""
    labels = {
        "unknown_images": "score rows naming an image the dataset does not have",
        "duplicate_rows": "duplicate score rows (first kept)",
        "extra_rows": "score rows for pairs not in the dataset's pair list",
        "unscored_pairs": "dataset pairs with no score (counted as failed)",
        "mated_conflicts": "rows whose mated flag contradicts the dataset (dataset kept)",
    }
    rows = [
        {"problem": text, "count": summary[key]["count"], "examples": "; ".join(summary[key]["examples"][:3])}
        for key, text in labels.items()
        if key in summary
    ]
    head = (
        f"{summary.get('n_rows', 0)} score rows read; {summary.get('n_scored', 0)} of {summary.get('n_pairs', 0)} pairs "
        f"scored (pairs from the {summary.get('pairs_from', '?')})."
    )
    return ["## Imported scores", "", head, "", md_table(pd.DataFrame(rows)), ""]


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


def _summary_value(row: Any) -> str:
    if row.status == "unbounded":
        return "unbounded"
    if row.status == "undefined":
        return "undefined"
    if row.status == "not_estimable":
        return "not estimable (too few errors)"
    text = f"{row.value:.4g}"
    status = getattr(row, "ci_status", None)
    if isinstance(status, str) and status not in ("not_reported", "no_replicates"):
        high = "inf" if row.ci_high == float("inf") else f"{row.ci_high:.4g}"
        text += f" [{row.ci_low:.4g}, {high}]" + (" (point)" if status == "point" else "")
    elif status == "not_reported":
        text += f" (interval not reported: {row.undefined_share:.0%} of replicates undefined)"
    return text


def few_replicates_note(bootstrap: int) -> list[str]:
    """A warning where bootstrap intervals rest on fewer than ``MIN_BOOTSTRAP_REPLICATES`` replicates."""
    from frbench.metrics.power import MIN_BOOTSTRAP_REPLICATES

    if not 0 < bootstrap < MIN_BOOTSTRAP_REPLICATES:
        return []
    return [f"**Bootstrap intervals here rest on {bootstrap:,} replicates**, fewer than {MIN_BOOTSTRAP_REPLICATES:,}: "
            f"a 95% percentile interval's ends are then about the {max(1, round(bootstrap * 0.025))}th most extreme "
            "values on each side; treat them as rough.", ""]


def _fairness_table(fairness: pd.DataFrame) -> str:
    """Every summary with its interval, or why it has none: unbounded and undefined ratios say so."""
    rows = pd.DataFrame(
        {
            "threshold": fairness["threshold_name"],
            "attribute": fairness["attribute"],
            "measure": fairness["measure"],
            "value": [_summary_value(r) for r in fairness.itertuples()],
            "groups": fairness["groups"].fillna(""),
            "why undefined / unbounded / not estimable": fairness["reason"].fillna(""),
        }
    )
    return md_table(rows)


def _tests_table(tests: pd.DataFrame) -> str:
    rows = pd.DataFrame(
        {
            "threshold": tests["threshold_name"],
            "attribute": tests["attribute"],
            "rate": tests["rate"].str.upper(),
            "errors / comparisons": tests["errors"],
            "exact p (Holm)": [_p(a, b) for a, b in zip(tests["exact_p"], tests["exact_p_holm"])],
            "clustered p (Holm)": [_p(a, b) for a, b in zip(tests["clustered_p"], tests["clustered_p_holm"])],
            "note": [
                "; ".join(x for x in (note, method if "too few" in method else "") if x)
                for note, method in zip(tests["note"].fillna(""), tests["clustered_method"].fillna(""))
            ],
        }
    )
    return md_table(rows)


def _p(p: float, holm: float) -> str:
    return "n/a" if pd.isna(p) else f"{p:.3g} ({holm:.3g})"


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


def composition(images: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """Subjects and images per group: who is in the data, before any error rate (``all`` first)."""
    rows = [{"attribute": "all", "group": "all", "subjects": images["subject_id"].nunique(), "images": len(images)}]
    for attr in attributes:
        for group, part in images.groupby(attr, sort=True):
            rows.append(
                {"attribute": attr, "group": group, "subjects": part["subject_id"].nunique(), "images": len(part)}
            )
    return pd.DataFrame(rows, columns=["attribute", "group", "subjects", "images"])


def render_report(
    config: Config,
    dataset: Dataset,
    images: pd.DataFrame,
    pair_counts: dict[str, int],
    measures: Measures,
    fte: pd.DataFrame,
    failures: pd.DataFrame,
    manifest: dict[str, Any],
    figures: dict[str, list[str]] | None = None,
    sections: list[str] | None = None,
) -> str:
    """report.md; ``sections``: further lines (differentials, the ISO/IEC 19795-10 map) placed after the plots."""
    per_group, thresholds, fairness = measures.per_group, measures.thresholds, measures.fairness
    m = config.model
    lines = [f"# frbench report: {config.name}", ""]
    if config.description:
        lines += [config.description, ""]
    headline = gender_shades_table(per_group, thresholds, measures.threshold_table)
    if headline is not None:
        lines += [
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
    if m.name == IMPORTED_SCORES:
        system = (
            f"- Imported scores from `{m.path if m.path is not None else imported_source(config)}` ({manifest['score']['convention']}; match when similarity >= threshold); "
            "no model was run here"
        )
    else:
        system = (
            f"- Model **{m.name}**, detector **{m.detector}**, align **{m.align}**, normalization {m.normalization}, "
            f"distance **{m.distance_metric}** ({manifest['score']['convention']}; match when similarity >= threshold)"
        )
    fingerprint = manifest["pipeline"].get("fingerprint")
    lines += [
        "## Pipeline",
        "",
        system,
        f"- Dataset **{dataset.name}**: {len(images)} images of {images['subject_id'].nunique()} subjects, "
        f"{pair_counts['n_pairs']:,} pairs ({pair_counts['n_mated']:,} mated, {pair_counts['n_nonmated']:,} non-mated), "
        f"protocol **{config.pairs.protocol}**",
        f"- Versions: frbench {manifest['frbench_version']}, deepface {manifest['versions']['deepface']}"
        + (f"; pipeline fingerprint `{fingerprint[:12]}`" if fingerprint else ""),
        "",
    ]
    if m.name == IMPORTED_SCORES:
        lines += imported_section(manifest.get("imported_scores", {}))
    lines += ["## Thresholds", ""]
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
    lines += [f"- {note}" for note in measures.notes] + ([""] if measures.notes else [])
    lines += ["## Error rates by group", "", SUBJECTS_RULE, ""]
    for name in per_group["threshold_name"].unique():
        rows = per_group[per_group["threshold_name"] == name]
        if name in thresholds:
            title = f"### {name}: {meaning.get(name, name)} (similarity >= {fmt_threshold(thresholds[name])})"
        else:
            title = f"### {name} (threshold set on the other folds, applied to each held-out fold; counts pooled)"
            title += fold_resolution_note(measures.threshold_table, name)
        lines += [title, "", md_table(rates_table(rows)), ""]
    if measures.per_group_thresholds is not None:
        lines += [
            "## Per-group thresholds",
            "",
            "The threshold each group would need to reach the target FMR on its own non-mated pairs: the spread "
            "shows what one global threshold does to each group.",
            "",
            md_table(measures.per_group_thresholds),
            "",
        ]
    lines += power_section(per_group)
    if fairness is not None and len(fairness):
        lines += [
            "## Fairness summaries", "",
            "A ratio over a zero rate is *unbounded* and one over no groups or 0/0 *undefined*: neither is "
            "clamped or floored. A measure whose rates rest on fewer than 3 errors in all is *not estimable*, "
            "its counts given instead (one false match makes a max/min ratio of 14.8 or a Gini of 1.0). Bootstrap intervals (subject resamples) are withheld when more than 5% of "
            "replicates are undefined. A max/min ratio is at least 1 by construction, so its interval lies "
            "above 1 even for equal groups: read every ratio next to the tests of group differences below.", "",
            _fairness_table(fairness), "",
            "Definitions and references: `fairness.csv` (column `definition`).", "",
            *few_replicates_note(config.stats.bootstrap),
        ]
    if measures.group_tests is not None and len(measures.group_tests):
        lines += [
            "## Tests of group differences", "",
            "H0: every compared group has the same rate. Exact: Fisher (two groups) or Freeman-Halton over "
            "comparisons, pairs taken as independent. Clustered: group labels permuted among clusters, within "
            "strata of clusters with equal numbers of pairs; a cluster is a connected component of subjects "
            "linked by the tested pairs (for FNMR a subject and its mated pairs, for FMR a set of subjects "
            "joined by within-group non-mated pairs), so that pairs sharing a subject move together. Where few "
            "relabellings exist the smallest attainable p is given with the method (`group_tests.csv`, "
            "`clustered_method`); a test that cannot reach 0.05 says so. p-values Holm-corrected across this "
            "table (in brackets).", "",
            _tests_table(measures.group_tests), "",
        ]
    if figures:
        lines += ["## Plots", ""]
        for kind, title in (("rates", "Error rates by group"), ("det", "DET curves"), ("scores", "Score distributions"),
                            ("cross_group", "Cross-group FMR")):
            for path in figures.get(kind, []):
                lines += [f"![{title}: {path}]({path})", ""]
    lines += sections or []
    attributes = list(dict.fromkeys([*config.groups, *[a for c in config.intersections for a in c]]))
    lines += ["## Dataset composition", "", md_table(composition(images, attributes)), ""]
    lines += ["## Failure to enrol", ""]
    if len(failures):
        reasons = failures["status"].value_counts().rename_axis("reason").reset_index(name="images")
        lines += [md_table(reasons), "", md_table(fte), "", "Every failed image is listed in `failures.csv`.", ""]
    else:
        lines += ["Every image was embedded.", ""]
    if "skin_tone" in images.columns:
        lines += skin_tone_section(images, figures or {}, list(config.annotate.skin_tone_labels), measures.label_noise)
    lines += ["## Caveats", ""]
    caveats = [*dataset.caveats, *TOOL_CAVEATS, interval_caveat(config.stats.bootstrap, config.pairs.protocol)]
    if "skin_tone_source" in images.columns and (images["skin_tone_source"] == "ita").any():
        caveats.append(ITA_CAVEAT)
    if "skin_tone_source" in images.columns and (images["skin_tone_source"] == "estimator").any():
        caveats.append(ESTIMATOR_CAVEAT)
    lines += [f"- {c}" for c in caveats]
    return "\n".join(lines) + "\n"
