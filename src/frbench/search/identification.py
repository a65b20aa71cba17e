"""One identification (1:N) measurement end to end, for a run to call.

:func:`measure_identification` takes what a run already has (the ImageTable, one embedding per
image from the cache, each image's status, the grouping attributes) and returns every table of
the 1:N protocol: the split, the searches and candidate lists, counts and rates per operating
point x attribute x group, CMC, the candidate-group table and the two sweeps.
:func:`write_identification` writes them (``identification.csv``, ``searches.csv``, ...).
It does no embedding and reads no config: ``IdentificationParams`` carries the settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from frbench.groups import Groups
from frbench.io.atomic import write_json
from frbench.io.spreadsheet import write_csv
from frbench.metrics.group_rules import SEARCH_RATES
from frbench.metrics.power import MIN_GROUP_SUBJECTS
from frbench.search.measures import (
    DEFAULT_RANKS,
    OperatingPoint,
    SearchTable,
    bootstrap_rates,
    candidate_groups,
    cmc,
    identification_points,
    investigative_points,
    rates_from_counts,
    search_counts,
)
from frbench.search.protocol import (
    IdentificationSplit,
    split_from_files,
    split_identification,
)
from frbench.search.sweeps import (
    SearchInputs,
    composition_sweep,
    gallery_size_summary,
    gallery_size_sweep,
    gallery_sizes,
    search_subset,
)
from frbench.search.topk import SearchResult, resolve_kernel, search
from frbench.tables import OK


@dataclass(frozen=True)
class CompositionParams:
    """Over-represent ``group`` of ``attribute`` in the gallery at each of ``shares``."""

    attribute: str
    group: str
    shares: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
    size: int | None = None
    repeats: int = 5


@dataclass(frozen=True)
class IdentificationParams:
    """Settings of the identification protocol (a config section maps onto these fields)."""

    gallery_images_per_subject: int = 1
    enrolled_fraction: float = 0.5
    few_image_subjects: Literal["distractors", "nonmated", "unused"] = "distractors"
    max_probes_per_subject: int | None = None
    seed: int = 0
    gallery_file: Path | None = None
    probes_file: Path | None = None
    candidates: int = 50
    ranks: tuple[int, ...] = DEFAULT_RANKS
    target_fpir: tuple[float, ...] = (1e-1, 1e-2, 3e-3)
    kernel: Literal["auto", "numpy", "faiss"] = "auto"
    block_mb: int = 64
    level: float = 0.95
    bootstrap: int = 0
    gallery_size_steps: int = 6
    gallery_size_smallest: int = 100
    gallery_size_repeats: int = 5
    composition: CompositionParams | None = None
    # gallery sizes for the model-based FPIR (search.fpir_validation); None: no prediction
    fpir_prediction_sizes: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"candidates (L) must be >= 1, got {self.candidates}")
        bad = [r for r in self.ranks if not 1 <= r <= self.candidates]
        if bad:
            raise ValueError(f"ranks must be in 1..candidates ({self.candidates}), got {bad}")
        bad = [t for t in self.target_fpir if not 0.0 < t < 1.0]
        if bad:
            raise ValueError(f"target_fpir values must be in (0, 1), got {bad}")
        if (self.gallery_file is None) != (self.probes_file is None):
            raise ValueError("gallery_file and probes_file go together")
        if self.block_mb < 1 or self.bootstrap < 0 or self.gallery_size_steps < 0 or self.gallery_size_repeats < 1:
            raise ValueError("block_mb >= 1, bootstrap >= 0, gallery_size_steps >= 0 and gallery_size_repeats >= 1 are required")
        resolve_kernel(self.kernel)


@dataclass
class IdentificationResult:
    """The tables of one identification measurement (see :func:`write_identification`)."""

    split: IdentificationSplit
    table: SearchTable
    points: list[OperatingPoint]
    identification: pd.DataFrame
    cmc: pd.DataFrame
    candidate_groups: pd.DataFrame
    gallery_size: pd.DataFrame | None
    composition: pd.DataFrame | None
    info: dict[str, Any] = field(default_factory=dict)
    fpir_check: pd.DataFrame | None = None
    fpir_prediction: pd.DataFrame | None = None

    def record(self) -> dict[str, Any]:
        """JSON-ready summary for the run manifest: the split, thresholds, search settings, timings."""
        return {
            "split": self.split.record,
            "thresholds": [
                {"name": p.name, "rank": p.rank, "threshold": p.threshold, "target_fpir": p.target_fpir}
                for p in self.points
            ],
            **self.info,
        }

    def searches_csv(self) -> pd.DataFrame:
        """``searches.csv``: one row per search (probe, subject, mated, attributes, mate, top candidate)."""
        return self.table.searches


def _attach(frame: pd.DataFrame, images: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    extra = images[["image_id", *[c for c in columns if c in images.columns and c not in frame.columns]]]
    return frame.merge(extra, on="image_id", how="left", validate="one_to_one")


def measure_identification(
    images: pd.DataFrame,
    embeddings: np.ndarray,
    status: pd.Series,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    params: IdentificationParams = IdentificationParams(),
    searcher: Callable[..., SearchResult] = search,
) -> IdentificationResult:
    """Split, search and measure one dataset's identification performance per group.

    Parameters
    ----------
    images : ImageTable (``image_id``, ``subject_id`` and the attribute columns).
    embeddings : array (n_images, d), row i the embedding of ``images`` row i (NaN for failures).
    status : Series indexed by image_id, ``ok`` or a failure reason (rows not ``ok`` are failures
        whatever the matrix holds).
    attributes, intersections : grouping, as for the 1:1 tables.
    params : IdentificationParams.
    searcher : the search function (:func:`frbench.search.topk.search`, or
        :func:`frbench.search.sharded.sharded_search` bound to a Dask client); same results.
    """
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2 or matrix.shape[0] != len(images):
        raise ValueError(f"embeddings must have one row per image ({len(images)}), got shape {matrix.shape}")
    st = status.reindex(images["image_id"].to_numpy())
    if st.isna().any():
        raise ValueError(f"status has no entry for {int(st.isna().sum())} image(s), first {st.index[st.isna()][0]!r}")
    names = Groups.of(attributes, intersections).names
    columns = sorted({part for name in names for part in name.split("+")})
    if params.gallery_file is not None:
        split = split_from_files(images, params.gallery_file, params.probes_file)
    else:
        split = split_identification(
            images, params.gallery_images_per_subject, params.enrolled_fraction, params.few_image_subjects,
            params.max_probes_per_subject, params.seed,
        )
    pos = pd.Index(images["image_id"])
    usable = (st.to_numpy() == OK)
    gallery = _attach(split.gallery, images, columns)
    probes = _attach(split.probes, images, columns)
    g_pos, p_pos = pos.get_indexer(gallery["image_id"]), pos.get_indexer(probes["image_id"])
    g_matrix = matrix[g_pos].astype(np.float32)
    p_matrix = matrix[p_pos].astype(np.float32)
    g_matrix[~usable[g_pos]] = np.nan
    p_matrix[~usable[p_pos]] = np.nan
    gallery["ok"] = usable[g_pos] & np.isfinite(g_matrix).all(axis=1)
    probe_ok = usable[p_pos] & np.isfinite(p_matrix).all(axis=1)
    inputs = SearchInputs(
        probes=probes, probe_matrix=p_matrix, probe_ok=probe_ok, gallery=gallery, gallery_matrix=g_matrix,
        length=params.candidates, kernel=params.kernel, block_bytes=params.block_mb << 20, searcher=searcher,
    )

    t0 = time.perf_counter()
    table = search_subset(inputs, None)
    search_s = time.perf_counter() - t0
    id_points = identification_points(table, params.target_fpir)
    points = investigative_points(params.ranks, params.candidates) + id_points
    counts = search_counts(table, points, attributes, intersections)
    rates = rates_from_counts(counts, params.level, points=points)
    if params.bootstrap:
        boot = bootstrap_rates(table, points, attributes, intersections, params.bootstrap, params.seed, params.level)
        rates = pd.concat([rates, boot], axis=1)
    curves = cmc(table, attributes, intersections, params.level)
    groups = candidate_groups(table, gallery, attributes, intersections, id_points)

    t1 = time.perf_counter()
    size_sweep = None
    if params.gallery_size_steps:
        n_full = int(gallery["subject_id"].nunique())
        sizes = gallery_sizes(n_full, params.gallery_size_smallest, params.gallery_size_steps)
        size_sweep = gallery_size_sweep(
            inputs, id_points, params.target_fpir, attributes, intersections, sizes, params.gallery_size_repeats, params.seed
        )
    comp = None
    if params.composition is not None:
        c = params.composition
        comp = composition_sweep(inputs, id_points, params.target_fpir, c.attribute, c.group, c.shares, c.size, c.repeats, params.seed)
    fpir_check = fpir_prediction = None
    prediction_s = 0.0
    if params.fpir_prediction_sizes:
        from frbench.search.fpir_validation import large_n, run_cells, validate_sweeps

        t2 = time.perf_counter()
        in_split = pos.get_indexer(pd.concat([gallery["image_id"], probes["image_id"]]).unique())
        rows = np.zeros(len(images), dtype=bool)
        rows[in_split] = True
        rows &= usable & np.isfinite(matrix).all(axis=1)
        thresholds = {p.name: float(p.threshold) for p in id_points}
        cells = run_cells(images, matrix, rows, names, thresholds)
        comp_attr = params.composition.attribute if params.composition is not None else None
        comp_group = params.composition.group if params.composition is not None else None
        fpir_check = validate_sweeps(cells, gallery[gallery["ok"]], names, size_sweep, comp, comp_attr, comp_group,
                                     params.level)
        fpir_prediction = large_n(cells, gallery[gallery["ok"]], names, params.fpir_prediction_sizes, params.level)
        prediction_s = time.perf_counter() - t2
        t1 += prediction_s  # sweep_seconds stays the sweeps' own
    info = {
        "kernel": resolve_kernel(params.kernel),
        "candidates": params.candidates,
        "n_gallery_subjects": int(gallery.loc[gallery["ok"], "subject_id"].nunique()),
        "n_gallery_templates_failed": int((~gallery["ok"]).sum()),
        "n_searches": len(table.searches),
        "n_failed_searches": int((~probe_ok).sum()),
        "search_seconds": round(search_s, 3),
        "sweep_seconds": round(time.perf_counter() - t1, 3),
        "fpir_prediction_seconds": round(prediction_s, 3),
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(params).items()},
    }
    return IdentificationResult(
        split=split, table=table, points=points, identification=rates, cmc=curves, candidate_groups=groups,
        gallery_size=size_sweep, composition=comp, info=info, fpir_check=fpir_check, fpir_prediction=fpir_prediction,
    )


def identification_tables(result: IdentificationResult) -> dict[str, pd.DataFrame]:
    """The CSV files of ``result`` by name, in writing order (see :func:`write_identification`)."""
    cands = result.table.candidates.rename(columns={"probe_id": "probe", "candidate_id": "candidate"})
    tables: dict[str, pd.DataFrame | None] = {
        "identification.csv": result.identification,
        "searches.csv": result.searches_csv(),
        "candidates.csv": cands[["probe", "candidate", "score", "rank"]],
        "cmc.csv": result.cmc,
        "candidate_groups.csv": result.candidate_groups,
        "gallery_size.csv": result.gallery_size,
        "composition.csv": result.composition,
        "fpir_prediction_check.csv": result.fpir_check,
        "fpir_prediction.csv": result.fpir_prediction,
        "gallery.csv": result.split.gallery,
        "probes.csv": result.split.probes,
    }
    return {name: frame for name, frame in tables.items() if frame is not None}


def write_identification_plots(result: IdentificationResult, out_dir: Path) -> list[Path]:
    """plots/: CMC, candidate groups and gallery-size curves per attribute; returns the paths written."""
    from frbench.search import plots as p

    written = []
    attrs = [a for a in result.cmc["attribute"].unique() if a != "all"]
    names = decided_names(result.points)
    for attr in attrs:
        p.plot_cmc(result.cmc, attr, out_dir / "plots" / f"cmc_{attr}.png")
        written.append(out_dir / "plots" / f"cmc_{attr}.png")
        for sel in ["rank=1", *names[1:2]]:
            path = out_dir / "plots" / f"candidate_groups_{attr}_{sel.replace('=', '_')}.png"
            p.plot_candidate_groups(result.candidate_groups, attr, sel, path)
            written.append(path)
        if result.gallery_size is not None and names:
            path = out_dir / "plots" / f"gallery_size_{attr}.png"
            p.plot_gallery_size(gallery_size_summary(result.gallery_size), attr, names[min(1, len(names) - 1)], path)
            written.append(path)
    return written


def write_identification(result: IdentificationResult, out_dir: Path, plots: bool = True) -> list[Path]:
    """Write the tables (and plots) of ``result`` into ``out_dir``; returns the paths written.

    ``identification.csv`` (tidy rates), ``searches.csv``, ``candidates.csv`` (the candidate
    lists, in the importable format of :mod:`frbench.search.imported`), ``cmc.csv``,
    ``candidate_groups.csv``, ``gallery_size.csv``, ``composition.csv``, ``gallery.csv`` and
    ``probes.csv`` (the split, reusable as ``gallery_file``/``probes_file``),
    ``identification.json`` and ``plots/``.
    """
    out_dir = Path(out_dir)
    written = []
    for name, frame in identification_tables(result).items():
        write_csv(out_dir / name, frame)
        written.append(out_dir / name)
    write_json(out_dir / "identification.json", result.record())
    written.append(out_dir / "identification.json")
    if plots:
        written += write_identification_plots(result, out_dir)
    return written


# The exact test treats every search as an independent trial; probes of one subject are not.
SEARCH_TEST_NOTE = "exact test only: each search counted as an independent trial (no clustered test for searches)"


def decided_names(points: Sequence[OperatingPoint]) -> list[str]:
    """The names of the points set at a target FPIR, in order (the thresholds of a search run)."""
    return [p.name for p in points if p.target_fpir is not None]


def _decided_rows(rates: pd.DataFrame, decided: Sequence[str]) -> pd.DataFrame:
    """The rows of thresholds set at a target FPIR: a threshold decides both FNIR and FPIR there (at
    ``rank=R`` FPIR is 1 by construction, so no differential of it exists)."""
    return rates[rates["threshold_name"].isin(list(decided))].reset_index(drop=True)


def search_fairness(rates: pd.DataFrame, decided: Sequence[str], min_subjects: int = MIN_GROUP_SUBJECTS) -> pd.DataFrame:
    """fairness.csv of a search run: the 1:1 summaries (:func:`frbench.metrics.fairness.fairness_summary`)
    of FNIR and FPIR per probe group, at the thresholds named in ``decided`` (those set at a target FPIR:
    :func:`decided_names`).

    The summaries are the 1:1 code's on the search counts (:func:`~frbench.search.measures.search_counts`)
    with the search rates (:data:`~frbench.metrics.group_rules.SEARCH_RATES`): ``fnir_max_min_ratio``,
    ``fpir_ratio``, ...; FDR, IR, GARBE and the balanced error ratio keep their names, their
    definitions say FPIR and FNIR.
    """
    from frbench.metrics.fairness import fairness_summary

    rows = _decided_rows(rates, decided)
    keep = ["threshold_name", "attribute", "group", "n_subjects", "n_mated", "n_fnm", "n_nonmated", "n_fm", "fnir", "fpir"]
    table = fairness_summary(rows[keep], min_subjects=min_subjects, rates=SEARCH_RATES)
    table["definition"] = table["definition"] + "; over searches of each probe group"
    return table


def search_group_tests(rates: pd.DataFrame, decided: Sequence[str], min_subjects: int = MIN_GROUP_SUBJECTS, seed: int = 0) -> pd.DataFrame:
    """group_tests.csv of a search run: the exact test of equal FNIR and of equal FPIR across probe
    groups (:func:`frbench.metrics.group_tests.exact_tests_from_counts` on the search counts, rates
    named ``fnir``/``fpir``), at the thresholds named in ``decided``, Holm-corrected over the table."""
    from frbench.metrics.group_tests import exact_tests_from_counts

    rows = _decided_rows(rates, decided)
    counts = rows[["threshold_name", "threshold", "attribute", "group", "n_subjects", "n_mated", "n_fnm", "n_nonmated",
                   "n_fm"]]
    table = exact_tests_from_counts(counts, min_subjects=min_subjects, seed=seed, rates=SEARCH_RATES)
    table["note"] = np.where(table["n_groups"] >= 2, SEARCH_TEST_NOTE, table["note"])
    return table


def fairness_report_lines(fairness: pd.DataFrame, tests: pd.DataFrame | None) -> list[str]:
    """report.md's short section on differences between probe groups: per ``fpir=`` threshold and
    attribute, the max/min ratios of FNIR and FPIR and the exact tests' Holm-adjusted p-values."""
    lines = [
        "### Differences between probe groups", "",
        "The 1:1 summaries and tests, on searches: FNIR and FPIR per probe group at each threshold set at a target "
        "FPIR (fairness.csv: max/min, max/geometric mean, Fairlearn's difference and ratio, FDR, IR, GARBE; "
        "group_tests.csv: exact test of equal rates, Holm-corrected, each search an independent trial). A ratio "
        "resting on fewer than 3 errors is not estimable.", "",
    ]
    ratios = fairness[fairness["measure"].isin(["fnir_max_min_ratio", "fpir_max_min_ratio"])]
    if ratios.empty:
        return lines + ["No attribute with groups to compare.", ""]

    def shown(row: pd.Series) -> str:
        return f"{row['value']:.3g}" if row["status"] == "defined" else str(row["status"]).replace("_", " ")

    p_values = {}
    if tests is not None:
        for _, t in tests.iterrows():
            p = t["exact_p_holm"]
            p_values[(t["threshold_name"], t["attribute"], t["rate"])] = "-" if pd.isna(p) else f"{p:.3g}"
    lines += ["| threshold | attribute | FNIR max/min | FPIR max/min | p equal FNIR (Holm) | p equal FPIR (Holm) |",
              "|---|---|---|---|---|---|"]
    for (name, attribute), part in ratios.groupby(["threshold_name", "attribute"], sort=False):
        by = part.set_index("measure")
        cells = [str(name), str(attribute), shown(by.loc["fnir_max_min_ratio"]), shown(by.loc["fpir_max_min_ratio"]),
                 p_values.get((name, attribute, "fnir"), "-"), p_values.get((name, attribute, "fpir"), "-")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def report_section(result: IdentificationResult, target: str | None = None) -> str:
    """Markdown for ``report.md``: FNIR at rank 1 and FPIR/FNIR at one target FPIR per group."""
    rates = result.identification
    names = decided_names(result.points)
    target = target or (names[1] if len(names) > 1 else (names[0] if names else None))
    lines = [
        "## One-to-many search (identification)",
        "",
        (f"{result.info['n_searches']} searches ({result.split.record['n_mated_probes']} mated, "
        f"{result.split.record['n_nonmated_probes']} non-mated) against {result.info['n_gallery_subjects']} "
        f"enrolled subjects; candidate lists of {result.info['candidates']}. A search counts in its probe's group."),
        "",
        "| attribute | group | searches (mated / non-mated) | FNIR rank 1 [95% CI] | "
        + (f"FPIR at {target} [95% CI] | FNIR at {target} [95% CI] |" if target else ""),
        "|---|---|---|---|" + ("---|---|" if target else ""),
    ]
    r1 = rates[rates["threshold_name"] == "rank=1"].set_index(["attribute", "group"])
    at = rates[rates["threshold_name"] == target].set_index(["attribute", "group"]) if target else None
    for key, row in r1.iterrows():
        cells = [
            key[0], key[1], f"{int(row['n_mated'])} / {int(row['n_nonmated'])}",
            f"{row['fnir']:.4f} [{row['fnir_ci_low']:.4f}, {row['fnir_ci_high']:.4f}]",
        ]
        if at is not None:
            a = at.loc[key]
            flag = " (underpowered)" if a["underpowered"] else ""
            cells.append(f"{a['fpir']:.4f} [{a['fpir_ci_low']:.4f}, {a['fpir_ci_high']:.4f}]{flag}")
            cells.append(f"{a['fnir']:.4f} [{a['fnir_ci_low']:.4f}, {a['fnir_ci_high']:.4f}]")
        lines.append("| " + " | ".join(cells) + " |")
    if result.fpir_check is not None:
        lines += ["", *fpir_report_lines(result.fpir_check, result.fpir_prediction)]
    return "\n".join(lines) + "\n"


def fpir_report_lines(check: pd.DataFrame, prediction: pd.DataFrame | None) -> list[str]:
    """The report's model-based FPIR: its check against the measured sweeps, then at large N."""
    lines = [
        "### Model-based FPIR per searcher group (predicted, not measured)", "",
        "FPIR_g(N, T) = 1 - prod_h (1 - FMR_gh(T))^(N pi_h) (NIST IR 8429 Annex B), from the cross-group FMR of every "
        "non-mated pair among the split's images at the run's thresholds and the gallery's make-up pi; intervals are "
        "joint Clopper-Pearson bounds of the cells. Checked first against the measured sweeps (fixed thresholds, "
        "mean over repeats), where both resolve (model: every cell at least 30 false matches; measured: at least 30 "
        "false-positive searches over the repeats): fpir_prediction_check.csv.", "",
    ]
    ok = check.dropna(subset=["abs_log10_model_over_measured"])
    if ok.empty:
        lines.append("No sweep row where both the model and the measurement resolve.")
    else:
        summary = ok.groupby(["sweep", "attribute", "group"], sort=False)["abs_log10_model_over_measured"].agg(
            ["size", "median", "max"]).reset_index()
        lines += ["| sweep | attribute | searcher group | rows compared | median abs log10(model/measured) | max |",
                  "|---|---|---|---:|---:|---:|"]
        for _, r in summary.iterrows():
            lines.append(f"| {r['sweep']} | {r['attribute']} | {r['group']} | {r['size']} | {r['median']:.3f} | {r['max']:.3f} |")
    lines.append("")
    if prediction is not None and len(prediction):
        lines += ["Model-based FPIR and expected false candidates per search at large N (gallery make-up as measured; "
                  "rows marked not resolved rest on cells with fewer than 30 false matches: their upper bound holds, "
                  "their point value is not an estimate): fpir_prediction.csv.", "",
                  "| threshold | attribute | searcher group | N | model FPIR [joint 95% bounds] | model false candidates per search | resolved |",
                  "|---|---|---|---:|---|---:|---|"]
        for _, r in prediction.iterrows():
            lines.append(
                f"| {r['threshold_name']} | {r['attribute']} | {r['searcher_group']} | {r['n_gallery']:.0e} | "
                f"{r['model_fpir']:.3g} [{r['model_fpir_low']:.3g}, {r['model_fpir_high']:.3g}] | "
                f"{r['model_false_candidates']:.3g} | {'yes' if r['resolved'] else 'no'} |")
        lines.append("")
    return lines
