"""What gallery size and make-up do to each group's FPIR and FNIR.

Both sweeps search again against seeded sub-galleries of the full gallery's subjects (NIST FRTE
1:N reports FNIR and FPIR against N in the same way). In every sub-gallery the non-mated
searches are all the non-mated probes, and the mated searches are the probes of the subjects
that stayed enrolled (a mated probe whose subject was left out is not searched, so the
non-mated set, and with it FPIR's denominator, stays fixed).

Thresholds: ``fixed`` rows hold the full gallery's identification thresholds, so FPIR grows with
N; ``reset`` rows set T again on each sub-gallery's non-mated searches at the same target FPIR,
so FPIR stays near the target and FNIR grows instead; ``none`` rows are rank 1 without a
threshold.

The 1:1 prediction overlaid on the ``fixed`` rows: if a probe of group g matches any one
enrolled subject with probability FMR_g(T), independently, then
FPIR_g(N, T) = 1 - (1 - FMR_g(T))^N ~ N FMR_g(T) for small values. FMR_g(T) is measured on the
full gallery as SEL_g(N_full, T) / N_full: the candidates >= T per non-mated search, per
enrolled subject (exact unless a list of L candidates was full above T, which ``n_sel_truncated``
counts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from frbench.groups import ALL, Groups
from frbench.search.measures import (
    OperatingPoint,
    SearchTable,
    candidates_from_result,
    identification_points,
    investigative_points,
    rates_from_counts,
    search_counts,
    search_table,
)
from frbench.search.topk import DEFAULT_BLOCK_BYTES, SearchResult, search


@dataclass(frozen=True)
class SearchInputs:
    """Everything needed to search again against part of the gallery.

    ``probes``: ``image_id, subject_id, mated`` and attribute columns, aligned with the rows of
    ``probe_matrix`` (NaN rows for failed probes) and ``probe_ok``; ``gallery``: ``image_id,
    subject_id`` and attribute columns, aligned with ``gallery_matrix`` (NaN rows for failed
    templates).
    """

    probes: pd.DataFrame
    probe_matrix: np.ndarray
    probe_ok: np.ndarray
    gallery: pd.DataFrame
    gallery_matrix: np.ndarray
    length: int
    kernel: str = "auto"
    block_bytes: int = DEFAULT_BLOCK_BYTES
    # The search function: topk.search, or one with the same signature and result that runs
    # elsewhere (search.sharded.sharded_search on a Dask cluster, bound to its client).
    searcher: Callable[..., SearchResult] = search


def search_subset(inputs: SearchInputs, gallery_subjects: set[str] | None = None) -> SearchTable:
    """The SearchTable against the gallery images of ``gallery_subjects`` (None: the whole gallery)."""
    g = inputs.gallery
    g_keep = np.ones(len(g), dtype=bool) if gallery_subjects is None else g["subject_id"].isin(gallery_subjects).to_numpy()
    p = inputs.probes
    p_keep = ~p["mated"].to_numpy(dtype=bool) | p["subject_id"].isin(set(g.loc[g_keep, "subject_id"])).to_numpy()
    g_rows, p_rows = np.flatnonzero(g_keep), np.flatnonzero(p_keep)
    result = inputs.searcher(
        inputs.probe_matrix[p_rows],
        inputs.gallery_matrix[g_rows],
        g["subject_id"].to_numpy()[g_rows],
        inputs.length,
        kernel=inputs.kernel,
        block_bytes=inputs.block_bytes,
    )
    probes = p.iloc[p_rows].reset_index(drop=True)
    cands = candidates_from_result(
        probes["image_id"], result.rows, result.scores,
        g["image_id"].to_numpy()[g_rows], g["subject_id"].to_numpy()[g_rows],
    )
    return search_table(probes, inputs.probe_ok[p_rows], cands, inputs.length)


def _points(table: SearchTable, fixed: Sequence[OperatingPoint], targets: Sequence[float]) -> list[tuple[str, OperatingPoint]]:
    out = [("none", p) for p in investigative_points([1], table.length)]
    out += [("fixed", p) for p in fixed]
    out += [("reset", p) for p in identification_points(table, targets)]
    return out


def _measure(table: SearchTable, fixed, targets, attributes, intersections) -> pd.DataFrame:
    frames = []
    points = _points(table, fixed, targets)
    for mode, point in points:
        counts = search_counts(table, [point], attributes, intersections)
        counts.insert(0, "threshold_mode", mode)
        frames.append(counts)
    return rates_from_counts(pd.concat(frames, ignore_index=True), points=[p for _, p in points])


def _fmr_per_group(full_counts: pd.DataFrame, n_full: int) -> pd.DataFrame:
    """FMR_g(T) = SEL_g(N_full, T) / N_full from the full gallery's counts (module docstring)."""
    fc = full_counts[full_counts["threshold_mode"] == "fixed"]
    fmr = fc["n_sel"] / (fc["n_nonmated"].where(fc["n_nonmated"] > 0) * n_full)
    return pd.DataFrame(
        {
            "threshold_name": fc["threshold_name"], "attribute": fc["attribute"], "group": fc["group"],
            "fmr_1to1": fmr.to_numpy(), "fmr_truncated": fc["n_sel_truncated"].to_numpy() > 0,
        }
    )


