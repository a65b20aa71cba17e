"""Who a fairness summary or group test compares, and the rows it writes: the rules, once.

* **Membership.** A pair is in group g of an attribute when both of its sides are g
  (:meth:`frbench.groups.Groups.pair_group`, the one place that decides it; ``Groups`` owns the
  labels). No metrics module compares side labels itself.
* **Eligibility** (:func:`rate_eligibility`, :func:`pair_eligibility`,
  :func:`measure_eligibility`). A group enters the comparison of a rate when its label names a
  demographic group and at least ``min_subjects`` subjects stand behind that rate: the subjects
  of the group's scored comparisons of the rate's kind, the numerator's and the denominator's
  alike (non-mated comparisons for FMR and FPIR, mated ones for FNMR and FNIR). A group with 12
  subjects but no non-mated pair has no FMR subjects: it is left out of FMR comparisons as
  ``FMR: 0 subjects < 10``, whatever its FNMR. The threshold and the label rule are
  :func:`frbench.metrics.power.summary_eligibility` (``MIN_GROUP_SUBJECTS``, ``unknown``).
* **Rows.** A group left out is listed as ``group (reason)``, ``; ``-separated
  (:func:`excluded_text`); a summary row has ``SUMMARY_COLUMNS`` in that order
  (:func:`summary_row`), with its ``status`` read off its value (:func:`status_of`).

Rates are named by a :class:`RateSet`, so that 1:1 rows (FMR, FNMR: ``VERIFICATION_RATES``) and
1:N rows (FPIR, FNIR: ``SEARCH_RATES``) get the same summaries and tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frbench.metrics.power import MIN_GROUP_SUBJECTS
from frbench.metrics.power import rate_eligibility as _subjects_eligibility
from frbench.metrics.power import summary_eligibility
from frbench.tables import NOT_A_GROUP

DEFINED, UNBOUNDED, UNDEFINED = "defined", "unbounded", "undefined"
SUMMARY_COLUMNS = (
    "threshold_name",
    "attribute",
    "measure",
    "value",
    "status",
    "reason",
    "n_groups",
    "groups",
    "zero_groups",
    "excluded_groups",
    "definition",
)


@dataclass(frozen=True)
class Rate:
    """One rate column of a per-group table and what it is a rate of.

    ``mated``: a rate of mated comparisons (misses: FNMR, FNIR) or of non-mated ones (false
    matches: FMR, FPIR); it decides which subjects stand behind the rate. ``errors`` and
    ``trials``: the count columns of its numerator and denominator (None for a rate that is not
    a plain count ratio). ``rests_on``: the rate whose errors a derived rate rests on, for the
    "not estimable" rule (GFAR on FMR's false matches); ``generalized``: an ISO/IEC 19795-1
    generalised rate, whose definitions name frbench's adaptation.
    """

    name: str
    mated: bool
    errors: str | None = None
    trials: str | None = None
    rests_on: str | None = None
    generalized: bool = False
    error: str | None = None

    @property
    def label(self) -> str:
        return self.name.upper()

    def errors_text(self, k: int) -> str:
        """``k`` of this rate's errors in words: "1 false match", "3 missed mated searches"."""
        return f"{k} {self.error}{'es' if k != 1 else ''}"


@dataclass(frozen=True)
class RateSet:
    """The rates of one kind of per-group table: its false-match and false-non-match rates, then
    rates derived from them, in the order their measures are reported."""

    false_match: Rate
    false_non_match: Rate
    derived: tuple[Rate, ...] = ()
    # what a group has none of when it has no rate: its trials, in words
    trials_text: str = "scored pairs"

    @property
    def all(self) -> tuple[Rate, ...]:
        return (self.false_match, self.false_non_match, *self.derived)

    @property
    def primary(self) -> tuple[Rate, Rate]:
        return self.false_match, self.false_non_match

    def behind(self, rate: Rate) -> Rate:
        """The primary rate whose subjects stand behind ``rate`` (GFAR's are FMR's)."""
        return self.false_non_match if rate.mated else self.false_match


VERIFICATION_RATES = RateSet(
    Rate("fmr", mated=False, errors="n_fm", trials="n_nonmated", rests_on="fmr", error="false match"),
    Rate("fnmr", mated=True, errors="n_fnm", trials="n_mated", rests_on="fnmr", error="false non-match"),
    (
        Rate("gfar", mated=False, rests_on="fmr", generalized=True),
        Rate("gfrr", mated=True, generalized=True),  # also counts failed pairs: left to its own counts
        Rate("fnmr_subject_weighted", mated=True, rests_on="fnmr"),
    ),
)
# 1:N rows (frbench.search.measures.rates_from_counts): the same counts, named for searches.
SEARCH_RATES = RateSet(
    Rate("fpir", mated=False, errors="n_fm", trials="n_nonmated", rests_on="fpir", error="false-positive search"),
    Rate("fnir", mated=True, errors="n_fnm", trials="n_mated", rests_on="fnir", error="missed mated search"),
    (
        Rate("fpir_system", mated=False, rests_on="fpir", generalized=True),
        Rate("fnir_system", mated=True, generalized=True),
    ),
    trials_text="completed searches",
)


def count_subjects(subject_a: ArrayLike, subject_b: ArrayLike, mask: ArrayLike) -> int:
    """Distinct subjects on either side of the pairs of ``mask``."""
    m = np.asarray(mask, dtype=bool)
    return int(pd.unique(np.concatenate([np.asarray(subject_a)[m], np.asarray(subject_b)[m]])).size)


def rate_eligibility(
    table: pd.DataFrame, rate: Rate, min_subjects: int = MIN_GROUP_SUBJECTS, exclude_groups: Sequence[str] = NOT_A_GROUP
) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
    """Eligibility of each row of a counts or per-group table for ``rate`` (module docstring):
    the subjects behind it are ``n_subjects_mated`` or ``n_subjects_nonmated`` by its kind,
    ``n_subjects`` where the table lacks them (:func:`frbench.metrics.power.rate_eligibility`)."""
    return _subjects_eligibility(table, "fnmr" if rate.mated else "fmr", min_subjects, exclude_groups)


def pair_eligibility(
    members: Sequence[tuple[str, np.ndarray]],
    kind: ArrayLike,
    subject_a: ArrayLike,
    subject_b: ArrayLike,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    exclude_groups: Sequence[str] = NOT_A_GROUP,
) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
    """Eligibility of groups of listed pairs for one rate, counting the subjects behind it.

    ``members``: (group, mask) of :meth:`frbench.groups.Groups.pair_groups`; ``kind``: the scored
    pairs of the rate's kind (``ok & ~mated`` for FMR, ``ok & mated`` for FNMR). A group's
    subjects are those of its pairs within ``kind``.
    """
    k = np.asarray(kind, dtype=bool)
    names = np.array([g for g, _ in members], dtype=object)
    n_subjects = [count_subjects(subject_a, subject_b, mask & k) for _, mask in members]
    return summary_eligibility(names, n_subjects, min_subjects, exclude_groups)


def measure_eligibility(
    by_rate: Mapping[str, tuple[np.ndarray, np.ndarray]], rates: Sequence[Rate], rate_set: RateSet, n: int
) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
    """Groups of a measure over several rates: eligible for every one (a derived rate as the
    primary rate behind it); the first reason, named by its rate (``FMR: 4 subjects < 10``) unless
    it is the label's.

    ``by_rate``: primary rate name -> :func:`rate_eligibility` of the block's ``n`` rows.
    """
    eligible, why = np.ones(n, dtype=bool), np.full(n, "", dtype=object)
    for r in rates:
        primary = rate_set.behind(r)
        ok, reason = by_rate[primary.name]
        why = np.where(eligible & ~ok, [f"{primary.label}: {w}" if not w.startswith("label") else w for w in reason], why)
        eligible &= ok
    return eligible, why


def left_out(groups: ArrayLike, eligible: ArrayLike, reasons: ArrayLike) -> list[tuple[str, str]]:
    """(group, reason) of every group that is not eligible, in the given order."""
    g, e, w = np.asarray(groups, dtype=object), np.asarray(eligible, dtype=bool), np.asarray(reasons, dtype=object)
    return [(str(a), str(b)) for a, b in zip(g[~e], w[~e])]


def excluded_text(entries: Iterable[tuple[str, str]]) -> str:
    """The ``excluded_groups`` cell: ``group (reason)`` entries separated by ``; ``."""
    return "; ".join(f"{g} ({w})" for g, w in entries)


def status_of(value: float) -> str:
    """``undefined`` (NaN), ``unbounded`` (inf) or ``defined``."""
    return UNDEFINED if np.isnan(value) else UNBOUNDED if np.isinf(value) else DEFINED


def summary_row(
    threshold_name: str,
    attribute: str,
    measure: str,
    value: float,
    groups: Sequence[str],
    excluded: Iterable[tuple[str, str]],
    definition: str,
    reason: str = "",
    zero_groups: str = "",
    status: str | None = None,
) -> dict[str, object]:
    """One row of a fairness summary in ``SUMMARY_COLUMNS``: ``groups`` compared (``n_groups`` of
    them, ``;``-separated), ``excluded`` as (group, reason), ``status`` from the value unless given."""
    return {
        "threshold_name": threshold_name,
        "attribute": attribute,
        "measure": measure,
        "value": value,
        "status": status_of(value) if status is None else status,
        "reason": reason,
        "n_groups": len(groups),
        "groups": ";".join(groups),
        "zero_groups": zero_groups,
        "excluded_groups": excluded_text(excluded),
        "definition": definition,
    }


def summary_frame(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """Summary rows as a table with ``SUMMARY_COLUMNS`` (also when there are none)."""
    return pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
