"""Aggregate equitability measures over the groups of one attribute at one threshold.

Each measure summarises the per-group rates of per_group.csv in one number (ISO/IEC 19795-10
asks for such aggregates next to the per-group rates):

* max/min ratio of FMR and of FNMR, and max over geometric mean (Grother, NIST FRVT Part 8,
  "Summarizing demographic differentials", NISTIR 8429 draft, 2022); the same ratios of the
  generalised rates GFAR and GFRR (:mod:`frbench.metrics.generalized`) where the table has them;
* Fairness Discrepancy Rate, FDR (de Freitas Pereira & Marcel, "Fairness in biometrics: a figure
  of merit to assess biometric verification systems", IEEE T-BIOM 4(1), 2022; arXiv:2011.02395);
* Inequity Rate, IR (the NIST proposal as written in Howard et al. 2022, below);
* GARBE, Gini Aggregation Rate for Biometric Equitability (Howard, Laird, Rubin, Sirotin, Tipton &
  Vemury, "Evaluating proposed fairness models for face recognition algorithms", ICPR 2022
  workshops; arXiv:2203.05051);
* Fairlearn's ``difference()`` and ``ratio()`` (between groups): ``<rate>_difference`` = max - min
  and ``<rate>_ratio`` = min / max (<= 1), beside frbench's max/min;
* ``balanced_error_ratio``: max/min over groups of (FMR + FNMR) / 2 at the *global* threshold.
  It is not Wang & Deng's skewed error ratio, which sets each group at its own threshold; that
  one is :func:`skewed_error_ratio` over :func:`own_threshold_errors` (``measure`` ``ser``).

Rules for undefined values (issue 14; each also stated in the row's ``definition``):

1. **No floors, no clamps.** A ratio whose denominator is 0 while its numerator is not is
   **unbounded** (``value`` inf, ``status`` ``unbounded``); 0/0 (every group without errors) is
   **undefined** (NaN, ``undefined``); so is any measure over fewer than 2 groups. A zero rate is
   never replaced by 3/n, and no ratio is raised to 1: with a zero in n trials the data say the
   rate is below about 3/n, not what it is, and the group tests of
   :mod:`frbench.metrics.group_tests` are the statement to make then. ``reason`` names the
   groups and counts behind every unbounded or undefined value.
2. A Gini coefficient of all-zero rates is undefined (0/0), so GARBE is too; FDR (differences of
   rates) is defined whenever there are 2 groups.
3. A combined measure is undefined when a component with positive weight is, else unbounded
   when one is.
4. **Who is compared.** Groups excluded by :mod:`frbench.metrics.group_rules` (label
   ``unknown``, fewer than ``min_subjects`` subjects behind the rate compared: those of its
   non-mated pairs for FMR, of its mated pairs for FNMR) and groups without a defined rate (no
   scored pairs of that kind) are left out and listed, with the reason, in ``excluded_groups``.
   The rates are named by a :class:`~frbench.metrics.group_rules.RateSet` (``rates``), so 1:N
   tables (FPIR, FNIR) get the same measures as 1:1 ones.
5. **Bootstrap** (:func:`fairness_bootstrap`): each replicate recomputes the measure over the
   *same* groups as the point estimate. A replicate in which one of them has no pairs is
   undefined for that measure (it is not silently computed over fewer groups); unbounded
   replicates count as +inf. :func:`frbench.metrics.intervals.bootstrap_interval` then reports
   the interval, the shares of undefined and unbounded replicates, and no interval at all when
   more than ``MAX_UNDEFINED_SHARE`` (5%) are undefined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frbench.groups import ALL, Groups
from frbench.metrics.counts import pair_arrays
from frbench.metrics.group_rules import (
    SUMMARY_COLUMNS,  # noqa: F401  (fairness.csv's columns, imported from here by callers)
    UNDEFINED,
    VERIFICATION_RATES,
    Rate,
    RateSet,
    count_subjects,
    left_out,
    measure_eligibility,
    rate_eligibility,
    status_of,
    summary_frame,
    summary_row,
)
from frbench.metrics.intervals import bootstrap_interval
from frbench.metrics.generalized import GENERALIZED_ADAPTATION
from frbench.metrics.power import MIN_ERRORS, MIN_GROUP_SUBJECTS, summary_eligibility
from frbench.tables import NOT_A_GROUP

BOOTSTRAP_SUMMARY_COLUMNS = ("ci_low", "ci_high", "undefined_share", "unbounded_share", "ci_status")
NOT_ESTIMABLE = "not_estimable"
NO_THRESHOLD = "none"  # threshold_name of measures that do not depend on a threshold (FTE)


def _rates(values: ArrayLike, name: str) -> NDArray[np.float64]:
    r = np.asarray(values, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {r.shape}")
    if np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
        raise ValueError(f"{name} must be rates in [0, 1]")
    return r


def _check_pair(fmr: np.ndarray, fnmr: np.ndarray, alpha: float) -> None:
    if fmr.shape != fnmr.shape:
        raise ValueError(f"fmr and fnmr need one value per group each, got {fmr.size} and {fnmr.size}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


# Kernels: rates of shape (replicates, groups), one value per replicate, NaN-free input.


def _max_min(r: np.ndarray) -> np.ndarray:
    if r.shape[1] < 2:
        return np.full(r.shape[0], np.nan)
    mx, mn = r.max(axis=1), r.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mn > 0, mx / np.where(mn > 0, mn, 1.0), np.where(mx > 0, np.inf, np.nan))


def _difference(r: np.ndarray) -> np.ndarray:
    if r.shape[1] < 2:
        return np.full(r.shape[0], np.nan)
    return r.max(axis=1) - r.min(axis=1)


def _min_max(r: np.ndarray) -> np.ndarray:
    if r.shape[1] < 2:
        return np.full(r.shape[0], np.nan)
    mx, mn = r.max(axis=1), r.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mx > 0, mn / np.where(mx > 0, mx, 1.0), np.nan)


def _max_geomean(r: np.ndarray) -> np.ndarray:
    if r.shape[1] < 2:
        return np.full(r.shape[0], np.nan)
    mx, mn = r.max(axis=1), r.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        geomean = np.exp(np.mean(np.log(np.where(r > 0, r, 1.0)), axis=1))
        return np.where(mn > 0, mx / geomean, np.where(mx > 0, np.inf, np.nan))


def _gini(x: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    if n < 2:
        return np.full(x.shape[0], np.nan)
    mean = x.mean(axis=1)
    total = np.abs(x[:, :, None] - x[:, None, :]).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, n / (n - 1) * total / (2.0 * n**2 * np.where(mean > 0, mean, 1.0)), np.nan)


def _fdr(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    if a.shape[1] < 2:
        return np.full(a.shape[0], np.nan)
    return 1.0 - (alpha * (a.max(axis=1) - a.min(axis=1)) + (1.0 - alpha) * (b.max(axis=1) - b.min(axis=1)))


def _inequity(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    # A ratio with weight 0 is left out, so that its being undefined cannot spoil the other.
    out = np.ones(a.shape[0])
    if alpha > 0:
        out = out * _max_min(a) ** alpha
    if alpha < 1:
        out = out * _max_min(b) ** (1.0 - alpha)
    return out


def _garbe(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    out = np.zeros(a.shape[0])
    if alpha > 0:
        out = out + alpha * _gini(a)
    if alpha < 1:
        out = out + (1.0 - alpha) * _gini(b)
    return out


def _one(kernel: Callable[..., np.ndarray], *rates: np.ndarray, **kw: float) -> float:
    return float(kernel(*(r[None, :] for r in rates), **kw)[0])


def max_min_ratio(rates: ArrayLike) -> float:
    """max_g r_g / min_g r_g over groups.

    inf (unbounded) when the minimum is 0 and the maximum is not; NaN (undefined) when every rate
    is 0 or there are fewer than 2 groups. No floor for zeros and no clamp (module rule 1).
    """
    return _one(_max_min, _rates(rates, "rates"))


def difference(rates: ArrayLike) -> float:
    """max_g r_g - min_g r_g: Fairlearn's ``MetricFrame.difference()`` (method ``between_groups``).

    NaN (undefined) with fewer than 2 groups; 0 = equal.
    """
    return _one(_difference, _rates(rates, "rates"))


def min_max_ratio(rates: ArrayLike) -> float:
    """min_g r_g / max_g r_g: Fairlearn's ``MetricFrame.ratio()`` (method ``between_groups``), <= 1.

    0 when some group's rate is 0 and another's is not; NaN (undefined) when every rate is 0 (0/0)
    or there are fewer than 2 groups; 1 = equal. It is the reciprocal of :func:`max_min_ratio`.
    """
    return _one(_min_max, _rates(rates, "rates"))


def max_geomean_ratio(rates: ArrayLike) -> float:
    """max_g r_g / (prod_g r_g)^(1/G) (NIST FRVT Part 8); zeros as in :func:`max_min_ratio`."""
    return _one(_max_geomean, _rates(rates, "rates"))


def fairness_discrepancy_rate(fmr: ArrayLike, fnmr: ArrayLike, alpha: float = 0.5) -> float:
    """FDR = 1 - (alpha * A + (1 - alpha) * B), A = max_ij |FMR_i - FMR_j|, B = max_ij |FNMR_i - FNMR_j|.

    de Freitas Pereira & Marcel (2022). 1 means equal rates; alpha weighs false matches. NaN with
    fewer than 2 groups.
    """
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, alpha)
    return _one(_fdr, a, b, alpha=alpha)


def inequity_rate(fmr: ArrayLike, fnmr: ArrayLike, alpha: float = 0.5) -> float:
    """IR = (max FMR / min FMR)^alpha * (max FNMR / min FNMR)^(1 - alpha) (Howard et al. 2022).

    Each ratio is :func:`max_min_ratio`; a ratio with weight 0 is left out; otherwise IR is NaN if
    a ratio is undefined and inf if one is unbounded (module rule 3). 1 means equal rates.
    """
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, alpha)
    return _one(_inequity, a, b, alpha=alpha)


def gini(values: ArrayLike) -> float:
    """Sample-corrected Gini coefficient: n/(n-1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean(x)).

    As used by GARBE (Howard et al. 2022): 0 for equal values, 1 when one group has all the
    errors. NaN (undefined, 0/0) when every value is 0 or there are fewer than 2 values.
    """
    return _one(_gini, _rates(values, "values"))


def garbe(fmr: ArrayLike, fnmr: ArrayLike, alpha: float = 0.25) -> float:
    """GARBE = alpha * Gini(FMR) + (1 - alpha) * Gini(FNMR) (Howard et al. 2022). 0 means equal rates.

    A term with weight 0 is left out; otherwise NaN where either Gini is undefined.
    """
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, alpha)
    return _one(_garbe, a, b, alpha=alpha)


def balanced_error_ratio(fmr: ArrayLike, fnmr: ArrayLike) -> float:
    """max_g e_g / min_g e_g with e_g = (FMR_g + FNMR_g) / 2, every group at the same (global) threshold.

    Formerly reported as "SER"; Wang & Deng's skewed error ratio sets each group at its own
    threshold (:func:`skewed_error_ratio`). Zeros as in :func:`max_min_ratio`.
    """
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, 0.5)
    return _one(_max_min, (a + b) / 2.0)


def skewed_error_ratio(errors: ArrayLike) -> float:
    """SER = max_g Error_g / min_g Error_g (Wang & Deng, "Mitigating bias in face recognition using
    skewness-aware reinforcement learning", CVPR 2020), Error_g = 1 - accuracy of group g with the
    group verified at its own threshold (RFW protocol; :func:`own_threshold_errors`).

    Zeros as in :func:`max_min_ratio`.
    """
    return max_min_ratio(errors)


def own_threshold_errors(
    scores: ArrayLike, mated: ArrayLike, groups: ArrayLike, folds: ArrayLike | None = None
) -> pd.DataFrame:
    """Per group, the verification error 1 - accuracy with the group at its own threshold.

    With ``folds`` (LFW / RFW View 2 style): each fold of the group is decided at the
    best-accuracy threshold of the group's other folds and the error is 1 - mean fold accuracy,
    Wang & Deng's (and RFW's) protocol. Without folds: 1 - accuracy at the group's best-accuracy
    threshold on all its pairs, an optimistic (resubstitution) error, flagged in ``protocol``.

    Parameters
    ----------
    scores, mated : arrays of shape (n,), scored pairs only.
    groups : group label of each pair (pairs in no group, e.g. cross-group, must be removed).
    folds : optional fold label of each pair.

    Returns
    -------
    DataFrame with ``group, n_pairs, n_mated, error, protocol, why_none``, groups sorted; ``error`` is NaN
    for a group lacking mated or non-mated pairs (or, with folds, with fewer than 2 folds).
    """
    from frbench.metrics.rates import as_scores_and_labels
    from frbench.metrics.thresholds import best_accuracy_threshold, fold_accuracy

    s, y = as_scores_and_labels(scores, mated)
    g = np.asarray(groups, dtype=object)
    if g.shape != s.shape:
        raise ValueError(f"groups must have one label per score: {g.shape} vs {s.shape}")
    f = None if folds is None else np.asarray(folds)
    if f is not None and f.shape != s.shape:
        raise ValueError(f"folds must have one label per score: {f.shape} vs {s.shape}")
    rows = []
    for group in sorted(set(g)):
        m = g == group
        row = {"group": group, "n_pairs": int(m.sum()), "n_mated": int(y[m].sum()), "error": np.nan, "why_none": ""}
        both_kinds = 0 < row["n_mated"] < row["n_pairs"]
        if not both_kinds:
            row["why_none"] = "lacks mated or non-mated pairs"
        if f is not None:
            row["protocol"] = "own threshold per fold, chosen on the group's other folds"
            n_folds = np.unique(f[m]).size
            if both_kinds and n_folds < 2:
                row["why_none"] = f"fewer than 2 folds ({n_folds})"
            elif both_kinds:
                row["error"] = 1.0 - float(fold_accuracy(s[m], y[m], f[m])["accuracy"].mean())
        else:
            row["protocol"] = "own best-accuracy threshold on all the group's pairs (optimistic)"
            if both_kinds:
                t = best_accuracy_threshold(s[m], y[m])
                row["error"] = 1.0 - float(np.mean((s[m] >= t) == y[m]))
        rows.append(row)
    return pd.DataFrame(rows, columns=["group", "n_pairs", "n_mated", "error", "protocol", "why_none"])


@dataclass(frozen=True)
class _Component:
    """One rate-like input of a measure, for the reasons and zero groups of its row."""

    label: str
    kind: str  # "ratio" (a zero minimum makes it unbounded) or "gini" (all zero makes it 0/0)
    weight: float
    value: Callable[[Sequence[np.ndarray]], np.ndarray]
    trials: int | None = 0  # which of the measure's rates gives the "(0 of n)" counts; None: none


@dataclass(frozen=True)
class _Measure:
    name: str
    rates: tuple[Rate, ...]
    kernel: Callable[[Sequence[np.ndarray]], np.ndarray]
    components: tuple[_Component, ...]
    definition: str


_UNDEFINED_RULE = "inf = unbounded (a zero in the denominator), NaN = undefined; no floor, no clamp"


def _adapted(rate: Rate) -> str:
    """GFAR/GFRR are frbench's per-pair adaptation of ISO/IEC 19795-1, named so wherever they appear."""
    return f"; {rate.label} {GENERALIZED_ADAPTATION}" if rate.generalized else ""


