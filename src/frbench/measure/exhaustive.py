"""Per-group tables for the exhaustive protocol: every mated and every non-mated pair.

Non-mated pairs are never listed (LFW has 87.5 million): their per-cell counts, exact
target-FMR thresholds and histograms come from :func:`frbench.scoring.exhaustive.exhaustive_scores`.
Mated pairs are few enough to be explicit rows, so FNMR, its intervals and failure counts go
through the same :func:`~frbench.metrics.grouped.per_group_rates` as every other protocol; the
non-mated columns are then filled in from the cell counts, so the table has the one shape of
per_group.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.errors import ConfigError
from frbench.scoring.exhaustive import ExhaustiveResult, cell_counts, exhaustive_scores
from frbench.measure.listed import Measures, mark_underpowered, preset_thresholds, threshold_name, threshold_table
from frbench.metrics.fairness import fairness_summary
from frbench.metrics.grouped import attribute_names, per_group_rates
from frbench.metrics.intervals import clopper_pearson
from frbench.pairs.protocols import exhaustive_mated_pairs
from frbench.tables import INTERSECTION_SEP, OK

SUPPORTED_METRICS = ("cosine", "euclidean_l2")


@dataclass
class ExhaustiveMeasures(Measures):
    """``Measures`` plus the cell table, cross-group matrix, DET points and mated pairs."""

    cells: pd.DataFrame | None = None
    cross_group: pd.DataFrame | None = None
    det: pd.DataFrame | None = None
    mated: pd.DataFrame | None = None


def group_labels(images: pd.DataFrame, name: str) -> np.ndarray:
    """Each image's group for an attribute or an ``a+b`` intersection, as strings."""
    parts = name.split(INTERSECTION_SEP)
    labels = images[parts[0]].astype(str).to_numpy()
    for part in parts[1:]:
        labels = np.char.add(np.char.add(labels.astype(str), INTERSECTION_SEP), images[part].astype(str).to_numpy())
    return labels.astype(object)


def measure_exhaustive(config: Config, images: pd.DataFrame, matrix: np.ndarray, status: pd.Series) -> ExhaustiveMeasures:
    """Score all pairs among the enrolled images of ``images`` and build every per-group table.

    ``matrix`` rows align with ``images`` rows; ``status`` is indexed by image_id.
    """
    metric = config.model.distance_metric
    if metric not in SUPPORTED_METRICS:
        raise ConfigError(
            f"pairs.protocol exhaustive supports model.distance_metric {' or '.join(SUPPORTED_METRICS)}, got {metric!r}"
        )
    names = attribute_names(config.groups, config.intersections)
    ok = (status.loc[images["image_id"]] == OK).to_numpy()
    enrolled = images[ok].reset_index(drop=True)
    subject_codes, _ = pd.factorize(enrolled["subject_id"], sort=True)
    codes, categories = {}, {}
    for name in names:
        code, cats = pd.factorize(pd.Series(group_labels(enrolled, name)), sort=True)
        codes[name], categories[name] = code, list(cats)

    default, fixed = preset_thresholds(config)
    given = {**default, **fixed}
    targets = list(config.thresholds.target_fmr)
    result = exhaustive_scores(
        matrix[ok], subject_codes, codes, thresholds=list(given.values()), targets=targets,
        block=config.pairs.block, metric=metric,
    )
    thresholds = dict(given)
    for target, value in zip(targets, result.thresholds[len(given):]):
        thresholds[threshold_name(target)] = float(value)

    mated = mated_pairs(images, enrolled, result, status)
    target = min(targets) if targets else None
    per_group = per_group_rates(
        mated, attributes=config.groups, intersections=config.intersections, thresholds=thresholds,
        level=config.stats.confidence_level, target_fmr=target,
    )
    cells = cell_counts(result, categories)
    cells.insert(0, "threshold_name", cells["threshold"].map({v: k for k, v in thresholds.items()}))
    per_group = mark_underpowered(
        fill_nonmated(per_group, cells, images, enrolled, names, config.stats.confidence_level), target
    )
    notes = [
        f"Exhaustive protocol: all {result.n_nonmated:,} non-mated and {len(result.mated_scores):,} mated pairs "
        f"among {len(enrolled):,} enrolled images; scores on integer-quantised unit vectors (within "
        f"{2 * np.sqrt(matrix.shape[1]) * 2.0**-26:.1e} of the pairwise similarity) so that counts are exact.",
    ]
    if config.stats.bootstrap:
        notes.append("The subject bootstrap is not available for the exhaustive protocol; intervals are Clopper-Pearson.")
    return ExhaustiveMeasures(
        thresholds=thresholds,
        per_group=per_group,
        fairness=fairness_summary(per_group),
        threshold_table=pd.DataFrame(threshold_table(thresholds)),
        notes=notes,
        cells=cells,
        cross_group=cross_group_from_cells(cells, config.stats.confidence_level),
        det=det_from_histograms(result, categories, mated, names),
        mated=mated,
    )


