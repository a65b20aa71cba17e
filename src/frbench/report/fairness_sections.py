"""report.md's fairness summaries (with why a ratio is unbounded, undefined or not estimable) and the
tests of group differences."""

from __future__ import annotations

from typing import Any

import pandas as pd

from frbench.report.md_format import md_table


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



def fairness_section(fairness: pd.DataFrame | None, bootstrap: int) -> list[str]:
    """Every fairness summary with its interval and the rules behind undefined and unbounded values."""
    if fairness is None or not len(fairness):
        return []
    return [
        "## Fairness summaries", "",
        "A ratio over a zero rate is *unbounded* and one over no groups or 0/0 *undefined*: neither is "
        "clamped or floored. A measure whose rates rest on fewer than 3 errors in all is *not estimable*, "
        "its counts given instead (one false match makes a max/min ratio of 14.8 or a Gini of 1.0). Bootstrap intervals (subject resamples) are withheld when more than 5% of "
        "replicates are undefined. A max/min ratio is at least 1 by construction, so its interval lies "
        "above 1 even for equal groups: read every ratio next to the tests of group differences below.", "",
        _fairness_table(fairness), "",
        "Definitions and references: `fairness.csv` (column `definition`).", "",
        *few_replicates_note(bootstrap),
    ]


def group_tests_section(tests: pd.DataFrame | None) -> list[str]:
    """The exact and subject-clustered tests of equal rates, Holm-corrected, with what each assumes."""
    if tests is None or not len(tests):
        return []
    return [
        "## Tests of group differences", "",
        "H0: every compared group has the same rate. Exact: Fisher (two groups) or Freeman-Halton over "
        "comparisons, pairs taken as independent. Clustered: group labels permuted among clusters, within "
        "strata of clusters with equal numbers of pairs; a cluster is a connected component of subjects "
        "linked by the tested pairs (for FNMR a subject and its mated pairs, for FMR a set of subjects "
        "joined by within-group non-mated pairs), so that pairs sharing a subject move together. Where few "
        "relabellings exist the smallest attainable p is given with the method (`group_tests.csv`, "
        "`clustered_method`); a test that cannot reach 0.05 says so. p-values Holm-corrected across this "
        "table (in brackets).", "",
        _tests_table(tests), "",
    ]