def _measures(
    alpha_fdr: float, alpha_ir: float, alpha_garbe: float, present: Sequence[Rate], rates: RateSet
) -> list[_Measure]:
    out = []
    for rate in present:
        label, name = rate.label, rate.name
        first = lambda x: x[0]  # noqa: E731
        comp = (_Component(label, "ratio", 1.0, first),)
        out.append(_Measure(f"{name}_max_min_ratio", (rate,), lambda x: _max_min(x[0]), comp,
                            f"max {label} / min {label} over groups; {_UNDEFINED_RULE}{_adapted(rate)}"))
        out.append(_Measure(f"{name}_max_geomean_ratio", (rate,), lambda x: _max_geomean(x[0]), comp,
                            f"max {label} / geometric mean of {label} over groups (NIST FRVT Part 8); {_UNDEFINED_RULE}"
                            f"{_adapted(rate)}"))
        # Fairlearn's names (MetricFrame.difference() and .ratio(), between groups), over the same groups
        out.append(_Measure(f"{name}_difference", (rate,), lambda x: _difference(x[0]), (),
                            f"max {label} - min {label} over groups (Fairlearn difference()); 0 = equal; "
                            "NaN = undefined (fewer than 2 groups)"))
        out.append(_Measure(f"{name}_ratio", (rate,), lambda x: _min_max(x[0]),
                            (_Component(label, "gini", 1.0, first),),
                            f"min {label} / max {label} over groups (Fairlearn ratio()), <= 1, 1 = equal; "
                            "0 where a group's rate is 0; NaN = undefined (every rate 0, or fewer than 2 groups)"))
    if all(r in present for r in rates.primary):
        both = rates.primary
        fm, fnm = (r.label for r in both)
        out.append(_Measure("fdr", both, lambda x: _fdr(x[0], x[1], alpha_fdr), (),
                            f"1 - ({alpha_fdr:g}*max|{fm}_i-{fm}_j| + {1 - alpha_fdr:g}*max|{fnm}_i-{fnm}_j|) "
                            "(de Freitas Pereira & Marcel 2022); 1 = equal"))
        out.append(_Measure(
            "inequity_rate", both, lambda x: _inequity(x[0], x[1], alpha_ir),
            (_Component(fm, "ratio", alpha_ir, lambda x: x[0]), _Component(fnm, "ratio", 1 - alpha_ir, lambda x: x[1], 1)),
            f"(max/min {fm})^{alpha_ir:g} * (max/min {fnm})^{1 - alpha_ir:g} (NIST, as in Howard et al. 2022); "
            f"1 = equal; {_UNDEFINED_RULE}"))
        out.append(_Measure(
            "garbe", both, lambda x: _garbe(x[0], x[1], alpha_garbe),
            (_Component(fm, "gini", alpha_garbe, lambda x: x[0]), _Component(fnm, "gini", 1 - alpha_garbe, lambda x: x[1], 1)),
            f"{alpha_garbe:g}*Gini({fm}) + {1 - alpha_garbe:g}*Gini({fnm}), Gini with n/(n-1) correction "
            "(Howard et al. 2022); 0 = equal; undefined when a weighted Gini is 0/0"))
        out.append(_Measure(
            "balanced_error_ratio", both, lambda x: _max_min((x[0] + x[1]) / 2.0),
            (_Component(f"({fm}+{fnm})/2", "ratio", 1.0, lambda x: (x[0] + x[1]) / 2.0, None),),
            f"max/min over groups of ({fm}+{fnm})/2, all groups at the global threshold (not Wang & Deng's SER, "
            f"which uses each group's own threshold); 1 = equal; {_UNDEFINED_RULE}"))
    return out


