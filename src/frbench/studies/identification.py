"""The identification (1:N) study: probes searched against a gallery, FNIR and FPIR per probe group.

Every image takes part, as gallery template, probe or distractor (:mod:`frbench.search.protocol`);
the searches, counts and sweeps are :func:`frbench.search.identification.measure_identification`'s.
Its rates go through the same per-group engine as the 1:1 ones, and so do its fairness summaries
and group tests (fairness.csv and group_tests.csv, rates named FNIR and FPIR).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.datasets import Dataset
from frbench.measure.result import IDENTIFICATION
from frbench.report.markdown import TOOL_CAVEATS, md_table
from frbench.search.identification import (
    CompositionParams,
    IdentificationParams,
    IdentificationResult,
    decided_names,
    fairness_report_lines,
    identification_tables,
    measure_identification,
    report_section,
    search_fairness,
    search_group_tests,
    write_identification_plots,
)
from frbench.studies.base import Figures, NothingMeasured, StudyInputs, StudyResult, enrolment_tables


def identification_params(config: Config) -> IdentificationParams:
    """The search package's parameters from a config's ``identification`` and ``stats`` sections."""
    c, stats = config.identification, config.stats
    comp = c.composition
    return IdentificationParams(
        gallery_images_per_subject=c.gallery_images_per_subject, enrolled_fraction=c.enrolled_fraction,
        few_image_subjects=c.few_image_subjects, max_probes_per_subject=c.max_probes_per_subject, seed=c.seed,
        gallery_file=c.gallery_file, probes_file=c.probes_file, candidates=c.candidates, ranks=tuple(c.ranks),
        target_fpir=tuple(c.target_fpir), kernel=c.kernel, block_mb=c.block_mb, level=stats.confidence_level,
        bootstrap=stats.bootstrap, gallery_size_steps=c.gallery_size.steps, gallery_size_smallest=c.gallery_size.smallest,
        gallery_size_repeats=c.gallery_size.repeats,
        composition=None if comp is None else CompositionParams(comp.attribute, comp.group, tuple(comp.shares), comp.size, comp.repeats),
        fpir_prediction_sizes=None if c.fpir_prediction is None else tuple(c.fpir_prediction.sizes),
    )


class IdentificationSearch:
    """One-to-many search: every image takes part, as gallery template, probe or distractor."""

    kind: ClassVar[str] = IDENTIFICATION
    embeds: ClassVar[bool] = True

    def select(self, config: Config, dataset: Dataset) -> tuple[pd.DataFrame, None]:
        return dataset.images.reset_index(drop=True), None

    def nothing_measurable(self, inputs: StudyInputs) -> NothingMeasured | None:
        # the split and the search say what is missing themselves (no gallery, no probe)
        return None

    def search(self, inputs: StudyInputs) -> IdentificationResult:
        """The searches and their tables, on the cluster when ``execution.executor`` is dask."""
        embeddings, groups, images = inputs.embeddings, inputs.groups, inputs.images
        row = pd.Series(np.arange(len(embeddings.image_ids)), index=embeddings.image_ids)
        matrix = embeddings.matrix[row.loc[images["image_id"]].to_numpy()]
        args = (images, matrix, embeddings.status, groups.attributes, groups.intersections,
                identification_params(inputs.config))
        execution = inputs.config.execution
        if execution.executor != "dask":
            return measure_identification(*args)
        from frbench.scoring.distributed import dask_client
        from frbench.search.sharded import sharded_search

        # Every search (the full gallery and each sweep's sub-gallery) runs as gallery shards on
        # the cluster; the lists equal the single-process ones (search.sharded).
        with dask_client(execution.workers, execution.scheduler) as client:
            return measure_identification(
                *args, searcher=partial(sharded_search, client, scratch_dir=execution.scratch_dir)
            )

    def evaluate(self, inputs: StudyInputs) -> StudyResult:
        config, groups, embeddings = inputs.config, inputs.groups, inputs.embeddings
        result = self.search(inputs)
        fte, failures = enrolment_tables(config, inputs.images, embeddings.status, embeddings.detail, groups)
        stats = config.stats
        # the thresholds set at a target FPIR: the search's decisions, its summaries' and tests' rows
        decided = decided_names(result.points)
        fairness = search_fairness(result.identification, decided, min_subjects=stats.min_group_subjects)
        tests = (search_group_tests(result.identification, decided, min_subjects=stats.min_group_subjects,
                                    seed=stats.seed)
                 if groups.names else None)
        threshold_of = {p.name: float(p.threshold) for p in result.points}
        thresholds = {name: threshold_of[name] for name in decided}
        counts = {"n_pairs": 0, "n_mated": int(result.split.record.get("n_mated_probes", 0)),
                  "n_nonmated": int(result.split.record.get("n_nonmated_probes", 0))}
        tables = {
            **identification_tables(result),
            "failure_to_enrol.csv": fte,
            "failures.csv": failures,
            "fairness.csv": fairness,
            **({"group_tests.csv": tests} if tests is not None else {}),
        }
        return StudyResult(
            kind=self.kind, per_group=result.identification, thresholds=thresholds, fairness=fairness,
            group_tests=tests, failure_to_enrol=fte, failures=failures, scores=result.table.searches,
            pair_counts=counts, tables=tables, documents={"identification.json": result.record()},
            write_files=lambda out_dir: _write_plots(result, out_dir),
            report=lambda manifest, figures: _report(inputs, result, fte, fairness, tests),
            manifest_extra={"identification": {**result.split.record, **result.info}},
        )


def _write_plots(result: IdentificationResult, out_dir: Path) -> Figures:
    write_identification_plots(result, out_dir)
    # every plot in the folder: the run cleared plots/ before writing
    plots = sorted(p for p in (out_dir / "plots").glob("*") if p.is_file())
    return Figures(recorded=plots)


def _report(inputs: StudyInputs, result: IdentificationResult, fte: pd.DataFrame, fairness: pd.DataFrame,
            tests: pd.DataFrame | None) -> str:
    config, dataset, images = inputs.config, inputs.dataset, inputs.images
    m = config.model
    lines: list[Any] = [
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
        *(fairness_report_lines(fairness, tests) if inputs.groups.names else []),
        "## Failure to enrol", "",
        md_table(fte) if len(fte) else "Every image was embedded.", "",
        "## Caveats", "",
        *[f"- {c}" for c in [*dataset.caveats, *TOOL_CAVEATS[:1]]],
    ]
    return "\n".join(lines) + "\n"
