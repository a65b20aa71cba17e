"""Per-group tables for the exhaustive protocol: every mated and every non-mated pair.

Non-mated pairs are never listed (LFW has 87.5 million): their per-cell counts, exact
target-FMR thresholds and histograms come from :func:`frbench.scoring.exhaustive.exhaustive_scores`.
Mated pairs are few enough to be explicit rows, counted like every listed pair
(:func:`~frbench.metrics.counts.pair_counts`); the non-mated counts come from the cells
(:func:`exhaustive_counts`), and the one :func:`~frbench.metrics.grouped.rates_from_counts` turns
the whole counts table into per_group.csv's rates, intervals and flags.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from frbench.config import Config
from frbench.groups import ALL, Groups
from frbench.measure.differentials import add_subject_weighted_fnmr
from frbench.measure.result import Measures
from frbench.measure.thresholds import preset_thresholds, resolved_threshold_table, threshold_table
from frbench.metrics.counts import pair_counts
from frbench.metrics.curves import cross_group_from_cells
from frbench.metrics.accuracy import accuracy_table
from frbench.metrics.fairness import fairness_summary
from frbench.metrics.group_tests import exact_tests_from_counts
from frbench.metrics.grouped import rates_from_counts
from frbench.pairs.protocols import exhaustive_mated_pairs
from frbench.points import OperatingPoints, Threshold
from frbench.scoring.distributed import dask_client, distributed_exhaustive_scores
from frbench.scoring.exhaustive import ExhaustiveResult, cell_counts, exhaustive_scores
from frbench.tables import OK


def measure_exhaustive(
    config: Config, images: pd.DataFrame, matrix: np.ndarray, status: pd.Series, groups: Groups
) -> tuple[Measures, pd.DataFrame]:
    """Score all pairs among the enrolled images of ``images``; every per-group table and the mated pairs.

    ``matrix`` rows align with ``images`` rows; ``status`` is indexed by image_id. The mated pairs
    (every within-subject pair, with its score; failed ones with ``ok`` False) are what scores.csv lists.
    """
    metric = config.model.distance_metric
    # In image-id order, enrolled rows keep the order of the mated-pair listing (mated_pairs).
    order = np.argsort(images["image_id"].to_numpy(), kind="stable")
    images, matrix = images.iloc[order].reset_index(drop=True), matrix[order]
    ok = (status.loc[images["image_id"]] == OK).to_numpy()
    enrolled = images[ok].reset_index(drop=True)
    subject_codes, _ = pd.factorize(enrolled["subject_id"], sort=True)
    codes, categories = {}, {}
    for name in groups.names:
        code, cats = pd.factorize(pd.Series(groups.image_labels(enrolled, name)), sort=True)
        codes[name], categories[name] = code, list(cats)

    default, fixed = preset_thresholds(config)
    given = default + fixed
    targets = list(config.thresholds.target_fmr)
    args = dict(thresholds=[p.value for p in given], targets=targets, block=config.pairs.block, metric=metric)
    execution = config.execution
    if execution.executor == "dask":
        # The same counts from tiles scored on a Dask cluster (scoring.distributed): bit for bit.
        with dask_client(execution.workers, execution.scheduler) as client:
            result = distributed_exhaustive_scores(
                client, matrix[ok], subject_codes, codes, **args, scratch_dir=execution.scratch_dir
            )
    else:
        result = exhaustive_scores(matrix[ok], subject_codes, codes, **args)
    points = given + OperatingPoints(
        Threshold.at_target_fmr(target, value) for target, value in zip(targets, result.thresholds[len(given):])
    )
    thresholds = points.values()

    mated = mated_pairs(images, enrolled, result, status, groups)
    cells = cell_counts(result, categories)
    # cell_counts gives one block of rows per threshold, in order: named by position, as two
    # thresholds may share a similarity
    cells.insert(0, "threshold_name", np.repeat(points.names, len(cells) // max(len(points), 1)))
    counts = exhaustive_counts(pair_counts(mated, groups, thresholds), cells, images, enrolled, groups)
    per_group = add_subject_weighted_fnmr(rates_from_counts(
        counts, config.stats.confidence_level, points.fmr_targets(), config.stats.min_group_subjects
    ), mated, groups)
    notes = [
        f"Exhaustive protocol: all {result.n_nonmated:,} non-mated and {len(result.mated_scores):,} mated pairs "
        f"among {len(enrolled):,} enrolled images; scores on integer-quantised unit vectors (within "
        f"{2 * np.sqrt(matrix.shape[1]) * 2.0**-26:.1e} of the pairwise similarity) so that counts are exact.",
    ]
    if config.stats.bootstrap:
        notes.append("The subject bootstrap is not available for the exhaustive protocol; intervals are Clopper-Pearson.")
    return Measures(
        points=points,
        per_group=per_group,
        fairness=fairness_summary(per_group, min_subjects=config.stats.min_group_subjects),
        threshold_table=resolved_threshold_table(threshold_table(points), per_group),
        det=det_from_histograms(result, categories, mated, groups),
        cross_group=cross_group_from_cells(cells, config.stats.confidence_level),
        cells=cells,
        group_tests=exact_tests_from_counts(counts, min_subjects=config.stats.min_group_subjects, seed=config.stats.seed)
        if groups.names else None,
        accuracy=accuracy_table(per_group),
        notes=notes,
    ), mated


def mated_pairs(
    images: pd.DataFrame, enrolled: pd.DataFrame, result: ExhaustiveResult, status: pd.Series, groups: Groups
) -> pd.DataFrame:
    """Every within-subject pair of ``images`` with its score, failed pairs kept with ``ok`` False.

    ``images`` and ``enrolled`` (its enrolled rows) are in image-id order, so the listing's pairs
    with both sides enrolled are, in order, the scored mated pairs of ``result``.
    """
    pairs = exhaustive_mated_pairs(images)
    state = status.loc[pairs["image_a"]].to_numpy(), status.loc[pairs["image_b"]].to_numpy()
    ok = (state[0] == OK) & (state[1] == OK)
    ids = enrolled["image_id"].to_numpy()
    if ok.sum() != result.mated_scores.size or not (
        np.array_equal(pairs["image_a"].to_numpy()[ok], ids[result.mated_a])
        and np.array_equal(pairs["image_b"].to_numpy()[ok], ids[result.mated_b])
    ):
        raise AssertionError("exhaustive scoring and the mated-pair listing disagree on the mated pairs")
    score = np.full(len(pairs), np.nan)
    score[ok] = result.mated_scores
    pairs["score"], pairs["ok"] = score, ok
    pairs["status_a"], pairs["status_b"] = state
    return groups.join_sides(pairs, images)


def exhaustive_counts(
    mated_counts: pd.DataFrame, cells: pd.DataFrame, images: pd.DataFrame, enrolled: pd.DataFrame, groups: Groups
) -> pd.DataFrame:
    """The counts table of the exhaustive protocol: mated columns from the listed mated pairs,
    non-mated ones from the diagonal cells (both sides in the group), failures and subjects from images.

    Every pair among a group's images is compared, so its failed pairs are all pairs among its images
    less the pairs among its enrolled ones, and its subjects are those with an image in it (failed
    ones included, as for listed pairs).
    """
    own = cells[cells["group_a"] == cells["group_b"]].set_index(["threshold_name", "attribute", "group_a"])
    key = pd.MultiIndex.from_arrays([mated_counts["threshold_name"], mated_counts["attribute"], mated_counts["group"]])
    out = mated_counts.copy()
    out["n_nonmated"] = own["n_nonmated"].reindex(key).fillna(0).astype(np.int64).to_numpy()
    out["n_fm"] = own["n_fm"].reindex(key).fillna(0).astype(np.int64).to_numpy()
    subjects, failed, behind_fmr = {}, {}, {}
    for name, group, mask in groups.image_units(images):
        labels_ok = np.full(len(enrolled), ALL, dtype=object) if name == ALL else groups.image_labels(enrolled, name)
        kept_mask = labels_ok == group
        total, kept = int(mask.sum()), int(kept_mask.sum())
        failed[(name, group)] = total * (total - 1) // 2 - kept * (kept - 1) // 2
        subjects[(name, group)] = images.loc[mask, "subject_id"].nunique()
        # every enrolled image meets every other subject's: all enrolled subjects are behind the FMR, if 2 or more
        enrolled_subjects = enrolled.loc[kept_mask, "subject_id"].nunique()
        behind_fmr[(name, group)] = enrolled_subjects if enrolled_subjects >= 2 else 0
    units = list(zip(out["attribute"], out["group"]))
    out["n_failed"] = [failed.get(u, 0) for u in units]
    out["n_subjects"] = [subjects.get(u, 0) for u in units]
    out["n_subjects_nonmated"] = [behind_fmr.get(u, 0) for u in units]
    return out


def det_from_histograms(
    result: ExhaustiveResult, categories: dict[str, list[str]], mated: pd.DataFrame, groups: Groups
) -> pd.DataFrame:
    """DET points at every histogram bin edge: FMR from the non-mated histogram, FNMR from mated scores.

    Bin b holds ``edge_b <= s < edge_b+1``, so the non-mated pairs matching at threshold edge_b are
    exactly those in bins b and above: the points are exact at the edges.
    """
    edges = result.bin_edges[:-1]
    scored = mated[mated["ok"]]
    units = [("all", "all", result.hist_total, scored["score"].to_numpy())]
    for name in groups.names:
        # a mated pair's two sides share the subject, hence its groups: side a's label is the pair's
        joined = groups.side_labels(scored, name)[0]
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
    columns = ["attribute", "group", "threshold", "fmr", "fnmr"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
