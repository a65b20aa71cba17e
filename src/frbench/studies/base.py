"""What every study shares: the interface a run drives, its inputs, and the one result type.

A *study* is a way to measure a dataset: verification (1:1 pairs: listed, generated, exhaustive or
imported scores) or identification (1:N searches against a gallery). ``run_benchmark`` drives any
study through the same four calls and never asks which one it runs:

* ``select(config, dataset)``: the images (and pairs) to embed;
* ``nothing_measurable(inputs)``: why nothing can be measured (before evaluating), or None;
* ``evaluate(inputs)``: a :class:`StudyResult`, every table the run writes;
* the result's ``write_files`` and ``report``: its plots and report.md, once its tables are on disk.

Capabilities differ by study and are attributes, never kind checks: ``embeds`` (a model runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pandas as pd

from frbench.config import Config
from frbench.datasets import Dataset
from frbench.embed import Embeddings
from frbench.embed.backend import Pipeline
from frbench.groups import Groups
from frbench.measure.result import Measures
from frbench.metrics.grouped import failure_to_enrol
from frbench.tables import OK


@dataclass(frozen=True)
class StudyInputs:
    """What a study measures: the selected, annotated and validated images (and pairs), their
    embeddings (None where no model runs), the groups reported, and the pipeline that embedded
    them (None for imported scores). ``ita_table``: the skin-tone annotation's per-image table."""

    config: Config
    dataset: Dataset
    images: pd.DataFrame
    pairs: pd.DataFrame | None
    embeddings: Embeddings | None
    groups: Groups
    pipeline: Pipeline | None
    ita_table: pd.DataFrame | None = None


@dataclass(frozen=True)
class Figures:
    """What a study's ``write_files`` wrote beside its tables: the plots the report embeds, by kind
    (paths relative to the run folder), plots placed by a report section (``in_sections``, by
    section), and every file the manifest's ``outputs`` lists for it (``recorded``)."""

    by_kind: dict[str, list[str]] = field(default_factory=dict)
    in_sections: dict[str, list[str]] = field(default_factory=dict)
    recorded: list[str | Path] = field(default_factory=list)


@dataclass(frozen=True)
class NothingMeasured:
    """Why a study cannot measure anything (every comparison or search lost to failed enrolment):
    ``what`` happened, and the line about what could still be compared."""

    what: str
    compared: str


@dataclass
class StudyResult:
    """Everything one study measured, and what its run writes.

    ``kind``: ``verification`` or ``identification`` (how summaries name the rates);
    ``per_group``: the rates per group (per_group.csv; identification.csv for search: FNIR and
    FPIR); ``fairness`` and ``group_tests``: the summaries and tests of equal rates across groups
    (fairness.csv, group_tests.csv); ``tables``: every CSV the run writes, by file name, in writing
    order; ``documents``: JSON files by name; ``write_files(out_dir)``: writes the plots (and the
    curve tables written with them), returns :class:`Figures`; ``report(manifest, figures)``:
    report.md's text; ``manifest_extra``: sections the manifest gains; ``pair_counts``:
    ``n_pairs, n_mated, n_nonmated`` (searches for identification) for the manifest.
    """

    kind: str
    per_group: pd.DataFrame
    thresholds: dict[str, float]
    fairness: pd.DataFrame
    group_tests: pd.DataFrame | None
    failure_to_enrol: pd.DataFrame
    failures: pd.DataFrame
    scores: pd.DataFrame
    pair_counts: dict[str, int]
    tables: dict[str, pd.DataFrame]
    write_files: Callable[[Path], Figures]
    report: Callable[[dict[str, Any], Figures], str]
    documents: dict[str, Any] = field(default_factory=dict)
    manifest_extra: dict[str, Any] = field(default_factory=dict)
    measures: Measures | None = None
    accuracy: pd.DataFrame | None = None
    fold_accuracy: pd.DataFrame | None = None
    eer: pd.DataFrame | None = None


class Study(Protocol):
    """The interface ``run_benchmark`` drives (see the module docstring)."""

    kind: ClassVar[str]
    embeds: ClassVar[bool]

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame | None]: ...

    def nothing_measurable(self, inputs: StudyInputs) -> NothingMeasured | None: ...

    def evaluate(self, inputs: StudyInputs) -> StudyResult: ...


def failures_table(images: pd.DataFrame, status: pd.Series, detail: pd.Series) -> pd.DataFrame:
    """failures.csv: every image that did not enrol, with its reason."""
    out = pd.DataFrame(
        {"image_id": images["image_id"], "status": status.loc[images["image_id"]].to_numpy(),
         "detail": detail.loc[images["image_id"]].to_numpy()}
    )
    return out[out["status"] != OK].reset_index(drop=True)


def enrolment_tables(config: Config, images: pd.DataFrame, status: pd.Series, detail: pd.Series,
                     groups: Groups) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(failure_to_enrol.csv, failures.csv): enrolment failures per group, and every one of them."""
    fte = failure_to_enrol(images, status, groups, level=config.stats.confidence_level)
    return fte, failures_table(images, status, detail)
