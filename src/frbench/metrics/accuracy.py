"""Verification accuracy and true-accept rate at a run's thresholds, and at the best threshold.

Definitions (a pair matches when similarity >= threshold; failed pairs are left out, as in FMR and
FNMR):

* accuracy = (true matches + true non-matches) / scored pairs
  = (n_mated - n_fnm + n_nonmated - n_fm) / (n_mated + n_nonmated), the figure of the LFW protocol
  (Huang et al. 2007) when the threshold is chosen on other folds;
* TAR (true-accept rate) = 1 - FNMR = (n_mated - n_fnm) / n_mated, quoted at a target FMR in the
  ROC tradition (e.g. "TAR at FMR = 1e-3").

The **best** accuracy on a set of pairs, at the threshold chosen on those same pairs
(:func:`~frbench.metrics.thresholds.best_accuracy_threshold`), is what deepface's own benchmark
reports; it is optimistic, since the threshold has seen the pairs it is scored on, and is labelled
so wherever frbench shows it. With two folds or more, ``fold_accuracy.csv`` gives the unbiased
fold-calibrated figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from frbench.metrics.rates import rate, as_scores_and_labels, error_counts
from frbench.metrics.thresholds import best_accuracy_threshold

ACCURACY_COLUMNS = (
    "threshold_name", "threshold", "optimistic", "n_pairs", "n_mated", "n_nonmated", "n_correct", "accuracy", "tar",
)
BEST_ACCURACY = "best_accuracy"


def accuracy_from_counts(per_group: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and TAR at every threshold of a per-group table, from its ``all`` rows' counts.

    Parameters
    ----------
    per_group : DataFrame
        ``per_group.csv`` rows (:func:`frbench.metrics.grouped.per_group_rates`); the rows with
        attribute ``all`` are used: ``threshold_name, threshold, n_mated, n_nonmated, n_fnm, n_fm``.

    Returns
    -------
    DataFrame with the columns of ``ACCURACY_COLUMNS``, one row per threshold in table order,
    ``optimistic`` False (each threshold was fixed before counting: a preset, or set on non-mated
    scores only at a target FMR, or on other folds). Rates are NaN where their denominator is 0.
    """
    needed = ["attribute", "threshold_name", "threshold", "n_mated", "n_nonmated", "n_fnm", "n_fm"]
    missing = [c for c in needed if c not in per_group.columns]
    if missing:
        raise ValueError(f"per-group table lacks column(s) {missing}")
    rows = per_group[per_group["attribute"] == "all"].drop_duplicates("threshold_name")
    n_mated = rows["n_mated"].to_numpy(dtype=np.int64)
    n_nonmated = rows["n_nonmated"].to_numpy(dtype=np.int64)
    n_correct = n_mated - rows["n_fnm"].to_numpy(dtype=np.int64) + n_nonmated - rows["n_fm"].to_numpy(dtype=np.int64)
    n_pairs = n_mated + n_nonmated
    return pd.DataFrame(
        {
            "threshold_name": rows["threshold_name"].to_numpy(),
            "threshold": rows["threshold"].to_numpy(dtype=np.float64),
            "optimistic": False,
            "n_pairs": n_pairs,
            "n_mated": n_mated,
            "n_nonmated": n_nonmated,
            "n_correct": n_correct,
            "accuracy": rate(n_correct, n_pairs),
            "tar": rate(n_mated - rows["n_fnm"].to_numpy(dtype=np.int64), n_mated),
        },
        columns=list(ACCURACY_COLUMNS),
    )


def best_accuracy(scores: ArrayLike, mated: ArrayLike) -> pd.DataFrame:
    """One row: the highest accuracy any threshold reaches on these pairs, and that threshold.

    The threshold is :func:`~frbench.metrics.thresholds.best_accuracy_threshold` of the same
    scores, so the row is ``optimistic`` (module docstring). ``scores`` are the finite similarities
    of scored pairs; ``mated`` their labels. Columns as :func:`accuracy_from_counts`.
    """
    s, y = as_scores_and_labels(scores, mated)
    if s.size == 0:
        raise ValueError("no scored pairs to choose a threshold on")
    threshold = best_accuracy_threshold(s, y)
    n_fm, n_nonmated, n_fnm, n_mated = (int(v) for v in error_counts(s, y, threshold))
    n_correct = n_mated - n_fnm + n_nonmated - n_fm
    return pd.DataFrame(
        [
            {
                "threshold_name": BEST_ACCURACY,
                "threshold": threshold,
                "optimistic": True,
                "n_pairs": n_mated + n_nonmated,
                "n_mated": n_mated,
                "n_nonmated": n_nonmated,
                "n_correct": n_correct,
                "accuracy": n_correct / (n_mated + n_nonmated),
                "tar": (n_mated - n_fnm) / n_mated if n_mated else np.nan,
            }
        ],
        columns=list(ACCURACY_COLUMNS),
    )


def accuracy_table(per_group: pd.DataFrame, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """``accuracy.csv``: accuracy and TAR at every threshold, then the optimistic best-accuracy row.

    ``pairs`` is the scored pair table (``score``, ``mated``, ``ok``); without it (the exhaustive
    protocol keeps no non-mated scores) or without both mated and non-mated scored pairs, the
    best-accuracy row is left out: with one kind of pair only, any threshold beyond every score is
    "100 % accurate", which says nothing about the system.
    """
    table = accuracy_from_counts(per_group)
    if pairs is not None:
        ok = pairs["ok"].to_numpy(dtype=bool)
        mated = pairs["mated"].to_numpy(dtype=bool)
        if (ok & mated).any() and (ok & ~mated).any():
            best = best_accuracy(pairs["score"].to_numpy(dtype=np.float64)[ok], pairs["mated"].to_numpy(dtype=bool)[ok])
            table = pd.concat([table, best], ignore_index=True)
    return table
