"""Counting errors per threshold x group: the evidence every per-group rate is computed from.

Every protocol turns its evidence into one tidy **counts table** (``COUNT_COLUMNS``), one row per
threshold x attribute x group; :func:`frbench.metrics.grouped.rates_from_counts` turns any counts
table into rates, intervals and power flags. Listed pairs (from a pairs file, generated, or
imported scores) are counted here by :func:`pair_counts`; the exhaustive protocol counts its
non-mated pairs per cell (:mod:`frbench.measure.exhaustive`); a 1:N protocol counts searches
(a mated search in ``n_mated``, a missed mate in ``n_fnm``, a non-mated search in
``n_nonmated``, one returning a candidate at or above the threshold in ``n_fm``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from frbench.groups import Groups
from frbench.metrics.group_rules import count_subjects
from frbench.metrics.rates import error_counts

COUNT_COLUMNS = (
    "threshold_name",
    "threshold",
    "attribute",
    "group",
    "n_subjects",
    "n_mated",
    "n_nonmated",
    "n_fnm",
    "n_fm",
    "n_failed",
    "n_failed_mated",
)
# Subjects behind each rate: those with a scored mated pair (FNMR's), and those on either side of a
# scored non-mated pair (FMR's). Optional in a counts table (1:N searches count probes instead);
# where present, eligibility for summaries and tests counts them, not the group's subjects overall.
RATE_SUBJECT_COLUMNS = ("n_subjects_mated", "n_subjects_nonmated")


def pair_arrays(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``score``, ``mated`` and ``ok`` of a scored pair table, checked: every ok pair has a finite score."""
    missing = [c for c in ("score", "mated", "ok", "subject_a", "subject_b") if c not in pairs.columns]
    if missing:
        raise ValueError(f"pair table lacks column(s) {missing}")
    for col in ("mated", "ok"):
        if not pairs[col].isin([True, False]).all():
            raise ValueError(f"pair column '{col}' must be boolean")
    score = pairs["score"].to_numpy(dtype=np.float64)
    mated = pairs["mated"].to_numpy(dtype=bool)
    ok = pairs["ok"].to_numpy(dtype=bool)
    bad = ok & ~np.isfinite(score)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} pair(s) marked ok have no finite score (first at row {int(np.argmax(bad))})")
    return score, mated, ok


def threshold_arrays(thresholds: Mapping[str, float] | None) -> tuple[list[str], np.ndarray]:
    """Names and values of named thresholds, checked: at least one, none NaN."""
    if not thresholds:
        raise ValueError("no thresholds given")
    names = list(thresholds)
    values = np.array([float(thresholds[k]) for k in names], dtype=np.float64)
    if np.any(np.isnan(values)):
        raise ValueError(f"threshold {names[int(np.argmax(np.isnan(values)))]!r} is NaN")
    return names, values


