"""Plots of the identification measures, with matplotlib's object-oriented API (no pyplot state,
no backend switch: ``Figure`` renders to PNG through its own Agg canvas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from frbench.io.figures import save_png


def plot_cmc(cmc: pd.DataFrame, attribute: str, path: Path) -> None:
    """CMC (share of mated searches with the mate within rank R) per group of one attribute, with
    Clopper-Pearson bands; ``cmc`` as from :func:`frbench.search.measures.cmc`."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    part = cmc[cmc["attribute"].isin([attribute, "all"])]
    for group, rows in part.groupby("group", sort=True):
        label = f"{group} (n={int(rows['n_mated'].iloc[0])})"
        line = ax.plot(rows["rank"], rows["cmc"], lw=1.5, label=label, ls="--" if group == "all" else "-")[0]
        ax.fill_between(rows["rank"], rows["cmc_ci_low"], rows["cmc_ci_high"], color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("rank R")
    ax.set_ylabel("CMC(R) = 1 - FNIR(N, R, no threshold)")
    ax.set_title(f"identification rate by {attribute}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, path)


def plot_gallery_size(summary: pd.DataFrame, attribute: str, threshold_name: str, path: Path) -> None:
    """FPIR at the full gallery's T (with the 1:1 prediction dashed) and FNIR at T re-set per size,
    against gallery size, per group; ``summary`` from :func:`frbench.search.sweeps.gallery_size_summary`."""
    fig = Figure(figsize=(11, 4.5))
    ax_fp, ax_fn = fig.subplots(1, 2)
    part = summary[summary["attribute"].isin([attribute, "all"]) & (summary["threshold_name"] == threshold_name)]
    for group, rows in part.groupby("group", sort=True):
        fixed = rows[rows["threshold_mode"] == "fixed"].sort_values("n_gallery")
        reset = rows[rows["threshold_mode"] == "reset"].sort_values("n_gallery")
        line = ax_fp.plot(fixed["n_gallery"], fixed["fpir"], marker="o", ms=3, lw=1.4, label=str(group))[0]
        ax_fp.fill_between(fixed["n_gallery"], fixed["fpir_min"], fixed["fpir_max"], color=line.get_color(), alpha=0.12, lw=0)
        ax_fp.plot(fixed["n_gallery"], fixed["predicted_fpir"], ls="--", lw=1, color=line.get_color())
        ax_fn.plot(reset["n_gallery"], reset["fnir"], marker="o", ms=3, lw=1.4, color=line.get_color(), label=str(group))
    for ax in (ax_fp, ax_fn):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("enrolled subjects N")
        ax.grid(True, which="both", alpha=0.3)
    ax_fp.set_ylabel(f"FPIR at the full gallery's T ({threshold_name})")
    ax_fp.set_title("FPIR grows with N (dashed: 1 - (1 - FMR(T))^N)", fontsize=9)
    ax_fn.set_ylabel(f"FNIR with T re-set to {threshold_name}")
    ax_fn.set_title("holding FPIR, FNIR grows with N", fontsize=9)
    ax_fp.legend(fontsize=8)
    save_png(fig, path)


def plot_candidate_groups(table: pd.DataFrame, attribute: str, selection: str, path: Path) -> None:
    """Heatmap of false candidates' groups per probe group: colour log2(observed / expected under
    independence), cells annotated with counts; ``table`` from
    :func:`frbench.search.measures.candidate_groups`."""
    part = table[(table["attribute"] == attribute) & (table["selection"] == selection)]
    probe_groups = sorted(part["probe_group"].unique())
    cand_groups = sorted(part["candidate_group"].unique())
    ratio = part.pivot(index="probe_group", columns="candidate_group", values="ratio").reindex(index=probe_groups, columns=cand_groups)
    counts = part.pivot(index="probe_group", columns="candidate_group", values="n_candidates").reindex(index=probe_groups, columns=cand_groups)
    values = ratio.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.where(values > 0, np.log2(np.where(values > 0, values, 1.0)), np.nan)
    span = np.nanmax(np.abs(logged)) if np.isfinite(logged).any() else 1.0
    span = max(float(span), 0.1)
    fig = Figure(figsize=(1.1 * len(cand_groups) + 3, 0.8 * len(probe_groups) + 2))
    ax = fig.add_subplot()
    image = ax.imshow(logged, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -span, span), aspect="auto")
    for i in range(len(probe_groups)):
        for j in range(len(cand_groups)):
            n = counts.iat[i, j]
            dark = np.isfinite(logged[i, j]) and abs(logged[i, j]) > 0.6 * span
            ax.text(j, i, "" if pd.isna(n) else f"{int(n)}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(len(cand_groups)), cand_groups, rotation=45, ha="right")
    ax.set_yticks(range(len(probe_groups)), probe_groups)
    ax.set_xlabel("group of the false candidate")
    ax.set_ylabel("group of the non-mated probe")
    ax.set_title(f"false candidates by {attribute} ({selection})", fontsize=10)
    fig.colorbar(image, ax=ax, label="log2(observed / expected from gallery make-up)")
    save_png(fig, path)
