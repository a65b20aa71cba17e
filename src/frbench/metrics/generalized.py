"""Generalised error rates: failures counted as decisions, a per-pair adaptation of ISO/IEC 19795-1.

**An adaptation, not the standard's form.** ISO/IEC 19795-1 uses one FTE and one FTA in both
formulas; frbench has per-pair failure shares, f_mated for GFRR and f_nonmated for GFAR, measured
separately (``GENERALIZED_ADAPTATION`` says so wherever GFAR or GFRR is printed).

FMR and FNMR count only completed comparisons, so a group whose images fail to give a template
loses those pairs from both rates, and a group whose pairs all fail vanishes. ISO/IEC 19795-1:2006
("Biometric performance testing and reporting, Part 1: Principles and framework") defines, for a
verification transaction of one attempt, with FTA the failure-to-acquire and FTE the
failure-to-enrol rate:

    FAR  = FMR * (1 - FTA)
    FRR  = FTA + FNMR * (1 - FTA)
    GFAR = FMR * (1 - FTA) * (1 - FTE)
    GFRR = FTE + (1 - FTE) * FTA + (1 - FTE) * (1 - FTA) * FNMR

(:func:`generalized_rates`). A failure is a rejection: it can never be a false accept, and it is
always a false reject for a genuine user.

**Per pair** (:func:`pair_generalized_rates`, what frbench measures). An offline pair compares two
images, either of which may fail (``status`` != ok); with symmetric pairs there is no telling the
enrolment side from the probe side, so both failures are counted as one: among the mated (or
non-mated) pairs of a group, let f be the share with a failed side. A pair reaches a comparison
with probability 1 - f, which is (1 - FTE)(1 - FTA) when side a is enrolled and side b probed, so
the standard's formulas with (1 - FTE)(1 - FTA) = 1 - f give

    GFAR = FMR * (1 - f_nonmated)          = n_fm / (n_nonmated + n_failed_nonmated)
    GFRR = f_mated + (1 - f_mated) * FNMR  = (n_fnm + n_failed_mated) / (n_mated + n_failed_mated)

per_group.csv carries both (``gfrr``, ``gfar``) for every row, from its counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frbench.metrics.rates import rate

GENERALIZED_COLUMNS = ("failed_share_mated", "failed_share_nonmated", "gfar", "gfrr")
GENERALIZED_ADAPTATION = (
    "adapted from ISO/IEC 19795-1: the standard's one FTE and one FTA are replaced by the share of the "
    "group's mated (GFRR) or non-mated (GFAR) pairs with a failed image"
)


def _unit(x: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if np.any(np.isnan(a)) or np.any(a < 0) or np.any(a > 1):
        raise ValueError(f"{name} must be rates in [0, 1]")
    return a


def generalized_rates(fmr: ArrayLike, fnmr: ArrayLike, fta: ArrayLike, fte: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """FAR, FRR, GFAR and GFRR of ISO/IEC 19795-1 (module docstring), broadcast over arrays.

    Returns a dict with keys ``far, frr, gfar, gfrr``.
    """
    m, nm = _unit(fmr, "fmr"), _unit(fnmr, "fnmr")
    a, e = _unit(fta, "fta"), _unit(fte, "fte")
    return {
        "far": m * (1 - a),
        "frr": a + nm * (1 - a),
        "gfar": m * (1 - a) * (1 - e),
        "gfrr": e + (1 - e) * a + (1 - e) * (1 - a) * nm,
    }


def _whole(x: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if np.any(np.isnan(a)) or np.any(a < 0) or np.any(a != np.round(a)):
        raise ValueError(f"{name} must be whole numbers >= 0")
    return a


def pair_generalized_rates(
    n_fm: ArrayLike,
    n_nonmated: ArrayLike,
    n_failed_nonmated: ArrayLike,
    n_fnm: ArrayLike,
    n_mated: ArrayLike,
    n_failed_mated: ArrayLike,
) -> dict[str, NDArray[np.float64]]:
    """Pair-level GFAR and GFRR from counts (module docstring), broadcast over arrays.

    ``n_nonmated`` and ``n_mated`` are scored pairs; the failed pairs are those of the same kind
    with a failed side. A group whose pairs all failed has GFRR 1 and GFAR 0 (NaN only with no
    pairs of that kind at all).

    Returns a dict with keys ``GENERALIZED_COLUMNS``: the failed shares f and the two rates.
    """
    fm, nm, fnm_ = _whole(n_fm, "n_fm"), _whole(n_nonmated, "n_nonmated"), _whole(n_failed_nonmated, "n_failed_nonmated")
    fnm, m, fm_ = _whole(n_fnm, "n_fnm"), _whole(n_mated, "n_mated"), _whole(n_failed_mated, "n_failed_mated")
    if np.any(fm > nm) or np.any(fnm > m):
        raise ValueError("errors exceed the scored pairs")
    return {
        "failed_share_mated": rate(fm_, m + fm_),
        "failed_share_nonmated": rate(fnm_, nm + fnm_),
        "gfar": rate(fm, nm + fnm_),
        "gfrr": rate(fnm + fm_, m + fm_),
    }


def generalized_columns(counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`pair_generalized_rates` of every row of a counts table, as columns on its index.

    ``counts`` needs ``n_fm, n_nonmated, n_fnm, n_mated, n_failed_mated`` and either
    ``n_failed_nonmated`` or ``n_failed`` (all failed pairs; the non-mated ones are then
    ``n_failed - n_failed_mated``, as in :data:`frbench.metrics.counts.COUNT_COLUMNS`).
    """
    table = counts
    if "n_failed_nonmated" not in table.columns and {"n_failed", "n_failed_mated"} <= set(table.columns):
        table = table.assign(n_failed_nonmated=table["n_failed"] - table["n_failed_mated"])
    needed = ("n_fm", "n_nonmated", "n_failed_nonmated", "n_fnm", "n_mated", "n_failed_mated")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"counts table lacks column(s) {missing}")
    rates = pair_generalized_rates(*(table[c].to_numpy() for c in needed))
    return pd.DataFrame(rates, index=counts.index, columns=list(GENERALIZED_COLUMNS))