def _too_few_errors(part: pd.DataFrame, rates: Sequence[Rate], rate_set: RateSet, used: np.ndarray) -> str:
    """Why a measure is not estimable: its groups' rates rest on fewer than ``MIN_ERRORS`` errors
    in total (per rate), e.g. ``"FMR rests on 1 false match (1/11 female, 0/163 male) < 3"``; "" when enough."""
    by_name = {r.name: r for r in rate_set.all}
    for r in rates:
        # the errors a rate rests on: GFAR's are FMR's false matches; the subject-weighted FNMR's the same
        # false non-matches as FNMR's (GFRR also counts failed pairs, so it is left to its counts)
        basis = by_name.get(r.rests_on) if r.rests_on else None
        if basis is None or basis.errors is None or basis.errors not in part or basis.trials not in part:
            continue
        k = part[basis.errors].to_numpy()[used]
        if k.sum() < MIN_ERRORS:
            n = part[basis.trials].to_numpy()[used]
            counts = ", ".join(f"{a}/{b} {g}" for a, b, g in zip(k, n, part["group"].astype(str).to_numpy()[used]))
            # the error kind is the basis rate's; a generalised rate (GFAR: false matches over non-mated
            # pairs *and* failed ones) is named itself, with the counts marked as its basis's, whose
            # denominators they are
            name, whose = (r.label, f"{basis.label}'s: ") if r.generalized else (basis.label, "")
            return f"not estimable: {name} rests on {basis.errors_text(int(k.sum()))} ({whose}{counts}) < {MIN_ERRORS}"
    return ""


