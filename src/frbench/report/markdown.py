"""report.md: the run's sections in order, each rendered by the module that owns it.

``render_report`` keeps the signature callers use; the manifest and the pair counts are turned into
typed values (:class:`RunRecord`, :class:`PairCounts`) once, here, and every section takes typed inputs.
The names re-exported below are those other modules and tests import from here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from frbench.config import Config
from frbench.datasets import Dataset
from frbench.measure.result import Measures
from frbench.report.caveats import TOOL_CAVEATS, caveats_section, interval_caveat
from frbench.report.fairness_sections import fairness_section, few_replicates_note, group_tests_section
from frbench.report.md_format import fmt_rate, fmt_threshold, md_table
from frbench.report.rate_sections import (
    SUBJECTS_RULE, error_rates_section, per_group_thresholds_section, power_section, rates_table, thresholds_section,
)
from frbench.report.run_sections import (
    PairCounts, RunRecord, composition, composition_section, failures_section, imported_section, pipeline_section,
    plots_section, title_section,
)
from frbench.report.skin_tone_sections import (
    agreement_text, annotator_lines, gender_shades_table, headline_section, sensitivity_lines, skin_tone_section,
)

__all__ = [
    "SUBJECTS_RULE", "TOOL_CAVEATS", "PairCounts", "RunRecord", "agreement_text", "annotator_lines", "composition",
    "few_replicates_note", "fmt_rate", "fmt_threshold", "gender_shades_table", "interval_caveat", "md_table",
    "rates_table", "render_report", "sensitivity_lines", "skin_tone_section",
]


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
    record = RunRecord.from_manifest(manifest)
    figures = figures or {}
    parts = [
        title_section(config),
        headline_section(measures, images),
        pipeline_section(config, dataset.name, images, PairCounts.from_dict(pair_counts), record),
        imported_section(record.imported_scores) if config.model.imports_scores else [],
        thresholds_section(measures),
        error_rates_section(measures),
        per_group_thresholds_section(measures.per_group_thresholds),
        power_section(measures.per_group),
        fairness_section(measures.fairness, config.stats.bootstrap),
        group_tests_section(measures.group_tests),
        plots_section(figures),
        sections or [],
        composition_section(config, images),
        failures_section(failures, fte),
        skin_tone_section(images, figures, list(config.annotate.skin_tone_labels), measures.label_noise)
        if "skin_tone" in images.columns else [],
        caveats_section(dataset.caveats, config.stats.bootstrap, config.pairs.protocol, images),
    ]
    return "\n".join(line for part in parts for line in part) + "\n"
