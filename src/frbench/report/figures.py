"""Curves and matrices of a run as CSV points and PNG plots, written into the run directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from frbench.metrics.curves import cross_group_fmr, det_points, score_histograms
from frbench.metrics.grouped import ALL, attribute_names, group_labels
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


def pair_figure_tables(
    pairs: pd.DataFrame, names: Sequence[str], thresholds: dict[str, float], level: float = 0.95
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """DET points, score histograms and the cross-group FMR matrix of listed, scored pairs.

    Without groups (``names`` empty) the DET points and histograms are those of all pairs, and the
    cross-group matrix is empty.
    """
    if not names:
        # score_histograms' first unit and det_by_group's first curve are the all/all ones.
        whole = pairs.assign(all_a=ALL, all_b=ALL)
        det = det_by_group(whole, ALL).drop_duplicates(subset=["threshold"], ignore_index=True)
        hist = score_histograms(whole, ALL).drop_duplicates(subset=["mated", "bin_low"], ignore_index=True)
        columns = ["attribute", "threshold_name", "threshold", "g_a", "g_b", "n_nonmated", "n_fm", "fmr", "fmr_ci_low", "fmr_ci_high"]
        return det, hist, pd.DataFrame(columns=columns)
    dets, hists, crosses = [], [], []
    for name in names:
        dets.append(det_by_group(pairs, name))
        hists.append(score_histograms(pairs, name))
        for tname, value in thresholds.items():
            cross = cross_group_fmr(pairs, name, value, level)
            cross.insert(0, "threshold", value)
            cross.insert(0, "threshold_name", tname)
            cross.insert(0, "attribute", name)
            crosses.append(cross)
    hist = pd.concat(hists, ignore_index=True)
    # score_histograms repeats the all/all rows for every attribute; keep them once.
    is_all = hist["attribute"] == "all"
    hist = pd.concat([hist[is_all].drop_duplicates(subset=["mated", "bin_low"]), hist[~is_all]], ignore_index=True)
    return pd.concat(dets, ignore_index=True), hist, pd.concat(crosses, ignore_index=True)


def write_figures(
    out_dir: Path,
    names: Sequence[str],
    thresholds: dict[str, float],
    det: pd.DataFrame,
    cross: pd.DataFrame,
    hist: pd.DataFrame | None = None,
) -> dict[str, list[str]]:
    """Write det_points.csv, cross_group_fmr.csv (and score_distributions.csv) with plots/*.png.

    Returns the written plot paths (relative to ``out_dir``) by kind, for the report to embed.
    """
    plots_dir = out_dir / "plots"
    written: dict[str, list[str]] = {"det": [], "scores": [], "cross_group": []}
    primary = primary_threshold(thresholds)
    # Without groups, the plots of the whole population (there is no cross-group matrix).
    for name in names or [ALL]:
        slug = name.replace("+", "_x_")
        plot_det(det[det["attribute"].isin([name, "all"])], name, plots_dir / f"det_{slug}.png")
        written["det"].append(f"plots/det_{slug}.png")
        if hist is not None:
            plot_score_distributions(hist[hist["attribute"] == name], name, plots_dir / f"scores_{slug}.png", thresholds)
            written["scores"].append(f"plots/scores_{slug}.png")
        if primary is not None and names:
            part = cross[(cross["attribute"] == name) & (cross["threshold_name"] == primary)]
            plot_cross_group(part, name, primary, plots_dir / f"cross_group_fmr_{slug}.png")
            written["cross_group"].append(f"plots/cross_group_fmr_{slug}.png")
    write_csv(out_dir / "det_points.csv", det)
    write_csv(out_dir / "cross_group_fmr.csv", cross)
    if hist is not None:
        write_csv(out_dir / "score_distributions.csv", hist)
    return written


def primary_threshold(thresholds: dict[str, float]) -> str | None:
    """The threshold the headline plots use: the strictest target-FMR one, else the first."""
    targets = [n for n in thresholds if n.startswith("fmr=")]
    if targets:
        return min(targets, key=lambda n: float(n.removeprefix("fmr=")))
    return next(iter(thresholds), None)


__all__ = ["attribute_names", "det_by_group", "pair_figure_tables", "primary_threshold", "write_figures"]
