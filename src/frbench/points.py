"""Operating points: a named decision threshold, how it was set and the rate it aims at.

A threshold is named once, where it is set, and carried as a :class:`Threshold`; whoever needs
its target or how it was set reads ``target`` or ``kind``, never the name. Names, as every table
prints them:

* ``deepface_default``: deepface's own threshold for the model and metric;
* ``fixed=0.5``: a fixed similarity;
* ``fmr=1e-03``: set once on all non-mated pairs of the run at a target FMR (NIST FRVT Part 3);
* ``fold:fmr=1e-03``: each fold decided at a threshold set on the other folds at that target;
* ``fpir=1e-02``: a 1:N threshold set on the non-mated searches at a target FPIR.

A number prints in the short form (``.0e`` for a target, ``:g`` for a fixed value) where that
reads back as the same number, else in the shortest exponent form that does (1.2e-3 ->
``fmr=1.2e-03``): two different numbers never share a name, and one number always gets the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

DEEPFACE_DEFAULT = "deepface_default"
FIXED = "fixed"
TARGET_FMR = "target_fmr"
FOLD_TARGET_FMR = "fold_target_fmr"
TARGET_FPIR = "target_fpir"
KINDS = (DEEPFACE_DEFAULT, FIXED, TARGET_FMR, FOLD_TARGET_FMR, TARGET_FPIR)
# kinds set at a target rate; the others hold a similarity known before any score
TARGETED = (TARGET_FMR, FOLD_TARGET_FMR, TARGET_FPIR)

ALL_FOLDS = "all"  # ``fold`` of a threshold set on the whole run, as thresholds.csv writes it


def rate_text(rate: float) -> str:
    """A target rate as names and labels print it: ``1e-03``, or ``1.2e-03`` where ``.0e`` would round."""
    for digits in range(17):  # 17 significant digits read back as any double
        text = f"{rate:.{digits}e}"
        if float(text) == rate:
            return text
    return repr(rate)  # NaN and infinities; targets are refused before they get here


def value_text(value: float) -> str:
    """A fixed similarity as its name prints it: ``:g`` (``0.5``), or ``repr`` where ``:g`` would round."""
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))


def target_fmr_name(target: float) -> str:
    return f"fmr={rate_text(target)}"


def fold_target_fmr_name(target: float) -> str:
    return f"fold:{target_fmr_name(target)}"


def target_fpir_name(target: float) -> str:
    return f"fpir={rate_text(target)}"


def fixed_name(value: float) -> str:
    return f"fixed={value_text(value)}"


def repeated_name(values: Sequence[float], name: Callable[[float], str]) -> tuple[float, float, str] | None:
    """The first two of ``values`` that ``name`` gives one name (with that name), else None."""
    seen: dict[str, float] = {}
    for v in values:
        n = name(v)
        if n in seen:
            return seen[n], v, n
        seen[n] = v
    return None


@dataclass(frozen=True)
class Threshold:
    """One operating point: a similarity ``value`` (match when score >= value) named ``name``.

    ``kind`` says how it was set (:data:`KINDS`); ``target`` is the rate it was set at (an FMR,
    or an FPIR for ``target_fpir``), NaN for deepface's default and fixed values. ``fold`` is
    ``all`` for a threshold set on the whole run, else the held-out fold a fold-calibrated
    threshold decides (its ``value`` was set on the other folds). Build one with the
    constructors below, which name it.
    """

    name: str
    value: float
    kind: str
    target: float = math.nan
    fold: str = ALL_FOLDS

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"threshold kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind in TARGETED) != (not math.isnan(self.target)):
            raise ValueError(f"{self.name}: a {self.kind} threshold {'needs' if self.kind in TARGETED else 'has no'} target")

    @property
    def aims_at_fmr(self) -> bool:
        """Set at a target FMR (globally or per fold): its rows are judged against ``target``."""
        return self.kind in (TARGET_FMR, FOLD_TARGET_FMR)

    @classmethod
    def deepface_default(cls, value: float) -> Threshold:
        return cls(DEEPFACE_DEFAULT, float(value), DEEPFACE_DEFAULT)

    @classmethod
    def fixed(cls, value: float) -> Threshold:
        return cls(fixed_name(value), float(value), FIXED)

    @classmethod
    def at_target_fmr(cls, target: float, value: float) -> Threshold:
        return cls(target_fmr_name(target), float(value), TARGET_FMR, float(target))

    @classmethod
    def fold_calibrated(cls, target: float, value: float = math.nan, fold: str = ALL_FOLDS) -> Threshold:
        return cls(fold_target_fmr_name(target), float(value), FOLD_TARGET_FMR, float(target), fold)

    @classmethod
    def at_target_fpir(cls, target: float, value: float) -> Threshold:
        return cls(target_fpir_name(target), float(value), TARGET_FPIR, float(target))


class OperatingPoints:
    """The named thresholds of a run, in order, each name once.

    Tables take ``{name: similarity}`` (:meth:`values`) and the engine ``{name: target FMR}``
    (:meth:`fmr_targets`); both are read off the points, so nothing parses a name.
    """

    def __init__(self, points: Iterable[Threshold] = ()) -> None:
        self._points = tuple(points)
        names = [p.name for p in self._points]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"two thresholds are named {repeated[0]!r}: each operating point needs its own name")

    def __iter__(self) -> Iterator[Threshold]:
        return iter(self._points)

    def __len__(self) -> int:
        return len(self._points)

    def __add__(self, other: OperatingPoints) -> OperatingPoints:
        return OperatingPoints((*self._points, *other))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OperatingPoints) and self._points == other._points

    def __repr__(self) -> str:
        return f"OperatingPoints({list(self._points)!r})"

    def __getitem__(self, name: str) -> Threshold:
        for p in self._points:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._points]

    def values(self) -> dict[str, float]:
        """``{name: similarity}`` in order: what per-group tables, scores.csv and plots take."""
        return {p.name: p.value for p in self._points}

    def fmr_targets(self) -> dict[str, float]:
        """``{name: target FMR}`` of the thresholds set at one (per fold included)."""
        return {p.name: p.target for p in self._points if p.aims_at_fmr}
