"""FMR(T) and FNMR(T) per group with Clopper-Pearson bands, each target threshold marked (NIST
FRTE demographic report cards plot the same), beside the DET curves."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.io.figures import save_png
from frbench.metrics.power import MIN_DET_PAIRS
from frbench.report.plots import _figure


def informative_range(curves: pd.DataFrame, pad: float = 0.05) -> tuple[float, float]:
    """The thresholds where some group's FMR is below 1 or FNMR above 0 and the other way round: the
    range where the curves move (exhaustive histograms span every similarity, most of it flat)."""
    t = curves["threshold"].to_numpy(dtype=float)
    moving = ((curves["fmr"] < 1) & (curves["fmr"] > 0)) | ((curves["fnmr"] > 0) & (curves["fnmr"] < 1))
    if not moving.any():
        return float(np.nanmin(t)), float(np.nanmax(t))
    low, high = float(t[moving.to_numpy()].min()), float(t[moving.to_numpy()].max())
    span = (high - low) or 1.0
    return low - pad * span, high + pad * span


def plot_rates_against_threshold(
    curves: pd.DataFrame, attribute: str, path: Path, thresholds: Mapping[str, float], min_pairs: int = MIN_DET_PAIRS
) -> list[str]:
    """Two panels, FMR(T) (log scale) and FNMR(T), one line and shaded 95% band per group of ``attribute``.

    ``curves`` are rates_vs_threshold.csv rows of this attribute (:mod:`frbench.metrics.threshold_curves`).
    A group with fewer than ``min_pairs`` non-mated (FMR panel) or mated (FNMR panel) pairs is not
    drawn and is named in the legend. Vertical dotted lines mark ``thresholds``. Returns the
    legend texts of both panels.
    """
    fig, axes = _figure(1, 2, figsize=(11, 4.4))
    x_low, x_high = informative_range(curves)
    texts: list[str] = []
    for ax, rate, n_col, title in ((axes[0], "fmr", "n_nonmated", "FMR(T)"), (axes[1], "fnmr", "n_mated", "FNMR(T)")):
        omitted = []
        for i, (group, part) in enumerate(curves.groupby("group", sort=True)):
            n = int(part[n_col].iloc[0])
            if n < min_pairs:
                omitted.append(f"{group} ({n})")
                continue
            t = part["threshold"].to_numpy(dtype=float)
            y, low, high = (part[c].to_numpy(dtype=float) for c in (rate, f"{rate}_ci_low", f"{rate}_ci_high"))
            colour = "black" if group == "all" else f"C{i % 10}"
            ax.step(t, y, where="post", color=colour, lw=1.3, label=f"{group} (n={n:,})")
            ax.fill_between(t, low, high, step="post", color=colour, alpha=0.18, lw=0)
        if omitted:
            ax.plot([], [], " ", label=f"not drawn, < {min_pairs} pairs: " + ", ".join(omitted))
        for name, value in thresholds.items():
            if np.isfinite(value):
                ax.axvline(value, color="grey", ls=":", lw=0.9)
                ax.text(value, 1.0, f" {name}", rotation=90, va="top", ha="left", fontsize=6,
                        transform=ax.get_xaxis_transform())
        if rate == "fmr":
            ax.set_yscale("log")
            positive = curves.loc[curves["fmr"] > 0, "fmr"]
            if len(positive):
                ax.set_ylim(max(positive.min() / 3, 1e-9), 1.05)
        if x_low < x_high:
            ax.set_xlim(x_low, x_high)
        ax.set_xlabel("threshold T (similarity; match when >= T)")
        ax.set_ylabel(title)
        ax.set_title(f"{title} by {attribute}, 95% Clopper-Pearson bands")
        ax.grid(True, which="both", alpha=0.3)
        legend = ax.legend(fontsize=6)
        texts += [text.get_text() for text in legend.get_texts()]
    save_png(fig, path)
    return texts
