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
decomposition; its order, location first, is a choice and is stated with the table). Each term
has a subject-bootstrap percentile interval, subjects resampled within their group
(:func:`fnmr_decomposition`); tests/metrics/test_subject_fnmr.py measures its coverage of a known
decomposition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from frbench.groups import ALL, Groups
from frbench.metrics.intervals import NOT_REPORTED, bootstrap_interval, subject_codes, subject_draws
from frbench.metrics.power import MAX_UNDEFINED_SHARE
from frbench.metrics.score_shift import reported_groups, subject_weights, weighted_median

SUBJECT_FNMR_COLUMNS = (
    "threshold_name", "threshold", "attribute", "group", "n_subjects_mated", "n_mated", "largest_subject_share",
    "fnmr_pair_weighted", "fnmr_subject_weighted", "fnmr_subject_weighted_ci_low", "fnmr_subject_weighted_ci_high",
    "replicates",
)
DECOMPOSITION_PARTS = ("location", "spread", "shape")
DECOMPOSITION_COLUMNS = (
    "threshold_name", "threshold", "attribute", "group", "n_subjects_mated", "median", "median_all", "iqr", "iqr_all",
    "fnmr_all", "fnmr_group", *DECOMPOSITION_PARTS,
    *(f"{part}_ci_{end}" for part in DECOMPOSITION_PARTS for end in ("low", "high")), "replicates", "ci_note",
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
    total = w.sum()
    return float(w[x < t].sum() / total) if total > 0 else float("nan")


def _location_and_scale(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(weighted median, weighted IQR) of ``x`` sorted ascending; NaN when no weight is left."""
    if not w.sum() > 0:
        return float("nan"), float("nan")
    return weighted_median(x, w), _weighted_quantile(x, w, 0.75) - _weighted_quantile(x, w, 0.25)


def _decompose(
    score: np.ndarray, w: np.ndarray, order: np.ndarray, units: Sequence[tuple[str, str, np.ndarray, np.ndarray]],
    thresholds: Mapping[str, float],
) -> dict[tuple[str, str, str], dict[str, float]]:
    """The module docstring's decomposition of each unit (attribute, group, pair mask, its pairs in
    score order) at each threshold, under pair weights ``w``: the point estimate with the subject
    weights, a bootstrap replicate with them times the subjects' draw counts. ``order`` sorts
    ``score``; quantiles use the sorted scores, shares the pairs' own order."""
    m0, q0 = _location_and_scale(score[order], w[order])
    out = {}
    for tname, t in thresholds.items():
        t = float(t)
        f0 = _share_below(score, w, t)
        for attribute, group, mask, inner in units:
            x, wx = score[mask], w[mask]
            mg, qg = _location_and_scale(x[inner], wx[inner])
            moved = _share_below(score, w, t - (mg - m0))
            scaled = _share_below(score, w, m0 + (t - mg) * q0 / qg) if qg > 0 and q0 > 0 else float("nan")
            fg = _share_below(x, wx, t)
            out[tname, attribute, group] = {
                "median": mg, "median_all": m0, "iqr": qg, "iqr_all": q0, "fnmr_all": f0, "fnmr_group": fg,
                "location": moved - f0, "spread": scaled - moved, "shape": fg - scaled,
            }
    return out


def _within_group_draws(
    subject: np.ndarray, code: np.ndarray, n_subjects: int, pair_key: np.ndarray, replicates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Subject draw counts (replicates, n_subjects), each subject drawn among the subjects of its
    stratum: those whose mated pairs lie in the same groups (``pair_key`` per pair), so that every
    group keeps its number of subjects in every replicate."""
    pattern = pd.Series(pair_key).groupby(code).agg(lambda v: "\x1f".join(sorted(set(v))))
    stratum = np.zeros(n_subjects, dtype=np.int64)
    stratum[pattern.index.to_numpy()] = pd.factorize(pattern.to_numpy(), sort=True)[0]
    draws = np.zeros((replicates, n_subjects), dtype=np.int64)
    for s in range(int(stratum.max()) + 1):
        members = np.flatnonzero(stratum == s)
        draws[:, members] = subject_draws(members.size, replicates, rng)
    return draws


def fnmr_decomposition(
    pairs: pd.DataFrame, groups: Groups, thresholds: Mapping[str, float], replicates: int = 0, seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """fnmr_decomposition.csv: each group's subject-weighted FNMR minus everyone's, split into the
    location, spread and shape terms of the module docstring, at every threshold given.

    Intervals (``<part>_ci_low/_ci_high``): subject-bootstrap percentile intervals at ``level``
    from ``replicates`` resamples (0: none) drawn with ``np.random.default_rng(seed)``. Subjects
    are resampled within their group (a subject with pairs in several groups, or in none, among
    the subjects with the same groups), so every group keeps its number of subjects; everyone's
    distribution is made of the same resampled subjects. A part undefined in a resample (an
    interquartile range of 0 leaves spread and shape undefined) is left out of it; where that
    happens in more than 5% of resamples the interval is withheld, by the rule of
    :func:`frbench.metrics.intervals.bootstrap_interval`, and ``ci_note`` says why.
    """
    mated = _mated(pairs)
    if len(mated) == 0 or not groups.names:
        return pd.DataFrame(columns=list(DECOMPOSITION_COLUMNS))
    score = mated["score"].to_numpy(dtype=np.float64)
    subject = mated["subject_a"].to_numpy()
    w = subject_weights(subject)
    order = np.argsort(score, kind="stable")
    code, _, n_subjects = subject_codes(subject, subject)
    rng = np.random.default_rng(seed)
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    for name in groups.names:
        la, same = groups.pair_group(mated, name)
        units = [(name, g, mask, np.argsort(score[mask], kind="stable"))
                 for g in reported_groups(la[same]) for mask in [same & (la == g)] if mask.any()]
        point = _decompose(score, w, order, units, thresholds)
        reps: dict[tuple[str, str, str], list[list[float]]] = {key: [] for key in point}
        if replicates:
            pair_key = np.where(same, la.astype(str), "")
            draws = _within_group_draws(subject, code, n_subjects, pair_key, replicates, rng)
            for r in range(replicates):
                for key, terms in _decompose(score, w * draws[r, code], order, units, thresholds).items():
                    reps[key].append([terms[part] for part in DECOMPOSITION_PARTS])
        for (tname, attribute, group), terms in point.items():
            mask = next(u[2] for u in units if u[1] == group)
            row = {"threshold_name": tname, "threshold": float(thresholds[tname]), "attribute": attribute,
                   "group": group, "n_subjects_mated": int(np.unique(subject[mask]).size), **terms,
                   "replicates": replicates, "ci_note": ""}
            if replicates:
                row |= _decomposition_intervals(np.array(reps[tname, attribute, group]), level)
            rows[tname, attribute, group] = row
    # threshold-major, then attributes and groups
    ordered = [rows[key] for tname in thresholds for key in rows if key[0] == tname]
    return pd.DataFrame(ordered, columns=list(DECOMPOSITION_COLUMNS))


def _decomposition_intervals(reps: np.ndarray, level: float) -> dict[str, object]:
    """``<part>_ci_low/_ci_high`` and ``ci_note`` from replicates (replicates, parts)."""
    ci = bootstrap_interval(reps, level)
    out: dict[str, object] = {}
    withheld = []
    for j, part in enumerate(DECOMPOSITION_PARTS):
        out[f"{part}_ci_low"], out[f"{part}_ci_high"] = ci["ci_low"].iloc[j], ci["ci_high"].iloc[j]
        if ci["ci_status"].iloc[j] == NOT_REPORTED:
            withheld.append(f"{part} (undefined in {ci['undefined_share'].iloc[j]:.0%} of resamples)")
    if withheld:
        out["ci_note"] = (f"interval withheld for {', '.join(withheld)}: more than {MAX_UNDEFINED_SHARE:.0%} "
                          "undefined (an interquartile range of 0 in the resample)")
    return out