def _reason(measure: _Measure, rates: list[np.ndarray], groups: np.ndarray, trials: list[np.ndarray | None], value: float) -> tuple[str, str]:
    """(reason, zero_groups) of an observed measure."""
    zero_sets: list[str] = []
    reasons = []
    if groups.size < 2:
        return (f"fewer than 2 groups ({groups.size})" if not np.isfinite(value) else ""), ""
    for comp in measure.components:
        if comp.weight == 0:
            continue
        v = comp.value(rates)
        zero = v == 0
        counts = None if comp.trials is None else trials[comp.trials]
        names = [
            f"{groups[i]} (0 of {int(counts[i]):,})" if counts is not None else str(groups[i]) for i in np.flatnonzero(zero)
        ]
        zero_sets.extend(str(groups[i]) for i in np.flatnonzero(zero))
        if zero.all():
            reasons.append(f"every group's {comp.label} is 0 (0/0)")
        elif zero.any() and comp.kind == "ratio":
            reasons.append(f"{comp.label} is 0 in {', '.join(names)}: unbounded")
    zero_groups = ";".join(dict.fromkeys(zero_sets))
    return ("; ".join(reasons) if not np.isfinite(value) else ""), zero_groups


def _blocks(per_group: pd.DataFrame, rates: RateSet, min_subjects: int, exclude_groups: Sequence[str]):
    """(threshold_name, attribute, rows of the block, {primary rate: (eligible mask, reasons)}) per
    threshold x attribute: each rate's eligibility counts the subjects behind that rate."""
    table = per_group.reset_index(drop=True)
    table = table[table["attribute"] != ALL]
    for (threshold_name, attribute), part in table.groupby(["threshold_name", "attribute"], sort=False):
        by_rate = {r.name: rate_eligibility(part, r, min_subjects, exclude_groups) for r in rates.primary}
        yield str(threshold_name), str(attribute), part, by_rate


