"""Curves and matrices of a run as CSV points and PNG plots, written into the run directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from frbench.metrics.curves import cross_group_fmr, det_points, score_histograms
from frbench.metrics.grouped import attribute_names, group_labels
from frbench.report.files import write_csv
from frbench.report.plots import plot_cross_group, plot_det, plot_score_distributions


def det_by_group(pairs: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """DET points of every group of ``attribute`` (pairs with both sides in the group) and of all pairs.

    A group with only mated or only non-mated scored pairs has no curve and is left out.
    """
    score = pairs["score"].to_numpy(dtype=float)
    mated = pairs["mated"].to_numpy(dtype=bool)
    ok = pairs["ok"].to_numpy(dtype=bool)
    la, lb = group_labels(pairs, attribute)
    units = [("all", ok)] + [(g, ok & (la == g) & (lb == g)) for g in sorted(set(la[ok]) & set(lb[ok]))]
    parts = []
    for group, mask in units:
        if mated[mask].any() and (~mated[mask]).any():
            points = det_points(score[mask], mated[mask])
            points.insert(0, "group", group)
            points.insert(0, "attribute", attribute)
            parts.append(points)
    return pd.concat(parts, ignore_index=True)


def write_figures(
    out_dir: Path,
    pairs: pd.DataFrame,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]],
    thresholds: dict[str, float],
    level: float = 0.95,
) -> dict[str, list[str]]:
    """Write det_points.csv, score_distributions.csv, cross_group_fmr.csv and plots/*.png.

    Returns the written plot paths (relative to ``out_dir``) by kind, for the report to embed.
    """
    names = attribute_names(attributes, intersections)
    plots_dir = out_dir / "plots"
    written: dict[str, list[str]] = {"det": [], "scores": [], "cross_group": []}
    dets, hists, crosses = [], [], []
    for name in names:
        slug = name.replace("+", "_x_")
        det = det_by_group(pairs, name)
        dets.append(det)
        plot_det(det, name, plots_dir / f"det_{slug}.png")
        written["det"].append(f"plots/det_{slug}.png")

        hist = score_histograms(pairs, name)
        hists.append(hist)
        plot_score_distributions(hist[hist["attribute"] == name], name, plots_dir / f"scores_{slug}.png", thresholds)
        written["scores"].append(f"plots/scores_{slug}.png")

        for tname, value in thresholds.items():
            cross = cross_group_fmr(pairs, name, value, level)
            cross.insert(0, "threshold", value)
            cross.insert(0, "threshold_name", tname)
            cross.insert(0, "attribute", name)
            crosses.append(cross)
        primary = primary_threshold(thresholds)
        if primary is not None:
            last = crosses[-len(thresholds):][list(thresholds).index(primary)]
            plot_cross_group(last, name, primary, plots_dir / f"cross_group_fmr_{slug}.png")
            written["cross_group"].append(f"plots/cross_group_fmr_{slug}.png")
    write_csv(out_dir / "det_points.csv", pd.concat(dets, ignore_index=True))
    write_csv(out_dir / "score_distributions.csv", _dedupe_all(pd.concat(hists, ignore_index=True)))
    write_csv(out_dir / "cross_group_fmr.csv", pd.concat(crosses, ignore_index=True))
    return written


def primary_threshold(thresholds: dict[str, float]) -> str | None:
    """The threshold the headline plots use: the strictest target-FMR one, else the first."""
    targets = [n for n in thresholds if n.startswith("fmr=")]
    if targets:
        return min(targets, key=lambda n: float(n.removeprefix("fmr=")))
    return next(iter(thresholds), None)


def _dedupe_all(hists: pd.DataFrame) -> pd.DataFrame:
    # score_histograms repeats the all/all rows for every attribute; keep them once.
    is_all = hists["attribute"] == "all"
    first_all = hists[is_all].drop_duplicates(subset=["mated", "bin_low"])
    return pd.concat([first_all, hists[~is_all]], ignore_index=True) if is_all.any() else hists

