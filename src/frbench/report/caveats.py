"""report.md's caveats: what the tool's rates and intervals cannot say, and what estimated skin tone is."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

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

# skin_tone_source values (frbench.annotate.sources.ESTIMATED_SOURCES) whose estimate needs a caveat
_TONE_CAVEATS = {"ita": ITA_CAVEAT, "estimator": ESTIMATOR_CAVEAT}


def interval_caveat(bootstrap: int, protocol: str) -> str:
    """The caveat on pair-level intervals, pointing to the subject bootstrap only where it did not run."""
    if bootstrap and protocol != "exhaustive":
        return (CP_CAVEAT + f"; the subject bootstrap ran ({bootstrap:,} replicates): its intervals are per_group.csv's "
                "`*_boot_*` columns and the fairness summaries'.")
    if protocol == "exhaustive":
        return CP_CAVEAT + "; the exhaustive protocol has no subject bootstrap of its rates."
    return CP_CAVEAT + "; set stats.bootstrap for subject-bootstrap intervals that account for it."


def caveats_section(dataset_caveats: Sequence[str], bootstrap: int, protocol: str, images: pd.DataFrame) -> list[str]:
    """The dataset's caveats, the tool's, the intervals', and one per kind of estimated skin tone present."""
    caveats = [*dataset_caveats, *TOOL_CAVEATS, interval_caveat(bootstrap, protocol)]
    if "skin_tone_source" in images.columns:
        sources = images["skin_tone_source"]
        caveats += [text for source, text in _TONE_CAVEATS.items() if (sources == source).any()]
    return ["## Caveats", "", *(f"- {c}" for c in caveats)]
