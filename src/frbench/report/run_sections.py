"""report.md's sections about the run itself: title, pipeline and versions, the score import, plots,
the dataset's composition and the images that failed to enrol.

The manifest is read in one place, :meth:`RunRecord.from_manifest`; the sections take typed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from frbench.config import Config
from frbench.report.md_format import md_table


@dataclass(frozen=True)
class RunRecord:
    """What report.md takes from the run's manifest: the score convention, versions, the pipeline
    fingerprint (None for imported scores) and the score import's summary (empty when none ran)."""

    score_convention: str
    frbench_version: str
    deepface_version: str
    fingerprint: str | None = None
    imported_scores: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> RunRecord:
        return cls(
            score_convention=manifest["score"]["convention"],
            frbench_version=manifest["frbench_version"],
            deepface_version=manifest["versions"]["deepface"],
            fingerprint=manifest["pipeline"].get("fingerprint"),
            imported_scores=manifest.get("imported_scores", {}),
        )


@dataclass(frozen=True)
class PairCounts:
    """How many pairs the protocol compared (``evaluation.pair_counts``)."""

    n_pairs: int
    n_mated: int
    n_nonmated: int

    @classmethod
    def from_dict(cls, counts: Mapping[str, int]) -> PairCounts:
        return cls(counts["n_pairs"], counts["n_mated"], counts["n_nonmated"])


def imported_source(config: Config) -> str:
    """A score-only dataset's score file and its format, as reports name it."""
    d = config.dataset
    return f"{d.scores} ({d.score_format}" + (f", impostors {d.impostors}" if d.impostors else "") + ")"



def title_section(config: Config) -> list[str]:
    lines = [f"# frbench report: {config.name}", ""]
    if config.description:
        lines += [config.description, ""]
    return lines


def pipeline_section(
    config: Config, dataset_name: str, images: pd.DataFrame, pairs: PairCounts, record: RunRecord
) -> list[str]:
    """The system compared (a model, or imported scores), the dataset and protocol, and the versions."""
    m = config.model
    if m.imports_scores:
        system = (
            f"- Imported scores from `{m.path if m.path is not None else imported_source(config)}` ({record.score_convention}; match when similarity >= threshold); "
            "no model was run here"
        )
    else:
        system = (
            f"- Model **{m.name}**, detector **{m.detector}**, align **{m.align}**, normalization {m.normalization}, "
            f"distance **{m.distance_metric}** ({record.score_convention}; match when similarity >= threshold)"
        )
    fingerprint = record.fingerprint
    return [
        "## Pipeline",
        "",
        system,
        f"- Dataset **{dataset_name}**: {len(images)} images of {images['subject_id'].nunique()} subjects, "
        f"{pairs.n_pairs:,} pairs ({pairs.n_mated:,} mated, {pairs.n_nonmated:,} non-mated), "
        f"protocol **{config.pairs.protocol}**",
        f"- Versions: frbench {record.frbench_version}, deepface {record.deepface_version}"
        + (f"; pipeline fingerprint `{fingerprint[:12]}`" if fingerprint else ""),
        "",
    ]


def imported_section(summary: Mapping[str, Any]) -> list[str]:
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



def plots_section(figures: Mapping[str, list[str]]) -> list[str]:
    """Every plot of the run, rates first; nothing where the run drew none."""
    if not figures:
        return []
    lines = ["## Plots", ""]
    for kind, title in (("rates", "Error rates by group"), ("det", "DET curves"), ("scores", "Score distributions"),
                        ("cross_group", "Cross-group FMR")):
        for path in figures.get(kind, []):
            lines += [f"![{title}: {path}]({path})", ""]
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



def composition_section(config: Config, images: pd.DataFrame) -> list[str]:
    """Who is in the data: every attribute the config groups by, intersections' parts included."""
    attributes = list(dict.fromkeys([*config.groups, *[a for c in config.intersections for a in c]]))
    return ["## Dataset composition", "", md_table(composition(images, attributes)), ""]


def failures_section(failures: pd.DataFrame, fte: pd.DataFrame) -> list[str]:
    """Images that failed to enrol, by reason and by group; or that every image was embedded."""
    lines = ["## Failure to enrol", ""]
    if len(failures):
        reasons = failures["status"].value_counts().rename_axis("reason").reset_index(name="images")
        return lines + [md_table(reasons), "", md_table(fte), "", "Every failed image is listed in `failures.csv`.", ""]
    return lines + ["Every image was embedded.", ""]
