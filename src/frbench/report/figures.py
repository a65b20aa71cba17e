"""A run's curve tables as CSV points and PNG plots, written into the run directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from frbench.groups import ALL
from frbench.measure.result import Measures
from frbench.measure.thresholds import primary_threshold
from frbench.report.files import write_csv
from frbench.metrics.power import MIN_DET_PAIRS
from frbench.report.plots import plot_cross_group, plot_det, plot_group_rates, plot_score_distributions


def write_figures(out_dir: Path, names: Sequence[str], measures: Measures) -> dict[str, list[str]]:
    """Write det_points.csv, cross_group_fmr.csv (and score_distributions.csv) with plots/*.png.

    One DET and score plot per reported attribute name; without any, one of all comparisons.
    Returns the written plot paths (relative to ``out_dir``) by kind, for the report to embed.
    """
    det, cross, hist, thresholds = measures.det, measures.cross_group, measures.histograms, measures.thresholds
    plots_dir = out_dir / "plots"
    written: dict[str, list[str]] = {"rates": [], "det": [], "scores": [], "cross_group": []}
    primary = primary_threshold(thresholds, measures.threshold_table)
    per_group = measures.per_group
    first = per_group[per_group["threshold_name"] == per_group["threshold_name"].iloc[0]]
    for name in names or [ALL]:
        slug = name.replace("+", "_x_")
        part = first[first["attribute"].isin([name, ALL])]
        sizes = {("all" if r.attribute == ALL else r.group): (int(r.n_mated), int(r.n_nonmated)) for r in part.itertuples()}
        if primary is not None and name != ALL:
            at = per_group[(per_group["threshold_name"] == primary) & per_group["attribute"].isin([name, ALL])]
            plot_group_rates(at, name, primary, plots_dir / f"rates_{slug}.png")
            written["rates"].append(f"plots/rates_{slug}.png")
        if len(det):
            plot_det(det[det["attribute"].isin([name, ALL])], name, plots_dir / f"det_{slug}.png", sizes, MIN_DET_PAIRS)
            written["det"].append(f"plots/det_{slug}.png")
        if hist is not None:
            plot_score_distributions(hist[hist["attribute"] == name], name, plots_dir / f"scores_{slug}.png", thresholds)
            written["scores"].append(f"plots/scores_{slug}.png")
        if primary is not None and name != ALL:
            part = cross[(cross["attribute"] == name) & (cross["threshold_name"] == primary)]
            plot_cross_group(part, name, primary, plots_dir / f"cross_group_fmr_{slug}.png")
            written["cross_group"].append(f"plots/cross_group_fmr_{slug}.png")
    write_csv(out_dir / "det_points.csv", det)
    write_csv(out_dir / "cross_group_fmr.csv", cross)
    if hist is not None:
        write_csv(out_dir / "score_distributions.csv", hist)
    return written
