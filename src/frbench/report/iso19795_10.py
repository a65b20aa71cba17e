"""iso19795_10.csv and report.md's ISO/IEC 19795-10 section: each term the standard names, the
frbench file and column that reports it, how it is computed, and what is not reported and why.

ISO/IEC 19795-10:2024 (biometric performance testing and reporting, part 10: quantifying
biometric system performance variation across demographic groups) names differential performance
measures (false-positive and false-negative differential performance), comparison-score
differential measures (mated and non-mated), an aggregate equitability measure, FTE and FTA per
group, the provenance of demographic labels and the uncertainty of every measure. The map says
where frbench's outputs stand for each term; the standard's own formulas are not restated here,
and a reader checking conformance should compare the "how" column against the standard's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from frbench.report.md_format import md_table

MAP_COLUMNS = ("term", "status", "frbench_output", "how_computed", "not_reported_why")
REPORTED, PARTLY, NOT_REPORTED = "reported", "partly reported", "not reported"

# frbench's <attr>_source values -> the provenance classes the standard distinguishes.
PROVENANCE = {
    "self_declared": "self-declared",
    "human": "annotated (observed by people)",
    "dataset": "supplied with the dataset (see its documentation)",
    "ita": "estimated (ITA of skin pixels)",
    "estimator": "estimated (calibrated skin-tone estimator)",
    "classifier": "classifier output",
    "unknown": "no label",
}


def provenance_rows(images: pd.DataFrame, attributes: Sequence[str], descriptions: Mapping[str, str]) -> list[dict]:
    """One map row per demographic attribute: subjects per provenance class, and the dataset's own note."""
    rows = []
    for attr in attributes:
        column = f"{attr}_source"
        if column in images.columns:
            counts = images.drop_duplicates("subject_id")[column].value_counts()
            how = "; ".join(f"{PROVENANCE.get(str(k), str(k))}: {int(v):,} subjects" for k, v in counts.items())
            status = REPORTED
        else:
            how, status = "no provenance column", NOT_REPORTED
        note = descriptions.get(attr, "")
        rows.append({
            "term": f"demographic label provenance: {attr}", "status": status,
            "frbench_output": f"images' {column}; manifest.json label sources",
            "how_computed": how + (f" ({note})" if note else ""),
            "not_reported_why": "" if status == REPORTED else "the dataset gives no source for this attribute",
        })
    return rows


