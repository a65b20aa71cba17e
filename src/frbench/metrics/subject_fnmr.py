"""FNMR weighted by subject, and why a group's FNMR differs: its scores moved, or their spread.

**Pair-weighted FNMR** (per_group.csv's ``fnmr``) = false non-matches / mated pairs. Where a few
subjects hold most mated pairs it is their FNMR: of LFW's 242,257 mated pairs one man holds 58 %.
**Subject-weighted FNMR** = the mean over a group's subjects of each subject's own FNMR (share of
its mated pairs with similarity < T), so that every person counts once; NIST FRTE bounds mated
comparisons per person for the same reason. Its interval: the subject bootstrap (subjects drawn
with replacement; a subject drawn c times counts c times), percentile, as
:func:`frbench.metrics.intervals.bootstrap_interval`.

**Decomposition** (subject-weighted, at a global threshold T). With F_0 the distribution of all
mated scores and F_g the group's, medians m_0, m_g and interquartile ranges q_0, q_g:

* ``fnmr_all`` = F_0(T), ``fnmr_group`` = F_g(T) (shares below T);
* ``location`` = F_0(T - (m_g - m_0)) - F_0(T): the change if everyone's scores only moved by the
  group's median shift;
* ``spread`` = F_0(m_0 + (T - m_g) q_0 / q_g) - F_0(T - (m_g - m_0)): the further change if they also
  took the group's spread (IQR ratio);
* ``shape`` = F_g(T) - F_0(m_0 + (T - m_g) q_0 / q_g): what location and spread do not explain.

The three terms sum to ``fnmr_group - fnmr_all`` exactly (a sequential, Oaxaca-Blinder style
decomposition; its order, location first, is a choice and is stated with the table).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from frbench.groups import ALL, Groups
from frbench.metrics.intervals import bootstrap_interval, subject_codes, subject_draws
from frbench.metrics.score_shift import reported_groups, subject_weights, weighted_median

SUBJECT_FNMR_COLUMNS = (
    "threshold_name", "threshold", "attribute", "group", "n_subjects_mated", "n_mated", "largest_subject_share",
    "fnmr_pair_weighted", "fnmr_subject_weighted", "fnmr_subject_weighted_ci_low", "fnmr_subject_weighted_ci_high",
    "replicates",
)
DECOMPOSITION_COLUMNS = (
    "threshold_name", "threshold", "attribute", "group", "n_subjects_mated", "median", "median_all", "iqr", "iqr_all",
    "fnmr_all", "fnmr_group", "location", "spread", "shape",
)


def _mated(pairs: pd.DataFrame) -> pd.DataFrame:
    keep = pairs["ok"].to_numpy(dtype=bool) & pairs["mated"].to_numpy(dtype=bool)
    return pairs[keep].reset_index(drop=True)


def _units(mated: pd.DataFrame, groups: Groups) -> list[tuple[str, str, np.ndarray]]:
    units = [(ALL, ALL, np.ones(len(mated), dtype=bool))]
    for name in groups.names:
        la, same = groups.pair_group(mated, name)
        units += [(name, g, same & (la == g)) for g in reported_groups(la[same])]
    return units


def subject_weighted_fnmr(
    pairs: pd.DataFrame, groups: Groups, thresholds: Mapping[str, float], replicates: int = 1000, seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """subject_fnmr.csv: pair- and subject-weighted FNMR per threshold x group, the latter with an interval.

    ``pairs``: scored pairs as :func:`frbench.metrics.counts.pair_counts` takes them (only mated,
    ``ok`` pairs are used). ``largest_subject_share``: the share of the group's mated pairs its
    largest subject holds, how far the pair-weighted figure is one person's.
    """
    mated = _mated(pairs)
    if len(mated) == 0:
        return pd.DataFrame(columns=list(SUBJECT_FNMR_COLUMNS))
    score = mated["score"].to_numpy(dtype=np.float64)
    code, _, n_subjects = subject_codes(mated["subject_a"].to_numpy(), mated["subject_a"].to_numpy())
    draws = subject_draws(n_subjects, replicates, seed) if replicates else None
    rows = []
    for tname, t in thresholds.items():
        miss = score < float(t)
        for attribute, group, mask in _units(mated, groups):
            if not mask.any():
                continue
            c = code[mask]
            subjects, inverse, per_subject = np.unique(c, return_inverse=True, return_counts=True)
            f = np.bincount(inverse, weights=miss[mask]) / per_subject
            row = {
                "threshold_name": tname, "threshold": float(t), "attribute": attribute, "group": group,
                "n_subjects_mated": subjects.size, "n_mated": int(mask.sum()),
                "largest_subject_share": per_subject.max() / mask.sum(),
                "fnmr_pair_weighted": float(miss[mask].mean()), "fnmr_subject_weighted": float(f.mean()),
                "replicates": replicates,
            }
            if draws is not None:
                drawn = draws[:, subjects].astype(np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    reps = np.where(drawn.sum(axis=1) > 0, drawn @ f / drawn.sum(axis=1), np.nan)
                ci = bootstrap_interval(reps, level).iloc[0]
                row |= {"fnmr_subject_weighted_ci_low": ci["ci_low"], "fnmr_subject_weighted_ci_high": ci["ci_high"]}
            rows.append(row)
    return pd.DataFrame(rows, columns=list(SUBJECT_FNMR_COLUMNS))


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return float(x[order][np.argmax(cw >= cw[-1] * (q - 1e-12))])


def _share_below(x: np.ndarray, w: np.ndarray, t: float) -> float:
    return float(w[x < t].sum() / w.sum())


def fnmr_decomposition(pairs: pd.DataFrame, groups: Groups, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """fnmr_decomposition.csv: each group's subject-weighted FNMR minus everyone's, split into the
    location, spread and shape terms of the module docstring, at every threshold given."""
    mated = _mated(pairs)
    if len(mated) == 0 or not groups.names:
        return pd.DataFrame(columns=list(DECOMPOSITION_COLUMNS))
    score = mated["score"].to_numpy(dtype=np.float64)
    w = subject_weights(mated["subject_a"].to_numpy())
    m0 = weighted_median(score, w)
    q0 = _weighted_quantile(score, w, 0.75) - _weighted_quantile(score, w, 0.25)
    rows = []
    for tname, t in thresholds.items():
        t = float(t)
        f0 = _share_below(score, w, t)
        for attribute, group, mask in _units(mated, groups)[1:]:
            if not mask.any():
                continue
            x, wx = score[mask], w[mask]
            mg = weighted_median(x, wx)
            qg = _weighted_quantile(x, wx, 0.75) - _weighted_quantile(x, wx, 0.25)
            moved = _share_below(score, w, t - (mg - m0))
            scaled = _share_below(score, w, m0 + (t - mg) * q0 / qg) if qg > 0 and q0 > 0 else float("nan")
            fg = _share_below(x, wx, t)
            rows.append({
                "threshold_name": tname, "threshold": t, "attribute": attribute, "group": group,
                "n_subjects_mated": int(np.unique(mated["subject_a"].to_numpy()[mask]).size),
                "median": mg, "median_all": m0, "iqr": qg, "iqr_all": q0, "fnmr_all": f0, "fnmr_group": fg,
                "location": moved - f0, "spread": scaled - moved, "shape": fg - scaled,
            })
    return pd.DataFrame(rows, columns=list(DECOMPOSITION_COLUMNS))
