"""A run's curve tables as CSV points and PNG plots, written into the run directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from frbench.groups import ALL
from frbench.io.figures import save_png
from frbench.io.spreadsheet import write_csv
from frbench.measure.result import Measures
from frbench.measure.thresholds import primary_threshold
from frbench.metrics.power import MIN_DET_PAIRS
from frbench.report.plots import (
    cross_group_figure, det_figure, group_rates_figure, score_distributions_figure,
)


def build_figures(names: Sequence[str], measures: Measures) -> dict[str, dict[str, Figure]]:
    """A run's plots as matplotlib figures, by kind (rates, det, scores, cross_group) and file stem.

    One DET and score plot per reported attribute name; without any, one of all comparisons; group
    rates and the cross-group heatmap at the run's primary threshold.
    """
    det, cross, hist, thresholds = measures.det, measures.cross_group, measures.histograms, measures.thresholds
    figures: dict[str, dict[str, Figure]] = {"rates": {}, "det": {}, "scores": {}, "cross_group": {}}
    primary = primary_threshold(thresholds, measures.threshold_table)
    per_group = measures.per_group
    first = per_group[per_group["threshold_name"] == per_group["threshold_name"].iloc[0]]
    for name in names or [ALL]:
        slug = name.replace("+", "_x_")
        part = first[first["attribute"].isin([name, ALL])]
        sizes = {("all" if r.attribute == ALL else r.group): (int(r.n_mated), int(r.n_nonmated)) for r in part.itertuples()}
        if primary is not None and name != ALL:
            at = per_group[(per_group["threshold_name"] == primary) & per_group["attribute"].isin([name, ALL])]
            figures["rates"][f"rates_{slug}"] = group_rates_figure(at, name, primary)
        if len(det):
            figures["det"][f"det_{slug}"] = det_figure(det[det["attribute"].isin([name, ALL])], name, sizes, MIN_DET_PAIRS)
        if hist is not None:
            figures["scores"][f"scores_{slug}"] = score_distributions_figure(hist[hist["attribute"] == name], name,
                                                                             thresholds)
        if primary is not None and name != ALL:
            part = cross[(cross["attribute"] == name) & (cross["threshold_name"] == primary)]
            figures["cross_group"][f"cross_group_fmr_{slug}"] = cross_group_figure(part, name, primary)
    return figures


def write_figures(out_dir: Path, names: Sequence[str], measures: Measures) -> dict[str, list[str]]:
    """Write det_points.csv, cross_group_fmr.csv (and score_distributions.csv) with plots/*.png.

    The plots are :func:`build_figures`'; returns their paths (relative to ``out_dir``) by kind,
    for the report to embed.
    """
    written: dict[str, list[str]] = {}
    for kind, figures in build_figures(names, measures).items():
        written[kind] = []
        for stem, fig in figures.items():
            save_png(fig, out_dir / "plots" / f"{stem}.png")
            written[kind].append(f"plots/{stem}.png")
    write_csv(out_dir / "det_points.csv", measures.det)
    write_csv(out_dir / "cross_group_fmr.csv", measures.cross_group)
    if measures.histograms is not None:
        write_csv(out_dir / "score_distributions.csv", measures.histograms)
    return written
