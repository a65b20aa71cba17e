"""What measuring one run produces, whatever its protocol: the tables every report is written from."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from frbench.points import OperatingPoints


@dataclass
class Measures:
    """The tables of one run. ``points`` are its global thresholds (:class:`frbench.points.Threshold`:
    name, similarity, how each was set and its target); ``thresholds`` maps their names to their similarities.

    ``det``, ``cross_group`` and ``histograms`` are the curve tables behind the plots
    (``histograms`` only where scores are listed); ``cells`` the exhaustive protocol's per-cell
    counts; ``group_tests`` the tests of equal rates across groups (group_tests.csv); ``accuracy``
    verification accuracy and TAR at every threshold (accuracy.csv); ``label_noise`` the darker-lighter
    difference under the skin-tone sensitivity analysis, subjects resampled and perceived labels
    redrawn (skin_tone_sensitivity.csv; :mod:`frbench.metrics.label_noise`).
    """

    points: OperatingPoints
    per_group: pd.DataFrame
    fairness: pd.DataFrame
    threshold_table: pd.DataFrame
    det: pd.DataFrame
    cross_group: pd.DataFrame
    histograms: pd.DataFrame | None = None
    per_group_thresholds: pd.DataFrame | None = None
    fold_accuracy: pd.DataFrame | None = None
    cells: pd.DataFrame | None = None
    group_tests: pd.DataFrame | None = None
    accuracy: pd.DataFrame | None = None
    label_noise: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def thresholds(self) -> dict[str, float]:
        """``{name: similarity}`` of the global thresholds, in order: what tables, scores.csv and plots take."""
        return self.points.values()