def pair_counts(pairs: pd.DataFrame, groups: Groups, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Error counts per threshold x group of a scored pair table.

    Parameters
    ----------
    pairs : DataFrame
        One row per pair: ``score`` (similarity, NaN where a side failed), ``mated``, ``ok`` (both
        images embedded), ``subject_a``, ``subject_b`` and ``<attr>_a``, ``<attr>_b`` for every
        column of ``groups``.
    groups : the attributes and intersections to count.
    thresholds : mapping threshold name -> similarity threshold (match iff score >= threshold).

    Returns
    -------
    DataFrame with ``COUNT_COLUMNS``, rows threshold-major (in mapping order), then the ``all``
    row, then the units of :meth:`Groups.pair_units`:

    * ``n_subjects``: distinct subjects among the unit's pairs, failed ones included, so that a
      group whose images all failed still shows its people (and its failures);
    * ``n_mated``, ``n_nonmated``: scored pairs; ``n_fnm`` (mated, score < t), ``n_fm``
      (non-mated, score >= t): errors among them;
    * ``n_failed``: the unit's pairs with a failed image; ``n_failed_mated``: the mated ones;
    * ``n_subjects_mated``, ``n_subjects_nonmated`` (``RATE_SUBJECT_COLUMNS``): the subjects
      behind the FNMR and the FMR, among the unit's scored mated and non-mated pairs.
    """
    names_t, values_t = threshold_arrays(thresholds)
    score, mated, ok = pair_arrays(pairs)
    subj_a = pairs["subject_a"].to_numpy()
    subj_b = pairs["subject_b"].to_numpy()
    units = groups.pair_units(pairs)

    n_units, n_thr = len(units), len(values_t)
    n_fm = np.zeros((n_thr, n_units), dtype=np.int64)
    n_fnm = np.zeros((n_thr, n_units), dtype=np.int64)
    per_unit = np.zeros((7, n_units), dtype=np.int64)  # n_nonmated, n_mated, n_subjects, n_failed, n_failed_mated,
    # n_subjects_mated, n_subjects_nonmated
    for u, (_, _, mask) in enumerate(units):
        scored = mask & ok
        n_fm[:, u], per_unit[0, u], n_fnm[:, u], per_unit[1, u] = error_counts(score[scored], mated[scored], values_t)
        per_unit[2, u] = count_subjects(subj_a, subj_b, mask)
        per_unit[3, u] = int(np.sum(mask & ~ok))
        per_unit[4, u] = int(np.sum(mask & ~ok & mated))
        for row, kind in ((5, scored & mated), (6, scored & ~mated)):
            per_unit[row, u] = count_subjects(subj_a, subj_b, kind)
    return pd.DataFrame(
        {
            "threshold_name": np.repeat(names_t, n_units),
            "threshold": np.repeat(values_t, n_units),
            "attribute": np.tile([u[0] for u in units], n_thr),
            "group": np.tile([u[1] for u in units], n_thr),
            "n_subjects": np.tile(per_unit[2], n_thr),
            "n_mated": np.tile(per_unit[1], n_thr),
            "n_nonmated": np.tile(per_unit[0], n_thr),
            "n_fnm": n_fnm.ravel(),
            "n_fm": n_fm.ravel(),
            "n_failed": np.tile(per_unit[3], n_thr),
            "n_failed_mated": np.tile(per_unit[4], n_thr),
            "n_subjects_mated": np.tile(per_unit[5], n_thr),
            "n_subjects_nonmated": np.tile(per_unit[6], n_thr),
        }
    )


def cross_group_cells(pairs: pd.DataFrame, groups: Groups, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Non-mated counts per unordered group cell of every attribute, from listed scored pairs.

    The order of a pair's two images carries no meaning (LFW's pairs.txt lists them arbitrarily),
    so a non-mated pair with sides in groups g and h lands in the one cell {g, h}. Every cell of
    every pair of groups seen among scored non-mated pairs is listed, empty ones with zeros, in the shape of the exhaustive
    protocol's :func:`frbench.scoring.exhaustive.cell_counts` (without its ``all`` rows), so
    :func:`frbench.metrics.curves.cross_group_from_cells` serves both protocols.

    Returns
    -------
    DataFrame with columns ``attribute, group_a, group_b, threshold_name, threshold, n_nonmated,
    n_fm``, one row per threshold x attribute x cell (``group_a <= group_b``).
    """
    names_t, values_t = threshold_arrays(thresholds)
    score, mated, ok = pair_arrays(pairs)
    keep = ok & ~mated
    parts = []
    for name in groups.names:
        la, lb = groups.side_labels(pairs, name)
        la, lb = la[keep], lb[keep]
        labels = np.array(sorted(set(la) | set(lb)), dtype=object)
        g = labels.size
        ca, cb = np.searchsorted(labels, la), np.searchsorted(labels, lb)
        low, high = np.minimum(ca, cb), np.maximum(ca, cb)
        cell = low * g + high
        ii, jj = np.triu_indices(g)
        n = np.bincount(cell, minlength=g * g).reshape(g, g)[ii, jj]
        for tname, value in zip(names_t, values_t):
            k = np.bincount(cell, weights=(score[keep] >= value), minlength=g * g).reshape(g, g)[ii, jj]
            parts.append(
                pd.DataFrame(
                    {"attribute": name, "group_a": labels[ii], "group_b": labels[jj], "threshold_name": tname,
                     "threshold": value, "n_nonmated": n.astype(np.int64), "n_fm": k.astype(np.int64)}
                )
            )
    columns = ["attribute", "group_a", "group_b", "threshold_name", "threshold", "n_nonmated", "n_fm"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
