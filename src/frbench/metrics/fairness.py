"""Aggregate equitability measures over the groups of one attribute at one threshold.

Each measure summarises the per-group FMR and FNMR of :func:`frbench.metrics.grouped.per_group_rates`
in one number (ISO/IEC 19795-10 asks for such aggregates next to the per-group rates):

* max/min ratio of FMR and of FNMR, and max over geometric mean (Grother, NIST FRVT Part 8,
  "Summarizing demographic differentials", NISTIR 8429 draft, 2022);
* Fairness Discrepancy Rate, FDR (de Freitas Pereira & Marcel, "Fairness in biometrics: a figure
  of merit to assess biometric verification systems", IEEE T-BIOM 4(1), 2022; arXiv:2011.02395);
* Inequity Rate, IR (the NIST proposal as written in Howard et al. 2022, below);
* GARBE, Gini Aggregation Rate for Biometric Equitability (Howard, Laird, Rubin, Sirotin, Tipton &
  Vemury, "Evaluating proposed fairness models for face recognition algorithms", ICPR 2022
  workshops; arXiv:2203.05051);
* skewed error ratio, SER (Wang & Deng, "Mitigating bias in face recognition using
  skewness-aware reinforcement learning", CVPR 2020).

Zero rates. A ratio with a zero-rate group in its denominator is unbounded, and a zero observed in
n trials only says the rate is probably below 3/n (rule of three, ``min_resolvable_fmr``). So in
every ratio (max/min, max/geomean, IR, SER) a zero rate is replaced, **in the denominator only**,
by 3/n of that group (n = its non-mated pairs for FMR, mated pairs for FNMR); the maximum always
uses observed rates. A floor can only lower a ratio, so a floored ratio understates rather than
invents a disparity; it is never reported below 1, its value for equal rates, and the groups whose
zeros were floored are listed in ``floored_groups``. If every group has a zero rate the ratio is
NaN (nothing observed to compare). FDR and GARBE need no floor: they use the observed rates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from frbench.groups import ALL
from frbench.metrics.grouped import RULE_OF_THREE
from frbench.tables import INTERSECTION_SEP, UNKNOWN

SUMMARY_COLUMNS = (
    "threshold_name",
    "attribute",
    "measure",
    "value",
    "n_groups",
    "groups",
    "floored_groups",
    "definition",
)


def _rates(values: ArrayLike, name: str) -> np.ndarray:
    r = np.asarray(values, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {r.shape}")
    if np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
        raise ValueError(f"{name} must be rates in [0, 1]")
    return r


def _floored(rates: np.ndarray, floors: ArrayLike) -> np.ndarray:
    f = np.asarray(floors, dtype=np.float64)
    if f.shape != rates.shape:
        raise ValueError(f"floors must match the rates in shape: {f.shape} vs {rates.shape}")
    return np.where(rates > 0, rates, f)


def max_min_ratio(rates: ArrayLike, floors: ArrayLike) -> float:
    """max_g r_g / min_g r'_g, where r'_g is r_g with a zero replaced by ``floors[g]``.

    NaN with fewer than 2 groups or when every rate is 0; never below 1 (module docstring).
    """
    r = _rates(rates, "rates")
    if r.size < 2 or r.max() == 0:
        return float("nan")
    return float(max(1.0, r.max() / _floored(r, floors).min()))


def max_geomean_ratio(rates: ArrayLike, floors: ArrayLike) -> float:
    """max_g r_g / (prod_g r'_g)^(1/G), zeros floored as in :func:`max_min_ratio` (NIST FRVT Part 8)."""
    r = _rates(rates, "rates")
    if r.size < 2 or r.max() == 0:
        return float("nan")
    geomean = np.exp(np.mean(np.log(_floored(r, floors))))
    return float(max(1.0, r.max() / geomean))


def fairness_discrepancy_rate(fmr: ArrayLike, fnmr: ArrayLike, alpha: float = 0.5) -> float:
    """FDR = 1 - (alpha * A + (1 - alpha) * B), A = max_ij |FMR_i - FMR_j|, B = max_ij |FNMR_i - FNMR_j|.

    de Freitas Pereira & Marcel (2022). 1 means equal rates; alpha weighs false matches.
    """
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, alpha)
    if a.size < 2:
        return float("nan")
    return float(1.0 - (alpha * (a.max() - a.min()) + (1.0 - alpha) * (b.max() - b.min())))


