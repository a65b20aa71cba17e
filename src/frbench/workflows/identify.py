"""The end of a run whose protocol is one-to-many search: its tables, report and manifest.

``run_benchmark`` does the shared work (dataset, annotation, embedding); a search run then
writes identification.csv and the other search tables (:func:`frbench.search.identification.write_identification`),
failures and failure to enrol per group as every run does, a report and the manifest, last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from frbench.config import Config
from frbench.datasets import Dataset
from frbench.io.atomic import write_json, write_text
from frbench.io.spreadsheet import write_csv
from frbench.report.markdown import TOOL_CAVEATS, md_table
from frbench.workflows.manifest import SEARCH_TABLES, record_outputs


def write_identification_run(
    config: Config,
    dataset: Dataset,
    images: pd.DataFrame,
    result: Any,
    fte: pd.DataFrame,
    failures: pd.DataFrame,
    manifest: dict[str, Any],
    out_dir: Path,
) -> None:
    """Every file of a search run, the manifest last (its presence marks a complete run)."""
    from frbench.search.identification import report_section, write_identification

    for name in ("manifest.json", *SEARCH_TABLES, "failure_to_enrol.csv", "failures.csv", "report.md"):
        (out_dir / name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_identification(result, out_dir)
    write_csv(out_dir / "failure_to_enrol.csv", fte)
    write_csv(out_dir / "failures.csv", failures)
    m = config.model
    lines = [
        f"# frbench report: {config.name}", "", *([config.description, ""] if config.description else []),
        "## Pipeline", "",
        f"- Model **{m.name}**, detector **{m.detector}**, align **{m.align}**, candidates ranked by cosine similarity",
        f"- Dataset **{dataset.name}**: {len(images)} images of {images['subject_id'].nunique()} subjects; the split "
        f"(seed {config.identification.seed}) is in gallery.csv and probes.csv",
        "",
        report_section(result),
        "Thresholds are set globally on the top scores of non-mated searches at each target FPIR (as NIST FRTE "
        "sets FMR on impostors), then FPIR and FNIR are counted per probe group. Every rate's interval, power "
        "flags (rule of three, rule of 30) and the gallery-size and composition sweeps are in identification.csv, "
        "gallery_size.csv and composition.csv; who is wrongly returned, by group, in candidate_groups.csv.",
        "",
        "## Failure to enrol", "",
        md_table(fte) if len(fte) else "Every image was embedded.", "",
        "## Caveats", "",
        *[f"- {c}" for c in [*dataset.caveats, *TOOL_CAVEATS[:1]]],
    ]
    write_text(out_dir / "report.md", "\n".join(lines) + "\n")
    manifest["identification"] = {**result.split.record, **result.info}
    record_outputs(manifest, out_dir, [*SEARCH_TABLES, "failure_to_enrol.csv", "failures.csv", "report.md",
                                       *sorted(p for p in (out_dir / "plots").glob("*") if p.is_file())])
    write_json(out_dir / "manifest.json", manifest)