def mated_pairs(images: pd.DataFrame, enrolled: pd.DataFrame, result: ExhaustiveResult, status: pd.Series) -> pd.DataFrame:
    """Every within-subject pair of ``images`` with its score, failed pairs kept with ``ok`` False."""
    pairs = exhaustive_mated_pairs(images)
    scored = pd.Series(
        result.mated_scores,
        index=pd.MultiIndex.from_arrays(
            [enrolled["image_id"].to_numpy()[result.mated_a], enrolled["image_id"].to_numpy()[result.mated_b]]
        ),
    )
    # Both listings order a pair's sides the same way (image_a < image_b), so a join on the pair suffices.
    key = pd.MultiIndex.from_arrays([pairs["image_a"], pairs["image_b"]])
    pairs["score"] = scored.reindex(key).to_numpy()
    state = status.loc[pairs["image_a"]].to_numpy(), status.loc[pairs["image_b"]].to_numpy()
    pairs["ok"] = (state[0] == OK) & (state[1] == OK)
    info = images.set_index("image_id")
    attrs = [c for c in images.columns if c not in ("image_id", "path") and not c.endswith("_source")]
    for side, col in (("a", "image_a"), ("b", "image_b")):
        for attr in attrs:
            target = "subject_" + side if attr == "subject_id" else f"{attr}_{side}"
            pairs[target] = info.loc[pairs[col], attr].to_numpy()
    return pairs


def fill_nonmated(
    per_group: pd.DataFrame,
    cells: pd.DataFrame,
    images: pd.DataFrame,
    enrolled: pd.DataFrame,
    names: list[str],
    level: float,
) -> pd.DataFrame:
    """Replace the non-mated columns of ``per_group`` by the diagonal cells (both sides in the group)."""
    own = cells[cells["group_a"] == cells["group_b"]].set_index(["threshold_name", "attribute", "group_a"])
    key = pd.MultiIndex.from_arrays([per_group["threshold_name"], per_group["attribute"], per_group["group"]])
    n = own["n_nonmated"].reindex(key).fillna(0).astype(np.int64).to_numpy()
    k = own["n_fm"].reindex(key).fillna(0).astype(np.int64).to_numpy()
    out = per_group.copy()
    out["n_nonmated"], out["n_fm"] = n, k
    with np.errstate(invalid="ignore", divide="ignore"):
        out["fmr"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        out["min_resolvable_fmr"] = np.where(n > 0, 3.0 / np.maximum(n, 1), np.nan)
    out["fmr_ci_low"], out["fmr_ci_high"] = clopper_pearson(k, n, level)
    # Subjects and failed pairs counted over images, as every pair among them is compared.
    subjects, failed = {}, {}
    for name in ["all", *names]:
        all_labels = np.full(len(images), "all", dtype=object) if name == "all" else group_labels(images, name)
        ok_labels = np.full(len(enrolled), "all", dtype=object) if name == "all" else group_labels(enrolled, name)
        for group in pd.unique(all_labels):
            total, kept = int((all_labels == group).sum()), int((ok_labels == group).sum())
            failed[(name, group)] = total * (total - 1) // 2 - kept * (kept - 1) // 2
            subjects[(name, group)] = enrolled.loc[ok_labels == group, "subject_id"].nunique()
    pairs = list(zip(out["attribute"], out["group"]))
    out["n_failed"] = [failed.get(p, 0) for p in pairs]
    out["n_subjects"] = [subjects.get(p, 0) for p in pairs]
    return out


def cross_group_from_cells(cells: pd.DataFrame, level: float) -> pd.DataFrame:
    """Ordered cross-group FMR rows (g_a, g_b) from unordered cells; off-diagonal cells appear both ways."""
    part = cells[cells["attribute"] != "all"]
    swapped = part[part["group_a"] != part["group_b"]].rename(columns={"group_a": "group_b", "group_b": "group_a"})
    both = pd.concat([part, swapped], ignore_index=True).rename(columns={"group_a": "g_a", "group_b": "g_b"})
    both = both.sort_values(["attribute", "threshold_name", "g_a", "g_b"], kind="stable").reset_index(drop=True)
    n, k = both["n_nonmated"].to_numpy(), both["n_fm"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        both["fmr"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    both["fmr_ci_low"], both["fmr_ci_high"] = clopper_pearson(k, n, level)
    return both[["attribute", "threshold_name", "threshold", "g_a", "g_b", "n_nonmated", "n_fm", "fmr", "fmr_ci_low", "fmr_ci_high"]]


def det_from_histograms(
    result: ExhaustiveResult, categories: dict[str, list[str]], mated: pd.DataFrame, names: list[str]
) -> pd.DataFrame:
    """DET points at every histogram bin edge: FMR from the non-mated histogram, FNMR from mated scores.

    Bin b holds ``edge_b <= s < edge_b+1``, so the non-mated pairs matching at threshold edge_b are
    exactly those in bins b and above: the points are exact at the edges.
    """
    edges = result.bin_edges[:-1]
    scored = mated[mated["ok"]]
    units = [("all", "all", result.hist_total, scored["score"].to_numpy())]
    for name in names:
        labels = pd.Series(list(zip(*(scored[f"{p}_a"] for p in name.split(INTERSECTION_SEP)))))
        joined = labels.map(INTERSECTION_SEP.join).to_numpy() if len(labels) else np.array([], dtype=object)
        for code, group in enumerate(categories[name]):
            units.append((name, group, result.hist[name][code, code], scored["score"].to_numpy()[joined == group]))
    parts = []
    for name, group, hist, mated_scores in units:
        n_nonmated = int(hist.sum())
        if n_nonmated == 0 or mated_scores.size == 0:
            continue
        at_or_above = np.cumsum(hist[::-1])[::-1]
        fnm = np.searchsorted(np.sort(mated_scores), edges, side="left")
        parts.append(
            pd.DataFrame({"attribute": name, "group": group, "threshold": edges,
                          "fmr": at_or_above / n_nonmated, "fnmr": fnm / mated_scores.size})
        )
    return pd.concat(parts, ignore_index=True)