def _check_table(per_group: pd.DataFrame, rates: RateSet) -> None:
    needed = ("threshold_name", "attribute", "group", "n_subjects", *(r.name for r in rates.primary))
    missing = [c for c in needed if c not in per_group.columns]
    if missing:
        raise ValueError(f"per-group table lacks column(s) {missing}")


def _rows_and_columns(
    per_group: pd.DataFrame, alpha_fdr: float, alpha_ir: float, alpha_garbe: float, min_subjects: int,
    exclude_groups: Sequence[str], rates: RateSet,
) -> tuple[list[dict[str, object]], list[tuple[_Measure, np.ndarray]]]:
    """Summary rows, and for each row its measure and the per_group positions of the groups used."""
    _check_table(per_group, rates)
    present = [r for r in rates.all if r.name in per_group.columns]
    measures = _measures(alpha_fdr, alpha_ir, alpha_garbe, present, rates)
    positions = np.arange(len(per_group))
    table = per_group.reset_index(drop=True).assign(_pos=positions)
    rows: list[dict[str, object]] = []
    used_positions: list[tuple[_Measure, np.ndarray]] = []
    for threshold_name, attribute, part, by_rate in _blocks(table, rates, min_subjects, exclude_groups):
        groups = part["group"].astype(str).to_numpy()
        for m in measures:
            eligible, why = measure_eligibility(by_rate, m.rates, rates, len(part))
            values = [part[r.name].to_numpy(dtype=np.float64) for r in m.rates]
            has = np.logical_and.reduce([~np.isnan(v) for v in values])
            used = eligible & has
            excluded = left_out(groups, eligible, why)
            for i in np.flatnonzero(eligible & ~has):
                lacking = "/".join(r.label for r, v in zip(m.rates, values) if np.isnan(v[i]))
                excluded.append((groups[i], f"no {lacking}: no {rates.trials_text}"))
            obs = [v[used] for v in values]
            value = float(m.kernel([o[None, :] for o in obs])[0]) if used.any() else float("nan")
            trials = [part[r.trials].to_numpy()[used] if r.trials in part else None for r in m.rates]
            reason, zero_groups = _reason(m, obs, groups[used], trials, value)
            status = status_of(value)
            few = _too_few_errors(part, m.rates, rates, used)
            if few and status != UNDEFINED:
                # a ratio or index over a handful of errors is a count, not a finding (power.MIN_ERRORS)
                status, reason = NOT_ESTIMABLE, few
            rows.append(summary_row(threshold_name, attribute, m.name, value, list(groups[used]), excluded,
                                    m.definition, reason, zero_groups, status))
            used_positions.append((m, part["_pos"].to_numpy()[used]))
    return rows, used_positions


