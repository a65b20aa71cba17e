"""PNG plots of runs: DET curves, score distributions, cross-group FMR, compared per-group rates.

Figures are built with matplotlib's object-oriented API (``matplotlib.figure.Figure``), which
renders with the Agg canvas without touching pyplot's global backend or figure registry, so
importing frbench never changes the caller's matplotlib state.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from frbench.io.figures import save_png


def _figure(nrows: int = 1, ncols: int = 1, **kwargs: object) -> tuple[Figure, object]:
    """A detached figure and its axes (as ``pyplot.subplots`` returns them)."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def plot_det(
    det: pd.DataFrame, attribute: str, path: Path, sizes: dict[str, tuple[int, int]] | None = None,
    min_pairs: int = 0,
) -> list[str]:
    """:func:`det_figure` written to ``path``; returns its legend's lines."""
    fig = det_figure(det, attribute, sizes, min_pairs)
    save_png(fig, path)
    return [text.get_text() for text in fig.axes[0].get_legend().get_texts()]


def det_figure(
    det: pd.DataFrame, attribute: str, sizes: dict[str, tuple[int, int]] | None = None, min_pairs: int = 0,
) -> Figure:
    """DET curves (FNMR against FMR, both log axes) of each group of one attribute; returns the legend.

    ``det`` has columns ``group, threshold, fmr, fnmr`` (see ``metrics.curves.det_points``).
    ``sizes`` maps a group to its (mated, non-mated) pair counts, shown in the legend; a group with
    fewer than ``min_pairs`` of either is not drawn (a curve through a handful of points reads as
    a finding) and is named in the legend as omitted. Points with a zero rate cannot sit on a log
    axis and are left out of the line.
    """
    sizes = sizes or {}
    fig, ax = _figure(figsize=(6, 5))
    drawn, omitted = 0, []
    for group, part in det.groupby("group", sort=True):
        n_mated, n_nonmated = sizes.get(str(group), (None, None))
        if n_mated is not None and min(n_mated, n_nonmated) < min_pairs:
            omitted.append(f"{group} ({n_mated}/{n_nonmated})")
            continue
        keep = (part["fmr"] > 0) & (part["fnmr"] > 0)
        drawn += int(keep.sum())
        label = str(group) if n_mated is None else f"{group} (n={n_mated:,} mated / {n_nonmated:,} non-mated)"
        ax.plot(part.loc[keep, "fmr"], part.loc[keep, "fnmr"], label=label, lw=1.4)
    if omitted:
        ax.plot([], [], " ", label=f"not drawn, < {min_pairs} mated or non-mated pairs: " + ", ".join(omitted))
    if drawn:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no threshold gives both rates > 0\n(scores fully separated)", ha="center",
                va="center", transform=ax.transAxes)
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("false non-match rate (FNMR)")
    ax.set_title(f"DET by {attribute}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def plot_score_distributions(hist: pd.DataFrame, attribute: str, path: Path, thresholds: dict[str, float]) -> None:
    """:func:`score_distributions_figure` written to ``path``."""
    save_png(score_distributions_figure(hist, attribute, thresholds), path)


def score_distributions_figure(hist: pd.DataFrame, attribute: str, thresholds: dict[str, float]) -> Figure:
    """Mated and non-mated score densities per group, with the run's thresholds as labelled vertical lines."""
    groups = sorted(hist["group"].unique())
    fig, axes = _figure(len(groups), 1, figsize=(6, 1.6 * len(groups) + 0.6), sharex=True, squeeze=False)
    for ax, group in zip(axes[:, 0], groups):
        for mated, colour in ((True, "tab:green"), (False, "tab:red")):
            part = hist[(hist["group"] == group) & (hist["mated"] == mated)]
            if len(part):
                centres = (part["bin_low"] + part["bin_high"]) / 2
                n = int(part["count"].sum())
                ax.plot(centres, part["density"], color=colour, lw=1.2,
                        label=f"{'mated' if mated else 'non-mated'} (n={n:,})")
        for name, value in thresholds.items():
            ax.axvline(value, color="grey", ls=":", lw=0.8)
        ax.set_ylabel(f"{group}\ndensity", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    # thresholds often sit close together: name them in the axis label rather than on the lines
    named = ", ".join(f"{name} {value:.4g}" for name, value in thresholds.items())
    axes[-1, 0].set_xlabel(f"similarity; dotted lines: thresholds ({named})", fontsize=8)
    fig.suptitle(f"score distributions by {attribute}")
    return fig


def plot_group_rates(rows: pd.DataFrame, attribute: str, threshold_name: str, path: Path) -> None:
    """:func:`group_rates_figure` written to ``path``."""
    save_png(group_rates_figure(rows, attribute, threshold_name), path)


def group_rates_figure(rows: pd.DataFrame, attribute: str, threshold_name: str) -> Figure:
    """FNMR and FMR of each group of one attribute at one threshold, with Clopper-Pearson whiskers.

    ``rows`` are per_group.csv rows (the ``all`` row and the attribute's groups) at that threshold.
    Group labels carry their pair counts; a rate without comparisons is not drawn.
    """
    rows = rows.reset_index(drop=True)
    labels = [
        f"{'all' if r.attribute == 'all' else r.group} ({r.n_mated:,}/{r.n_nonmated:,})" for r in rows.itertuples()
    ]
    fig, axes = _figure(1, 2, figsize=(10, 0.35 * len(rows) + 1.6), sharey=True)
    y = np.arange(len(rows))
    for ax, kind in zip(axes, ("fnmr", "fmr")):
        value = rows[kind].to_numpy(dtype=float)
        low, high = rows[f"{kind}_ci_low"].to_numpy(dtype=float), rows[f"{kind}_ci_high"].to_numpy(dtype=float)
        has = ~np.isnan(value)
        ax.errorbar(value[has], y[has], xerr=[value[has] - low[has], high[has] - value[has]], fmt="o", ms=4,
                    capsize=3, color="tab:blue")
        ax.set_xlabel(f"{kind.upper()} with 95% Clopper-Pearson interval")
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].set_ylabel(f"{attribute} (mated / non-mated pairs)")
    axes[0].invert_yaxis()
    fig.suptitle(f"error rates by {attribute} at {threshold_name}")
    return fig


# One fixed colour scale for every cross-group heatmap (log10 FMR from 1e-5 to 1), so that a colour
# means the same rate in every plot and every run; rates below 1e-5 take the lowest colour.
CROSS_GROUP_LOG_RANGE = (-5.0, 0.0)
ZERO_COLOUR, EMPTY_COLOUR = "black", "#d9d9d9"


def cross_group_figure(matrix: pd.DataFrame, attribute: str, threshold_name: str) -> Figure:
    """log10 cross-group FMR heatmap in the NIST FRVT style, on the fixed scale ``CROSS_GROUP_LOG_RANGE``.

    A cell with no non-mated pair is grey and hatched ("no pairs"); a cell whose FMR is 0 is black
    (the colour bar's lower triangle), never confused with an empty or a low-rate cell.
    """
    import matplotlib

    groups = sorted(set(matrix["g_a"]))
    grid = matrix.pivot(index="g_a", columns="g_b", values="fmr").reindex(index=groups, columns=groups)
    counts = matrix.pivot(index="g_a", columns="g_b", values="n_nonmated").reindex(index=groups, columns=groups)
    values = grid.to_numpy(dtype=float)
    n = counts.fillna(0).to_numpy(dtype=float)
    low, high = CROSS_GROUP_LOG_RANGE
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.where(values > 0, np.clip(np.log10(np.where(values > 0, values, 1)), low, high), np.nan)
    # zero FMR below the scale (the colour map's "under" colour); no pairs masked (its "bad" colour)
    shown = np.where((n > 0) & (values == 0), low - 1, logged)
    shown = np.ma.masked_where(n == 0, shown)
    cmap = matplotlib.colormaps["viridis"].with_extremes(under=ZERO_COLOUR, bad=EMPTY_COLOUR)
    fig, ax = _figure(figsize=(1.0 * len(groups) + 2.5, 0.8 * len(groups) + 2))
    image = ax.imshow(shown, cmap=cmap, vmin=low, vmax=high, aspect="auto")
    bar = fig.colorbar(image, ax=ax, extend="min")
    bar.set_label(f"log10 FMR (fixed scale 1e{int(low)} to 1; black: FMR = 0; grey: no pairs)", fontsize=7)
    for i in range(len(groups)):
        for j in range(len(groups)):
            if n[i, j] == 0:
                ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//",
                                                          edgecolor="white", lw=0))
                text, colour = "no pairs", "black"
            else:
                text = "0" if values[i, j] == 0 else f"{values[i, j]:.1e}"
                # dark cells (zero, low rates) take white text
                colour = "white" if values[i, j] == 0 or logged[i, j] < (low + high) / 2 else "black"
            ax.text(j, i, f"{text}\nn={int(n[i, j])}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(groups)), groups, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(groups)), groups, fontsize=8)
    ax.set_title(f"cross-group FMR by {attribute} at {threshold_name}")
    return fig


def plot_cross_group(matrix: pd.DataFrame, attribute: str, threshold_name: str, path: Path) -> None:
    """:func:`cross_group_figure` written to ``path``."""
    save_png(cross_group_figure(matrix, attribute, threshold_name), path)


def plot_ita_histogram(images: pd.DataFrame, path: Path) -> str:
    """Histogram of subjects' ITA with the six category boundaries; returns the path relative to the run."""
    from frbench.annotate.skin_tone import ITA_CATEGORY_BOUNDS

    per_subject = images.drop_duplicates("subject_id")["ita"].dropna()
    fig, ax = _figure(figsize=(6, 3.2))
    ax.hist(per_subject, bins=60, color="tab:brown", alpha=0.8)
    for _, low, _ in ITA_CATEGORY_BOUNDS[:-1]:
        ax.axvline(low, color="black", lw=0.8, ls="--")
    ax.set_xlabel("ITA (degrees) per subject; dashed: category boundaries")
    ax.set_ylabel("subjects")
    ax.set_title(f"estimated skin tone (ITA), {len(per_subject)} subjects")
    save_png(fig, path)
    return f"plots/{path.name}"


def plot_compared_rates(per_run: dict[str, pd.DataFrame], threshold_name: str, path: Path) -> None:
    """FNMR (linear) and FMR (log) of every group in every run, one marker per run.

    ``per_run`` maps a run's label to its per-group rows at ``threshold_name``, indexed by
    (attribute, group). Groups without pairs of the kind are left out; a zero FMR, which a log
    axis cannot show, is drawn hollow at the axis' left edge.
    """
    keys = list(dict.fromkeys(k for pg in per_run.values() for k in pg.index))
    keys.sort(key=lambda k: (k[0] != "all", k))
    labels = ["all" if a == "all" else f"{a}: {g}" for a, g in keys]
    fig, (ax_fnmr, ax_fmr) = _figure(1, 2, figsize=(11, 0.3 * len(keys) + 1.8), sharey=True)
    positive = [v for pg in per_run.values() for v in pg["fmr"][pg["n_nonmated"] > 0] if v > 0]
    # zeros sit a decade below the smallest observed FMR, behind a dashed line marked 0
    floor = min(positive) / 10 if positive else None
    markers = "osD^v<>phX*"
    k = len(per_run)
    for i, (label, pg) in enumerate(per_run.items()):
        y = np.arange(len(keys)) + (i - (k - 1) / 2) * (0.7 / max(k, 1))
        colour = f"C{i % 10}"
        marker = markers[i % len(markers)]
        frame = pg.reindex(keys)
        fnmr = frame["fnmr"].where(frame["n_mated"] > 0).to_numpy(dtype=float)
        fmr = frame["fmr"].where(frame["n_nonmated"] > 0).to_numpy(dtype=float)
        ax_fnmr.scatter(fnmr, y, color=colour, marker=marker, s=22, label=label)
        if floor is not None:
            zero = fmr == 0
            ax_fmr.scatter(fmr[~zero], y[~zero], color=colour, marker=marker, s=22)
            ax_fmr.scatter(np.full(zero.sum(), floor), y[zero], facecolors="none", edgecolors=colour, marker=marker, s=22)
        else:
            ax_fmr.scatter(fmr, y, color=colour, marker=marker, s=22)
    if floor is not None:
        top = int(np.ceil(np.log10(max(positive))))
        decades = [10.0**k for k in range(int(np.ceil(np.log10(2 * floor))), top + 1)]
        ax_fmr.set_xscale("log")
        ax_fmr.set_xlim(floor / 2, 10.0**top * 1.2)
        ax_fmr.set_xticks([floor, *decades], ["0", *[f"1e{int(round(np.log10(d)))}" for d in decades]])
        ax_fmr.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax_fmr.axvline(floor * 2, color="grey", ls="--", lw=0.8)
    ax_fnmr.set_yticks(range(len(keys)), labels, fontsize=8)
    ax_fnmr.invert_yaxis()
    ax_fnmr.set_xlabel("FNMR")
    ax_fmr.set_xlabel("FMR (log axis; hollow markers at 0: FMR 0)" if floor is not None else "FMR")
    for ax in (ax_fnmr, ax_fmr):
        ax.grid(True, axis="x", which="both", alpha=0.3)
    ax_fmr.legend(*ax_fnmr.get_legend_handles_labels(), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"per-group error rates at {threshold_name}")
    save_png(fig, path)