def inequity_rate(
    fmr: ArrayLike, fnmr: ArrayLike, fmr_floors: ArrayLike, fnmr_floors: ArrayLike, alpha: float = 0.5
) -> float:
    """IR = (max FMR / min FMR)^alpha * (max FNMR / min FNMR)^(1 - alpha).

    The NIST inequity measure as analysed by Howard et al. (2022); each ratio is
    :func:`max_min_ratio` with its zero floors. 1 means equal rates.
    """
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, alpha)
    return float(max_min_ratio(a, fmr_floors) ** alpha * max_min_ratio(b, fnmr_floors) ** (1.0 - alpha))


def gini(values: ArrayLike) -> float:
    """Sample-corrected Gini coefficient: n/(n-1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean(x)).

    As used by GARBE (Howard et al. 2022): 0 for equal values, 1 when one group has all the errors.
    0 when all values are 0 (no inequality among them); NaN for fewer than 2 values.
    """
    x = _rates(values, "values")
    n = x.size
    if n < 2:
        return float("nan")
    mean = x.mean()
    if mean == 0:
        return 0.0
    total = np.abs(x[:, None] - x[None, :]).sum()
    return float(n / (n - 1) * total / (2.0 * n**2 * mean))


def garbe(fmr: ArrayLike, fnmr: ArrayLike, alpha: float = 0.25) -> float:
    """GARBE = alpha * Gini(FMR) + (1 - alpha) * Gini(FNMR) (Howard et al. 2022). 0 means equal rates."""
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, alpha)
    return float(alpha * gini(a) + (1.0 - alpha) * gini(b))


def skewed_error_ratio(fmr: ArrayLike, fnmr: ArrayLike, fmr_floors: ArrayLike, fnmr_floors: ArrayLike) -> float:
    """SER = max_g e_g / min_g e_g with e_g = (FMR_g + FNMR_g) / 2 (Wang & Deng 2020).

    Wang & Deng use e_g = 1 - accuracy on balanced pairs (as in RFW); the balanced error
    (FMR + FNMR) / 2 is that quantity without depending on each group's share of mated pairs.
    A zero e_g is floored at the mean of the group's two rule-of-three floors.
    """
    a, b = _rates(fmr, "fmr"), _rates(fnmr, "fnmr")
    _check_pair(a, b, 0.5)
    floors = (np.asarray(fmr_floors, dtype=np.float64) + np.asarray(fnmr_floors, dtype=np.float64)) / 2.0
    return max_min_ratio((a + b) / 2.0, floors)