def iso_map(images: pd.DataFrame, attributes: Sequence[str], descriptions: Mapping[str, str],
            nonmated_listed: bool, has_groups: bool) -> pd.DataFrame:
    """iso19795_10.csv: ``MAP_COLUMNS``, one row per term of the standard and per labelled attribute."""
    none = "" if has_groups else "the run has no demographic groups"
    rows = [
        {"term": "false-positive differential performance", "status": REPORTED if has_groups else NOT_REPORTED,
         "frbench_output": "per_group.csv fmr, fmr_ci_*; cross_group_fmr.csv; fairness.csv (FMR measures); "
                           "group_tests.csv (rate fmr)",
         "how_computed": "per group FMR at each global threshold (one threshold for all groups, set on all "
                         "non-mated scores), pairs with both sides in the group; Clopper-Pearson and subject-"
                         "bootstrap intervals; ratios and differences across groups",
         "not_reported_why": none},
        {"term": "false-negative differential performance", "status": REPORTED if has_groups else NOT_REPORTED,
         "frbench_output": "per_group.csv fnmr (pair-weighted); subject_fnmr.csv fnmr_subject_weighted; "
                           "fairness.csv (FNMR measures); group_tests.csv (rate fnmr; fnmr_subject_weighted where pairs are listed)",
         "how_computed": "per group FNMR at each global threshold, both pair-weighted and subject-weighted "
                         "(mean of each subject's FNMR, subject-bootstrap interval)",
         "not_reported_why": none},
        {"term": "mated comparison score differential", "status": REPORTED if has_groups else NOT_REPORTED,
         "frbench_output": "score_shift.csv kind=mated; fnmr_decomposition.csv",
         "how_computed": "median shift (subject-weighted) and Cliff's delta of the group's mated scores against "
                         "all and against each other group, subject-bootstrap intervals; FNMR difference split "
                         "into location, spread and shape",
         "not_reported_why": none},
        {"term": "non-mated comparison score differential",
         "status": REPORTED if (has_groups and nonmated_listed) else NOT_REPORTED,
         "frbench_output": "score_shift.csv kind=nonmated" if nonmated_listed else "",
         "how_computed": "median shift and Cliff's delta of the group's non-mated scores (both sides in the "
                         "group), pair-weighted, subject-bootstrap intervals" if nonmated_listed else "",
         "not_reported_why": none or ("" if nonmated_listed else
                                      "the exhaustive protocol counts non-mated pairs per cell and lists no "
                                      "scores; its per-group FMR(T) (rates_vs_threshold.csv) is exact")},
        {"term": "aggregate equitability measure", "status": PARTLY if has_groups else NOT_REPORTED,
         "frbench_output": "fairness.csv (max/min and max/geomean ratios, Gini, FDR, inequity rate, GARBE, SER)",
         "how_computed": "summaries over the groups in summaries (enough subjects behind the rate); each "
                         "measure's definition and reference in fairness.csv's definition column",
         "not_reported_why": none or "frbench reports several published aggregates; none is claimed to be the "
                                     "standard's own formula"},
        {"term": "failure to enrol (FTE) per group", "status": REPORTED,
         "frbench_output": "failure_to_enrol.csv; fairness.csv (FTE differentials); failures.csv",
         "how_computed": "share of a group's images with no usable embedding, Clopper-Pearson interval; every "
                         "failed image listed with its reason",
         "not_reported_why": ""},
        {"term": "failure to acquire (FTA) per group", "status": NOT_REPORTED, "frbench_output": "",
         "how_computed": "",
         "not_reported_why": "frbench makes one attempt per stored image: detection and feature extraction "
                             "failures are one event, reported as FTE; there is no separate acquisition"},
        {"term": "generalised rates (GFAR, GFRR, ISO/IEC 19795-1)", "status": PARTLY,
         "frbench_output": "per_group.csv gfar, gfrr; fairness.csv gfar/gfrr ratios",
         "how_computed": "adapted: the group's share of mated (GFRR) or non-mated (GFAR) pairs with a failed image "
                         "in place of the standard's one FTE and one FTA",
         "not_reported_why": "the standard's form needs an FTA separate from FTE, which offline images do not have"},
        {"term": "error rates against threshold per group", "status": REPORTED,
         "frbench_output": "rates_vs_threshold.csv; plots/rates_vs_threshold_*.png; det_points.csv",
         "how_computed": "FMR(T) and FNMR(T) per group with 95% Clopper-Pearson bands, thresholds marked",
         "not_reported_why": ""},
        {"term": "uncertainty", "status": REPORTED,
         "frbench_output": "*_ci_low/high columns of every table; group_tests.csv; thresholds.csv",
         "how_computed": "Clopper-Pearson over pairs; subject bootstrap (subjects resampled, the unit of "
                         "dependence); exact and subject-clustered permutation tests with Holm correction; "
                         "power flags (rule of three, rule of 30) and target resolvability",
         "not_reported_why": ""},
    ]
    return pd.DataFrame(rows + provenance_rows(images, attributes, descriptions), columns=list(MAP_COLUMNS))


def iso_section(table: pd.DataFrame) -> list[str]:
    """report.md's "ISO/IEC 19795-10" section: the map as a table."""
    shown = table.rename(columns={"frbench_output": "where", "how_computed": "how",
                                  "not_reported_why": "not reported because"})
    return [
        "## ISO/IEC 19795-10 terms", "",
        "Each term ISO/IEC 19795-10:2024 names, where this report has it and how it is computed "
        "(machine-readable: `iso19795_10.csv`). The standard's own formulas are not restated; compare the "
        "*how* column against it.", "",
        md_table(shown), "",
    ]