def fairness_summary(
    per_group: pd.DataFrame,
    alpha_fdr: float = 0.5,
    alpha_ir: float = 0.5,
    alpha_garbe: float = 0.25,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
    rates: RateSet = VERIFICATION_RATES,
) -> pd.DataFrame:
    """All measures, per threshold and attribute, as a tidy table (fairness.csv).

    Parameters
    ----------
    per_group : per_group.csv: ``threshold_name, attribute, group, n_subjects, fmr, fnmr`` (NaN
        where a group has no scored pairs of that kind), optionally ``n_nonmated, n_mated`` (for
        the counts in ``reason``) and ``gfar, gfrr`` (then their ratios are measures too).
    alpha_fdr, alpha_ir, alpha_garbe : weight of the FMR term in FDR, IR and GARBE. The weights
        are policy choices (how much a false match matters against a false non-match); every
        ``definition`` string states the value used.
    min_subjects, exclude_groups : which groups are compared (:mod:`frbench.metrics.group_rules`).
    rates : the table's rates (:class:`~frbench.metrics.group_rules.RateSet`): ``VERIFICATION_RATES``
        (``fmr``, ``fnmr``, ``gfar``, ...) or ``SEARCH_RATES`` (``fpir``, ``fnir``, ...), which name
        the measures (``fpir_max_min_ratio``) and their definitions.

    Returns
    -------
    DataFrame with ``SUMMARY_COLUMNS``: ``value`` (inf = unbounded, NaN = undefined), ``status``
    (``defined``, ``unbounded``, ``undefined``), ``reason`` (why it is not defined, naming groups
    and counts), ``groups`` compared and ``zero_groups`` among them (``;``-separated),
    ``excluded_groups`` with reasons, ``definition``. Rows follow the order of thresholds and
    attributes in ``per_group``, then a fixed order of measures.
    """
    rows, _ = _rows_and_columns(per_group, alpha_fdr, alpha_ir, alpha_garbe, min_subjects, exclude_groups, rates)
    return summary_frame(rows)