def gallery_sizes(n_full: int, smallest: int = 100, steps: int = 6) -> list[int]:
    """``steps`` gallery sizes spaced geometrically from ``smallest`` to ``n_full`` (both kept)."""
    if n_full < 1 or smallest < 1 or steps < 1:
        raise ValueError(f"need n_full, smallest, steps >= 1, got {n_full}, {smallest}, {steps}")
    lo = min(smallest, n_full)
    return sorted(set(np.rint(np.geomspace(lo, n_full, max(steps, 1))).astype(int).tolist()) | {n_full})


def gallery_size_sweep(
    inputs: SearchInputs,
    full_points: Sequence[OperatingPoint],
    targets: Sequence[float],
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    sizes: Sequence[int] | None = None,
    repeats: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """FPIR and FNIR per probe group against gallery size N (module docstring).

    ``full_points``: the full gallery's identification points (the ``fixed`` thresholds).
    ``sizes``: numbers of enrolled subjects (default :func:`gallery_sizes`); each size below the
    full one is drawn ``repeats`` times, subjects without replacement, from
    ``numpy.random.default_rng([seed, size, repeat])``.

    Returns the tidy rows of :func:`~frbench.search.measures.rates_from_counts` with
    ``n_gallery, repeat, threshold_mode`` in front and, on ``fixed`` rows, ``fmr_1to1`` and
    ``predicted_fpir = 1 - (1 - fmr_1to1)^n_gallery``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    subjects = np.array(sorted(set(inputs.gallery["subject_id"])))
    n_full = subjects.size
    sizes = gallery_sizes(n_full) if sizes is None else sorted({int(s) for s in sizes})
    bad = [s for s in sizes if not 1 <= s <= n_full]
    if bad:
        raise ValueError(f"gallery sizes must be in 1..{n_full}, got {bad}")
    frames = []
    full = None
    for size in sizes:
        for rep in range(1 if size == n_full else repeats):
            if size == n_full:
                chosen = None
            else:
                rng = np.random.default_rng([seed, size, rep])
                chosen = set(rng.choice(subjects, size=size, replace=False).tolist())
            table = search_subset(inputs, chosen)
            rows = _measure(table, full_points, targets, attributes, intersections)
            rows.insert(0, "repeat", rep)
            rows.insert(0, "n_gallery", size)
            frames.append(rows)
            if size == n_full:
                full = rows
    out = pd.concat(frames, ignore_index=True)
    if full is None:
        full = _measure(search_subset(inputs, None), full_points, targets, attributes, intersections)
    fmr = _fmr_per_group(full, n_full)
    out = out.merge(fmr, on=["threshold_name", "attribute", "group"], how="left")
    fixed = out["threshold_mode"] == "fixed"
    out.loc[~fixed, ["fmr_1to1", "fmr_truncated"]] = np.nan
    out["predicted_fpir"] = np.where(fixed, 1.0 - (1.0 - out["fmr_1to1"]) ** out["n_gallery"], np.nan)
    return out


def gallery_size_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Mean (and min, max) over repeats of FPIR, FNIR and the prediction, per size and row."""
    keys = ["n_gallery", "threshold_mode", "threshold_name", "attribute", "group"]
    agg = sweep.groupby(keys, sort=False).agg(
        repeats=("repeat", "size"),
        fpir=("fpir", "mean"), fpir_min=("fpir", "min"), fpir_max=("fpir", "max"),
        fnir=("fnir", "mean"), fnir_min=("fnir", "min"), fnir_max=("fnir", "max"),
        threshold=("threshold", "mean"), predicted_fpir=("predicted_fpir", "mean"),
        n_mated=("n_mated", "mean"), n_nonmated=("n_nonmated", "mean"),
    )
    return agg.reset_index()


def composition_sweep(
    inputs: SearchInputs,
    full_points: Sequence[OperatingPoint],
    targets: Sequence[float],
    attribute: str,
    group: str,
    shares: Sequence[float],
    size: int | None = None,
    repeats: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """FPIR and FNIR per group of ``attribute`` when ``group`` makes up a given share of the gallery.

    A gallery subject's group is the label of its first gallery image. Every gallery has the same
    size N0 (``size``, default the largest that every share allows: min over shares of
    min(n_in / s, n_out / (1 - s))), with round(s N0) subjects of ``group`` and the rest from the
    others, drawn from ``numpy.random.default_rng([seed, round(s * 1e6), repeat])``. The gallery's
    natural share is added to ``shares`` as the reference. Rows: those of
    :func:`gallery_size_sweep` for ``attribute`` (and ``all``), with ``share`` (asked for),
    ``n_in_group`` (subjects of ``group`` enrolled), ``n_gallery`` and ``repeat`` in front.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    bad = [s for s in shares if not 0.0 < s < 1.0]
    if bad:
        raise ValueError(f"shares must be in (0, 1), got {bad}")
    g = inputs.gallery
    first = g.sort_values(["subject_id", "image_id"]).drop_duplicates("subject_id")
    labels = pd.Series(Groups.of([attribute]).image_labels(first, attribute), index=first["subject_id"].to_numpy())
    inside = np.array(sorted(labels.index[labels == group]))
    outside = np.array(sorted(labels.index[labels != group]))
    if inside.size == 0 or outside.size == 0:
        raise ValueError(f"composition sweep needs gallery subjects both in and outside {attribute}={group!r}")
    natural = inside.size / (inside.size + outside.size)
    all_shares = sorted({round(natural, 6), *[float(s) for s in shares]})
    if size is None:
        size = int(min(min(inside.size / s, outside.size / (1 - s)) for s in all_shares))
    frames = []
    for share in all_shares:
        n_in = round(share * size)
        if n_in > inside.size or size - n_in > outside.size or size < 1:
            raise ValueError(f"a gallery of {size} with share {share} of {group!r} needs more subjects than enrolled")
        for rep in range(repeats):
            rng = np.random.default_rng([seed, round(share * 1e6), rep])
            chosen = set(rng.choice(inside, n_in, replace=False).tolist()) | set(
                rng.choice(outside, size - n_in, replace=False).tolist()
            )
            rows = _measure(search_subset(inputs, chosen), full_points, targets, [attribute], ())
            rows.insert(0, "repeat", rep)
            rows.insert(0, "n_gallery", size)
            rows.insert(0, "n_in_group", n_in)
            rows.insert(0, "share", share)
            rows.insert(0, "natural_share", natural)
            rows.insert(0, "over_represented", f"{attribute}={group}")
            frames.append(rows)
    out = pd.concat(frames, ignore_index=True)
    return out[out["attribute"].isin([ALL, attribute])].reset_index(drop=True)
