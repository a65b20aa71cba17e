"""What a set of comparisons can resolve: targets per threshold, power flags per group.

Every reporting rule about sample size lives here, with its constant (one home for each):

``RULE_OF_THREE`` (3)
    With 0 errors in n independent trials the one-sided 95% upper confidence bound on the rate is
    1 - 0.05^(1/n) ~ -ln(0.05)/n ~ 3/n (Hanley & Lippman-Hand, "If nothing goes wrong, is everything
    all right?", JAMA 249(13), 1983; Mansfield & Wayman, "Best practices in testing and reporting
    performance of biometric devices", NPL Report CMSC 14/02, 2002). A rate below 3/n
    cannot be told from 0, so a group **resolves** a reference rate p when 3/n <= p.
``RULE_OF_THIRTY`` (30)
    Doddington's rule of 30 (Doddington, Przybocki, Martin & Reynolds, "The NIST speaker
    recognition evaluation: overview, methodology, systems, results, perspective", Speech
    Communication 31, 2000; restated by Mansfield & Wayman 2002): to be 90% confident that the
    true rate lies within +-30% of the observed one, about 30 errors must be observed. A group
    **estimates** its rate when it has >= 30 errors, i.e. n >= 30 / rate at its observed rate.
``MIN_GROUP_SUBJECTS`` (10)
    A policy, not a theorem: a group with fewer subjects is shown in per_group.csv but left out
    of fairness summaries and group tests, and named in their ``excluded_groups``. Subjects are
    the unit of the bootstrap; with a handful of them a resample has only a few distinct values
    (a one-subject group's interval is a point), so the group cannot carry a disparity claim.
``MAX_UNDEFINED_SHARE`` (0.05)
    A bootstrap interval is not reported when more than this share of its replicates is
    undefined (:func:`frbench.metrics.intervals.bootstrap_interval`): the remaining replicates
    describe "the statistic given that it exists", which is biased (issue 14: 137 of 200
    replicates dropped gave an interval [3.43, 31.5] around a Fisher p of 0.063).
``MIN_DET_PAIRS`` (30)
    A DET curve is drawn for a group only with at least this many mated and non-mated pairs:
    30 trials resolve rates down to 0.1 by the rule of three, below which the curve is a few
    steps that read as a finding.
``MIN_BOOTSTRAP_REPLICATES`` (1000)
    Fewest bootstrap replicates behind a 95% percentile interval that frbench reports without a
    warning: its endpoints are the 2.5% and 97.5% quantiles, i.e. about the 25th smallest and
    largest of 1,000 values; with 200 they rest on 5 values each (Efron & Tibshirani, "An
    Introduction to the Bootstrap", 1993, section 19.3, advise 1,000 or more for percentile
    intervals). Statistics frbench bootstraps on its own (score shifts, subject-weighted FNMR)
    use this many when ``stats.bootstrap`` is 0; an interval from fewer says so.
``MIN_ERRORS`` (3)
    Fewest errors a ratio or inequality index of rates may rest on to be printed as a value: a
    max/min ratio or a Gini over groups whose rates rest on fewer errors in total is
    **not estimable** and is printed with its counts (one false match among 19 subjects makes
    an FMR ratio of 14.8 or a Gini of 1.0: a count, not a finding).
``ALPHA`` (0.05)
    Level of the group tests (:mod:`frbench.metrics.group_tests`) and of the rule of three.

Per threshold (:func:`threshold_resolution`): with n non-mated pairs and target FMR f, the
threshold of :func:`frbench.metrics.thresholds.threshold_at_fmr` allows k = floor(f * n) false
matches and **achieves** a (the false matches at or above it on the same n pairs; a < k when
scores tie at the boundary, since every tied score is rejected). The target is **resolvable**
when k >= 1 and 1 <= a <= k: the threshold lets at least one impostor through. With k = 0, or
with ties that leave a = 0, the threshold is just above the largest impostor score it rejects,
whatever f is, and :func:`threshold_label` says so instead of "FMR f" (5 impostors tied at 0.7
among 152 with f = 2e-2: k = 3, a = 0, the same threshold as an unresolvable 1e-3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frbench.groups import ALL
from frbench.metrics.rates import rate
from frbench.metrics.thresholds import _allowed_false_matches
from frbench.points import rate_text
from frbench.tables import INTERSECTION_SEP, NOT_A_GROUP

RULE_OF_THREE = 3.0
RULE_OF_THIRTY = 30
MIN_GROUP_SUBJECTS = 10
MAX_UNDEFINED_SHARE = 0.05
MIN_DET_PAIRS = 30
MIN_BOOTSTRAP_REPLICATES = 1000
MIN_ERRORS = 3
ALPHA = 0.05


def _counts(n: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(n, dtype=np.float64)
    if np.any(np.isnan(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be whole numbers >= 0")
    return arr


def allowed_false_matches(n_nonmated: ArrayLike, target: ArrayLike) -> NDArray[np.int64]:
    """k = floor(target * n): false matches the threshold at ``target`` allows among n non-mated pairs.

    The same rule as :func:`frbench.metrics.thresholds.threshold_at_fmr` (exact in floating
    point), broadcast over arrays.
    """
    n = _counts(n_nonmated, "n_nonmated")
    t = np.asarray(target, dtype=np.float64)
    if np.any(np.isnan(t)) or np.any(t < 0) or np.any(t > 1):
        raise ValueError("target FMR must be in [0, 1]")
    n, t = np.broadcast_arrays(n, t)
    out = np.array([_allowed_false_matches(float(ti), int(ni)) for ni, ti in zip(n.ravel(), t.ravel())], dtype=np.int64)
    return out.reshape(n.shape)


def threshold_label(threshold_name: str, target_fmr: float, n_nonmated: int, n_fm_achieved: int | None = None) -> str:
    """What a threshold is, in words: the one text every table and plot uses for it.

    A threshold without a target (deepface's default, a fixed value; ``target_fmr`` NaN) is its
    name. A target-FMR threshold is "FMR <= f" only when its target is resolvable (k >= 1 allowed
    false matches and, where ``n_fm_achieved`` is given, at least one achieved); with k = 0 it is
    "above every impostor score", with ties that leave none "above every impostor score tied at
    the boundary", with k >= n "at the lowest impostor score" (every non-mated pair matches).
    """
    if target_fmr is None or math.isnan(target_fmr):
        return threshold_name
    n = int(n_nonmated)
    if n == 0:
        return f"{threshold_name}: no non-mated pairs to set it on"
    k = int(allowed_false_matches(n, target_fmr))
    if k == 0:
        return (
            f"above every impostor score (target FMR {rate_text(target_fmr)} unresolvable: "
            f"floor({target_fmr:g} x {n:,}) = 0 false matches allowed)"
        )
    if n_fm_achieved is not None and int(n_fm_achieved) == 0:
        return (
            f"above every impostor score (target FMR {rate_text(target_fmr)} unresolvable: {k:,} of {n:,} false matches "
            "allowed, but the highest impostor scores tie at the boundary and all are rejected: 0 achieved)"
        )
    if k >= n:
        return "at the lowest impostor score (every non-mated pair matches)"
    achieved = "" if n_fm_achieved is None else f", {int(n_fm_achieved):,} achieved"
    return f"FMR <= {rate_text(target_fmr)} ({k:,} of {n:,} non-mated pairs may match{achieved})"


def threshold_resolution(
    threshold_names: Sequence[str], target_fmr: ArrayLike, n_nonmated: ArrayLike, n_fm_achieved: ArrayLike | None = None
) -> pd.DataFrame:
    """Per threshold: the non-mated pairs it was set on, k allowed and a achieved false matches,
    resolvability, label.

    Parameters
    ----------
    threshold_names : names, e.g. ``["deepface_default", "fmr=1e-03"]``.
    target_fmr : the target of each threshold; NaN for thresholds without one.
    n_nonmated : scored non-mated pairs the threshold was set on (its calibration set: the ``all``
        row's pairs for a global threshold, the other folds' for a fold's).
    n_fm_achieved : false matches the threshold gives on those same pairs; NaN where unknown.

    Returns
    -------
    DataFrame with ``threshold_name, target_fmr, n_nonmated, k_allowed, n_fm_achieved, resolvable,
    min_resolvable_target, label``: ``k_allowed`` = floor(f * n) (NA without a target),
    ``resolvable`` = k >= 1 and 1 <= a <= k where a is known, k >= 1 otherwise (NA without a
    target), ``min_resolvable_target`` = 1 / n, the lowest target these pairs can resolve,
    ``label`` from :func:`threshold_label`.
    """
    names = list(threshold_names)
    t = np.asarray(target_fmr, dtype=np.float64).reshape(-1)
    n = _counts(n_nonmated, "n_nonmated").reshape(-1)
    a = np.full(n.shape, np.nan) if n_fm_achieved is None else np.asarray(n_fm_achieved, dtype=np.float64).reshape(-1)
    if not (len(names) == t.size == n.size == a.size):
        raise ValueError(f"need one target and one n per threshold: {len(names)}, {t.size}, {n.size}, {a.size}")
    has = ~np.isnan(t)
    k = pd.array([int(allowed_false_matches(ni, ti)) if h else pd.NA for ni, ti, h in zip(n, t, has)], dtype="Int64")
    achieved = pd.array([pd.NA if np.isnan(ai) else int(ai) for ai in a], dtype="Int64")

    def resolvable(ki: int, ai: float) -> bool:
        return bool(ki >= 1 and (np.isnan(ai) or 1 <= ai <= ki))

    with np.errstate(divide="ignore"):
        min_target = np.where(n > 0, 1.0 / np.where(n > 0, n, 1), np.nan)
    return pd.DataFrame(
        {
            "threshold_name": names,
            "target_fmr": t,
            "n_nonmated": n.astype(np.int64),
            "k_allowed": k,
            "n_fm_achieved": achieved,
            "resolvable": pd.array([resolvable(ki, ai) if h else pd.NA for ki, ai, h in zip(k, a, has)], dtype="boolean"),
            "min_resolvable_target": min_target,
            "label": [threshold_label(nm, ti, int(ni), None if np.isnan(ai) else int(ai))
                      for nm, ti, ni, ai in zip(names, t, n, a)],
        }
    )


def rule_of_three_bound(n: ArrayLike) -> NDArray[np.float64]:
    """3 / n: the approximate 95% upper bound on a rate with 0 errors in n trials; NaN where n = 0."""
    arr = _counts(n, "n")
    return rate(np.full(arr.shape, RULE_OF_THREE), arr)


def resolves(n: ArrayLike, reference: ArrayLike) -> NDArray[np.bool_]:
    """Rule of three: True where 3 / n <= reference, i.e. n trials could tell a rate of ``reference`` from 0.

    False where n = 0 or the reference is 0 or NaN (no rate to resolve).
    """
    bound = rule_of_three_bound(n)
    ref = np.asarray(reference, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray((bound <= ref) & (ref > 0), dtype=bool)


def estimates(n_errors: ArrayLike) -> NDArray[np.bool_]:
    """Rule of 30: True where at least 30 errors were observed, enough to estimate the rate to +-30%."""
    return np.asarray(_counts(n_errors, "n_errors") >= RULE_OF_THIRTY, dtype=bool)


def trials_needed(rate: ArrayLike, errors: float = RULE_OF_THIRTY) -> NDArray[np.float64]:
    """ceil(errors / rate): trials needed to expect ``errors`` errors at ``rate`` (inf at rate 0).

    With ``errors=RULE_OF_THREE`` this is the size that resolves ``rate``; with the default 30
    the size that estimates it.
    """
    r = np.asarray(rate, dtype=np.float64)
    if np.any(r < 0) or np.any(r > 1):
        raise ValueError("rates must be in [0, 1]")
    with np.errstate(divide="ignore", invalid="ignore"):
        # The small relative slack keeps 3 / 0.001 from rounding up to 3001.
        return np.where(r > 0, np.ceil(errors / np.where(r > 0, r, 1) * (1 - 1e-12)), np.inf)


def summary_eligibility(
    groups: ArrayLike,
    n_subjects: ArrayLike,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
    """Which groups enter fairness summaries and group tests, and why each other one does not.

    A group is left out when its label (or a part of an intersection, ``unknown+female``) is in
    ``exclude_groups`` ("not a demographic group"), or when it has fewer than ``min_subjects``
    subjects (``MIN_GROUP_SUBJECTS``). ``n_subjects`` should count the subjects of *all* the
    group's pairs, failed ones included, so that a group whose images all failed is not hidden
    as "0 subjects" but reaches the generalised rates.

    Returns
    -------
    eligible : bool array
    reason : str array, "" for eligible groups, e.g. ``"3 subjects < 10"`` or ``"label unknown"``.
    """
    g = np.asarray(groups, dtype=object).reshape(-1)
    n = _counts(n_subjects, "n_subjects").reshape(-1)
    if g.size != n.size:
        raise ValueError(f"need one n_subjects per group: {g.size} vs {n.size}")
    if min_subjects < 0:
        raise ValueError(f"min_subjects must be >= 0, got {min_subjects}")
    exclude = set(exclude_groups)
    reason = np.full(g.size, "", dtype=object)
    for i, (name, count) in enumerate(zip(g, n)):
        labels = [part for part in str(name).split(INTERSECTION_SEP) if part in exclude]
        if labels:
            reason[i] = f"label {labels[0]}"
        elif count < min_subjects:
            reason[i] = f"{int(count)} subject{'s' if count != 1 else ''} < {min_subjects}"
    return reason == "", reason


POWER_COLUMNS = (
    "target_fmr",
    "fmr_reference",
    "fnmr_reference",
    "fmr_rule3_bound",
    "fnmr_rule3_bound",
    "fmr_resolves",
    "fnmr_resolves",
    "fmr_estimable",
    "fnmr_estimable",
    "fmr_in_summaries",
    "fnmr_in_summaries",
    "in_summaries",
    "excluded_because",
)
# the subjects behind each rate (frbench.metrics.counts.RATE_SUBJECT_COLUMNS)
RATE_SUBJECTS = {"fmr": "n_subjects_nonmated", "fnmr": "n_subjects_mated"}


def rate_eligibility(
    table: pd.DataFrame, rate: str, min_subjects: int = MIN_GROUP_SUBJECTS, exclude_groups: Sequence[str] = NOT_A_GROUP
) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
    """:func:`summary_eligibility` of each row for one rate (``fmr`` or ``fnmr``), counting the
    subjects behind that rate's numerator and denominator (``n_subjects_nonmated`` for FMR,
    ``n_subjects_mated`` for FNMR) where the table has them, else ``n_subjects``.

    A group's FMR rests on the subjects of its scored non-mated pairs, not on every subject it
    has: 11 non-mated pairs among 19 subjects are 19 subjects' evidence, even when the group has
    57; a group with no non-mated pair has no FMR subjects at all.
    """
    column = RATE_SUBJECTS[rate]
    counts = table[column] if column in table.columns else table["n_subjects"]
    return summary_eligibility(table["group"].astype(str).to_numpy(), counts, min_subjects, exclude_groups)


def group_power(
    counts: pd.DataFrame,
    targets: Mapping[str, float] | None = None,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
) -> pd.DataFrame:
    """Power flags of every row of a counts table (per_group.csv), the ``all`` row included.

    Parameters
    ----------
    counts : one row per threshold_name x attribute x group with at least ``threshold_name,
        attribute, group, n_subjects, n_mated, n_fnm, n_nonmated, n_fm``; each threshold needs
        its ``all`` row (attribute ``all``), whose rates are the references below.
    targets : threshold_name -> target FMR, for the thresholds set at a target (also
        ``fold:fmr=...`` rows if wanted); other thresholds have none.
    min_subjects, exclude_groups : see :func:`summary_eligibility`.

    Returns
    -------
    DataFrame on the index of ``counts`` with ``POWER_COLUMNS``:

    * ``target_fmr``: the row's target, NaN for thresholds without one;
    * ``fmr_reference``: the rate a group's non-mated pairs should resolve: the target where
      there is one and the ``all`` row has a false match at that threshold (0 where it has none:
      the target was not achieved, nothing resolves it), else the ``all`` row's observed FMR;
      ``fnmr_reference``: the ``all`` row's observed FNMR at that threshold;
    * ``*_rule3_bound``: 3 / n (:func:`rule_of_three_bound`);
    * ``*_resolves``: rule of three against the reference (:func:`resolves`);
    * ``*_estimable``: rule of 30 on the observed errors (:func:`estimates`);
    * ``fmr_in_summaries`` / ``fnmr_in_summaries``: :func:`rate_eligibility`, the subjects
      behind each rate counted; ``in_summaries``: either rate enters; ``excluded_because``: why a
      rate does not, e.g. ``"FMR: 4 subjects < 10"`` (the ``all`` row is never in a summary; its
      reason is ``"all"``).
    """
    needed = ("threshold_name", "attribute", "group", "n_subjects", "n_mated", "n_fnm", "n_nonmated", "n_fm")
    missing = [c for c in needed if c not in counts.columns]
    if missing:
        raise ValueError(f"counts table lacks column(s) {missing}")
    targets = dict(targets or {})
    for name, value in targets.items():
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"target FMR of {name!r} must be in [0, 1], got {value}")
    is_all = (counts["attribute"] == ALL).to_numpy()
    overall = counts[is_all].drop_duplicates("threshold_name").set_index("threshold_name")
    absent = sorted(set(counts["threshold_name"]) - set(overall.index))
    if absent:
        raise ValueError(f"counts table has no 'all' row for threshold(s) {absent}")
    with np.errstate(invalid="ignore", divide="ignore"):
        all_fmr = overall["n_fm"] / overall["n_nonmated"].where(overall["n_nonmated"] > 0)
        all_fnmr = overall["n_fnm"] / overall["n_mated"].where(overall["n_mated"] > 0)
    names = counts["threshold_name"]
    target = names.map(lambda n: float(targets.get(n, np.nan))).to_numpy(dtype=np.float64)
    observed = names.map(all_fmr).to_numpy(dtype=np.float64)
    # A target threshold that lets no impostor through (k = 0, or ties rejected at the boundary)
    # is only "above every impostor score": its reference rate is the 0 it achieved, which no
    # group resolves (the target it missed is not a rate these pairs measured).
    fmr_ref = np.where(np.isnan(target), observed, np.where(observed == 0, 0.0, target))
    fnmr_ref = names.map(all_fnmr).to_numpy(dtype=np.float64)
    fmr_ok, fmr_why = rate_eligibility(counts, "fmr", min_subjects, exclude_groups)
    fnmr_ok, fnmr_why = rate_eligibility(counts, "fnmr", min_subjects, exclude_groups)
    reason = np.array([
        a if a == b else "; ".join(f"{k}: {w}" for k, w in (("FMR", a), ("FNMR", b)) if w)
        for a, b in zip(fmr_why, fnmr_why)
    ], dtype=object)
    reason = np.where(is_all, ALL, reason)
    return pd.DataFrame(
        {
            "target_fmr": target,
            "fmr_reference": fmr_ref,
            "fnmr_reference": fnmr_ref,
            "fmr_rule3_bound": rule_of_three_bound(counts["n_nonmated"]),
            "fnmr_rule3_bound": rule_of_three_bound(counts["n_mated"]),
            "fmr_resolves": resolves(counts["n_nonmated"], fmr_ref),
            "fnmr_resolves": resolves(counts["n_mated"], fnmr_ref),
            "fmr_estimable": estimates(counts["n_fm"]),
            "fnmr_estimable": estimates(counts["n_fnm"]),
            "fmr_in_summaries": fmr_ok & ~is_all,
            "fnmr_in_summaries": fnmr_ok & ~is_all,
            "in_summaries": (fmr_ok | fnmr_ok) & ~is_all,
            "excluded_because": reason,
        },
        index=counts.index,
    )