def fairness_bootstrap(
    per_group: pd.DataFrame,
    fmr_replicates: np.ndarray,
    fnmr_replicates: np.ndarray,
    level: float = 0.95,
    alpha_fdr: float = 0.5,
    alpha_ir: float = 0.5,
    alpha_garbe: float = 0.25,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
    max_undefined_share: float | None = None,
    other_replicates: Mapping[str, np.ndarray] | None = None,
    rates: RateSet = VERIFICATION_RATES,
) -> pd.DataFrame:
    """:func:`fairness_summary` with bootstrap intervals and the share of replicates that were undefined.

    Parameters
    ----------
    per_group : as for :func:`fairness_summary`.
    fmr_replicates, fnmr_replicates : shape (R, len(per_group)): replicate rates in the row order
        of ``per_group`` (:func:`frbench.metrics.grouped.bootstrap_replicates`, or
        :func:`frbench.metrics.threshold_bootstrap.threshold_bootstrap_replicates` to include the
        calibration's noise); NaN where a group has no pairs in the replicate.
    other_replicates : replicates of further rates, e.g. ``{"gfar": ..., "gfrr": ...}``; a measure
        of a rate without replicates gets no interval (``ci_status`` ``no_replicates``).
    max_undefined_share : see :func:`frbench.metrics.intervals.bootstrap_interval`.
    rates : as for :func:`fairness_summary`; ``fmr_replicates`` and ``fnmr_replicates`` are those
        of its false-match and false-non-match rates (FPIR and FNIR for ``SEARCH_RATES``).

    Returns
    -------
    The summary plus ``BOOTSTRAP_SUMMARY_COLUMNS``. Each replicate recomputes a measure over the
    groups of its point estimate; one of them missing makes the replicate undefined (module
    rule 5).
    """
    reps = {rates.false_match.name: np.asarray(fmr_replicates, dtype=np.float64),
            rates.false_non_match.name: np.asarray(fnmr_replicates, dtype=np.float64)}
    reps.update({k: np.asarray(v, dtype=np.float64) for k, v in (other_replicates or {}).items()})
    for name, r in reps.items():
        if r.ndim != 2 or r.shape[1] != len(per_group):
            raise ValueError(f"{name} replicates must be (R, {len(per_group)}), got {r.shape}")
    n_rep = {r.shape[0] for r in reps.values()}
    if len(n_rep) != 1:
        raise ValueError(f"every rate needs the same number of replicates, got {sorted(n_rep)}")
    rows, used = _rows_and_columns(per_group, alpha_fdr, alpha_ir, alpha_garbe, min_subjects, exclude_groups, rates)
    base = summary_frame(rows)
    n_r = n_rep.pop()
    values = np.full((n_r, len(base)), np.nan)
    has_reps = np.ones(len(base), dtype=bool)
    for j, (measure, pos) in enumerate(used):
        if not all(r.name in reps for r in measure.rates):
            has_reps[j] = False
            continue
        if pos.size == 0:
            continue
        x = [reps[r.name][:, pos] for r in measure.rates]
        v = measure.kernel(x)
        missing = np.logical_or.reduce([np.isnan(xi).any(axis=1) for xi in x])
        values[:, j] = np.where(missing, np.nan, v)
    ci = bootstrap_interval(values, level, max_undefined_share)
    ci.loc[~has_reps, ["ci_low", "ci_high", "undefined_share", "unbounded_share"]] = np.nan
    ci.loc[~has_reps, "ci_status"] = "no_replicates"
    return pd.concat([base, ci.set_index(base.index)], axis=1)