def _check_pair(fmr: np.ndarray, fnmr: np.ndarray, alpha: float) -> None:
    if fmr.shape != fnmr.shape:
        raise ValueError(f"fmr and fnmr need one value per group each, got {fmr.size} and {fnmr.size}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


def _excluded(group: str, exclude: set[str]) -> bool:
    return any(part in exclude for part in group.split(INTERSECTION_SEP))


def fairness_summary(
    per_group: pd.DataFrame,
    alpha_fdr: float = 0.5,
    alpha_ir: float = 0.5,
    alpha_garbe: float = 0.25,
    exclude_groups: Sequence[str] = (UNKNOWN,),
) -> pd.DataFrame:
    """All measures, per threshold and attribute, as a tidy table.

    Parameters
    ----------
    per_group : the table of :func:`~frbench.metrics.grouped.per_group_rates`.
    alpha_fdr, alpha_ir, alpha_garbe : weight of the FMR term in FDR, IR and GARBE. The weights
        are policy choices (how much a false match matters against a false non-match); every
        ``definition`` string states the value used.
    exclude_groups : group labels left out of every measure (also as part of an intersection,
        e.g. ``unknown+female``): "unknown" is not a demographic group.

    Returns
    -------
    DataFrame with columns ``threshold_name, attribute, measure, value, n_groups, groups,
    floored_groups, definition``. Single-rate measures use the groups where that rate is defined
    (n > 0); combined measures (FDR, IR, GARBE, SER) the groups where both are. ``groups`` and
    ``floored_groups`` list group names separated by ``;``. Rows follow the order of thresholds
    and attributes in ``per_group``, then a fixed order of measures.
    """
    needed = ("threshold_name", "attribute", "group", "n_mated", "n_nonmated", "fmr", "fnmr")
    missing = [c for c in needed if c not in per_group.columns]
    if missing:
        raise ValueError(f"per-group table lacks column(s) {missing}")
    exclude = set(exclude_groups)
    rows: list[dict[str, object]] = []
    table = per_group[per_group["attribute"] != ALL]
    for (threshold_name, attribute), part in table.groupby(["threshold_name", "attribute"], sort=False):
        part = part[[not _excluded(str(g), exclude) for g in part["group"]]]
        rows.extend(_measures(str(threshold_name), str(attribute), part, alpha_fdr, alpha_ir, alpha_garbe))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def fairness_bootstrap(
    per_group: pd.DataFrame,
    fmr_replicates: np.ndarray,
    fnmr_replicates: np.ndarray,
    level: float = 0.95,
    **options: object,
) -> pd.DataFrame:
    """:func:`fairness_summary` with percentile intervals ``ci_low``, ``ci_high`` from a subject bootstrap.

    Each measure is recomputed on every replicate of the per-group rates
    (:func:`~frbench.metrics.grouped.bootstrap_replicates`, one row per replicate, columns in the
    row order of ``per_group``). A group absent from a replicate is left out of that replicate's
    measures; the 3/n floors for zero rates keep the full-sample n. Replicates where a measure
    is undefined are dropped from its interval.
    """
    from frbench.metrics.intervals import percentile_interval

    if fmr_replicates.shape != fnmr_replicates.shape or fmr_replicates.shape[1] != len(per_group):
        raise ValueError(
            f"replicates must be (R, {len(per_group)}) for both rates, got {fmr_replicates.shape} and {fnmr_replicates.shape}"
        )
    alphas = {"alpha_fdr": 0.5, "alpha_ir": 0.5, "alpha_garbe": 0.25, **options}
    exclude = set(alphas.pop("exclude_groups", (UNKNOWN,)))  # type: ignore[arg-type]
    base = fairness_summary(per_group, exclude_groups=tuple(exclude), **alphas)  # type: ignore[arg-type]
    table = per_group.reset_index(drop=True)
    n_nm_all, n_m_all = table["n_nonmated"].to_numpy(dtype=np.float64), table["n_mated"].to_numpy(dtype=np.float64)
    values = np.full((fmr_replicates.shape[0], len(base)), np.nan)
    column = 0
    # Same grouping and order as fairness_summary, so replicate values line up with ``base`` rows.
    for (threshold_name, attribute), part in table[table["attribute"] != ALL].groupby(
        ["threshold_name", "attribute"], sort=False
    ):
        part = part[[not _excluded(str(g), exclude) for g in part["group"]]]
        idx = part.index.to_numpy()
        groups = part["group"].astype(str).to_numpy()
        for r in range(fmr_replicates.shape[0]):
            fmr, fnmr = fmr_replicates[r, idx], fnmr_replicates[r, idx]
            rows = _measure_rows(
                str(threshold_name), str(attribute), groups,
                np.where(np.isnan(fmr), 0.0, n_nm_all[idx]), np.where(np.isnan(fnmr), 0.0, n_m_all[idx]),
                fmr, fnmr, **alphas,  # type: ignore[arg-type]
            )
            values[r, column : column + len(rows)] = [row["value"] for row in rows]
        column += len(rows)
    base["ci_low"], base["ci_high"] = percentile_interval(values, level)
    return base


def _measures(
    threshold_name: str, attribute: str, part: pd.DataFrame, alpha_fdr: float, alpha_ir: float, alpha_garbe: float
) -> list[dict[str, object]]:
    return _measure_rows(
        threshold_name,
        attribute,
        part["group"].astype(str).to_numpy(),
        part["n_nonmated"].to_numpy(dtype=np.float64),
        part["n_mated"].to_numpy(dtype=np.float64),
        part["fmr"].to_numpy(dtype=np.float64),
        part["fnmr"].to_numpy(dtype=np.float64),
        alpha_fdr,
        alpha_ir,
        alpha_garbe,
    )


def _measure_rows(
    threshold_name: str,
    attribute: str,
    groups: np.ndarray,
    n_nm: np.ndarray,
    n_m: np.ndarray,
    fmr_all: np.ndarray,
    fnmr_all: np.ndarray,
    alpha_fdr: float,
    alpha_ir: float,
    alpha_garbe: float,
) -> list[dict[str, object]]:
    has_fmr, has_fnmr = n_nm > 0, n_m > 0
    both = has_fmr & has_fnmr
    with np.errstate(divide="ignore"):
        fmr_floor = RULE_OF_THREE / n_nm
        fnmr_floor = RULE_OF_THREE / n_m
    rows = []

    def add(measure: str, value: float, used: np.ndarray, floored: np.ndarray, definition: str) -> None:
        rows.append(
            {
                "threshold_name": threshold_name,
                "attribute": attribute,
                "measure": measure,
                "value": value,
                "n_groups": int(used.sum()),
                "groups": ";".join(groups[used]),
                "floored_groups": ";".join(groups[used & floored]) if np.isfinite(value) else "",
                "definition": definition,
            }
        )

    zero_fmr, zero_fnmr = fmr_all == 0, fnmr_all == 0
    for name, rate, floor, used, zero in (
        ("fmr", fmr_all, fmr_floor, has_fmr, zero_fmr),
        ("fnmr", fnmr_all, fnmr_floor, has_fnmr, zero_fnmr),
    ):
        label = name.upper()
        add(
            f"{name}_max_min_ratio",
            max_min_ratio(rate[used], floor[used]),
            used,
            zero,
            f"max {label} / min {label} over groups; a zero {label} in the minimum is replaced by 3/n",
        )
        add(
            f"{name}_max_geomean_ratio",
            max_geomean_ratio(rate[used], floor[used]),
            used,
            zero,
            f"max {label} / geometric mean of {label} over groups; zeros replaced by 3/n (NIST FRVT Part 8)",
        )
    a, b = fmr_all[both], fnmr_all[both]
    add(
        "fdr",
        fairness_discrepancy_rate(a, b, alpha_fdr),
        both,
        np.zeros_like(both),
        f"1 - ({alpha_fdr:g}*max|FMR_i-FMR_j| + {1 - alpha_fdr:g}*max|FNMR_i-FNMR_j|) "
        "(de Freitas Pereira & Marcel 2022); 1 = equal",
    )
    add(
        "inequity_rate",
        inequity_rate(a, b, fmr_floor[both], fnmr_floor[both], alpha_ir),
        both,
        zero_fmr | zero_fnmr,
        f"(max/min FMR)^{alpha_ir:g} * (max/min FNMR)^{1 - alpha_ir:g}, zeros in the minimum replaced by 3/n "
        "(NIST, as in Howard et al. 2022); 1 = equal",
    )
    add(
        "garbe",
        garbe(a, b, alpha_garbe),
        both,
        np.zeros_like(both),
        f"{alpha_garbe:g}*Gini(FMR) + {1 - alpha_garbe:g}*Gini(FNMR), Gini with n/(n-1) correction "
        "(Howard et al. 2022); 0 = equal",
    )
    add(
        "ser",
        skewed_error_ratio(a, b, fmr_floor[both], fnmr_floor[both]),
        both,
        zero_fmr & zero_fnmr,
        "max/min over groups of (FMR+FNMR)/2, a zero replaced by the mean of the two 3/n floors "
        "(skewed error ratio, Wang & Deng 2020); 1 = equal",
    )
    return rows