def fte_differentials(
    fte: pd.DataFrame, min_subjects: int = MIN_GROUP_SUBJECTS, exclude_groups: Sequence[str] = NOT_A_GROUP
) -> pd.DataFrame:
    """Failure-to-enrol differentials per attribute, in the columns of :func:`fairness_summary`.

    ``fte`` is failure_to_enrol.csv (:func:`frbench.metrics.grouped.failure_to_enrol`:
    ``attribute, group, n_images, n_subjects, n_failed, fte``). Measures: ``fte_max_min_ratio``,
    ``fte_max_geomean_ratio`` (zeros as in :func:`max_min_ratio`) and ``fte_range`` = max - min
    FTE, defined with any 2 groups. ``threshold_name`` is ``"none"``: enrolment does not depend
    on the threshold. ISO/IEC 19795-10 asks for FTE per group; a group whose images all fail is
    a differential here, however it vanishes from FMR and FNMR.
    """
    needed = ("attribute", "group", "n_subjects", "n_images", "fte")
    missing = [c for c in needed if c not in fte.columns]
    if missing:
        raise ValueError(f"failure-to-enrol table lacks column(s) {missing}")
    spec = [
        ("fte_max_min_ratio", _max_min, f"max FTE / min FTE over groups; {_UNDEFINED_RULE}"),
        ("fte_max_geomean_ratio", _max_geomean, f"max FTE / geometric mean of FTE over groups; {_UNDEFINED_RULE}"),
        ("fte_range", lambda r: r.max(axis=1) - r.min(axis=1) if r.shape[1] >= 2 else np.full(r.shape[0], np.nan),
         "max FTE - min FTE over groups (a difference of proportions); 0 = equal"),
    ]
    rows = []
    part_all = fte[fte["attribute"] != ALL]
    for attribute, part in part_all.groupby("attribute", sort=False):
        groups = part["group"].astype(str).to_numpy()
        # the subjects behind FTE are those of the group's images
        eligible, why = summary_eligibility(groups, part["n_subjects"], min_subjects, exclude_groups)
        rate = part["fte"].to_numpy(dtype=np.float64)
        used = eligible & ~np.isnan(rate)
        excluded = left_out(groups, eligible, why) + [(g, "no images") for g in groups[eligible & np.isnan(rate)]]
        comp = (_Component("FTE", "ratio", 1.0, lambda x: x[0]),)
        for name, kernel, definition in spec:
            value = float(kernel(rate[used][None, :])[0]) if used.any() else float("nan")
            m = _Measure(name, (), lambda x: x, comp if name != "fte_range" else (), definition)
            reason, zero_groups = _reason(m, [rate[used]], groups[used], [part["n_images"].to_numpy()[used]], value)
            rows.append(summary_row(NO_THRESHOLD, str(attribute), name, value, list(groups[used]), excluded, definition,
                                    reason, zero_groups))
    return summary_frame(rows)


def skewed_error_ratio_summary(
    pairs: pd.DataFrame,
    groups: Groups,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wang & Deng's SER per attribute: each group verified at its own threshold.

    ``pairs`` is a scored PairTable as for :func:`frbench.metrics.grouped.per_group_rates`
    (``score, mated, ok, subject_a, subject_b, <attr>_a, <attr>_b``, optionally ``fold``); with
    a ``fold`` column the RFW protocol is used (:func:`own_threshold_errors`).

    Returns
    -------
    (errors, summary): per attribute x group ``attribute, group, n_subjects, n_pairs, n_mated,
    error, protocol``; and rows in the columns of :func:`fairness_summary`, ``measure`` ``ser``,
    ``threshold_name`` ``own``.
    """
    score, mated, ok = pair_arrays(pairs)
    sa, sb = pairs["subject_a"].to_numpy(), pairs["subject_b"].to_numpy()
    folds = pairs["fold"].to_numpy() if "fold" in pairs.columns else None
    tables, rows = [], []
    for attribute in groups.names:
        label, within = groups.pair_group(pairs, attribute)
        keep = ok & within
        errs = own_threshold_errors(score[keep], mated[keep], label[keep], None if folds is None else folds[keep])
        errs.insert(0, "attribute", attribute)
        # a group's subjects: those of all its pairs (every pair of both kinds enters its error)
        members = dict(groups.pair_groups(pairs, attribute))
        errs.insert(2, "n_subjects", [count_subjects(sa, sb, members[g]) for g in errs["group"]])
        tables.append(errs)
        labels = errs["group"].astype(str).to_numpy()
        eligible, why = summary_eligibility(labels, errs["n_subjects"], min_subjects, exclude_groups)
        e = errs["error"].to_numpy(dtype=np.float64)
        used = eligible & ~np.isnan(e)
        why_none = errs["why_none"].to_numpy() if "why_none" in errs else np.full(len(errs), "no error")
        excluded = left_out(labels, eligible, why)
        excluded += [(g, f"no error: {w}") for g, w in zip(labels[eligible & np.isnan(e)], why_none[eligible & np.isnan(e)])]
        value = float(_max_min(e[used][None, :])[0]) if used.any() else float("nan")
        m = _Measure("ser", (), lambda x: x, (_Component("error", "ratio", 1.0, lambda x: x[0]),), "")
        reason, zero_groups = _reason(m, [e[used]], labels[used], [None], value)
        definition = ("skewed error ratio max/min over groups of 1 - accuracy, each group at its own threshold "
                      f"({errs['protocol'].iloc[0] if len(errs) else 'no groups'}; Wang & Deng 2020); {_UNDEFINED_RULE}")
        rows.append(summary_row("own", attribute, "ser", value, list(labels[used]), excluded, definition, reason,
                                zero_groups))
    errors = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return errors, summary_frame(rows)
