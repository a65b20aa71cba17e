"""How much per-group rates move when estimated group labels are wrong at the rate the estimator is.

A subject whose skin tone is *estimated* has a calibrated probability ``p_darker`` of being
perceived darker (:mod:`frbench.annotate.estimator`, fitted and checked by cross-validation).
Each replicate draws every such subject's label from its posterior, ``darker`` with probability
``p_darker`` and ``lighter`` otherwise, keeps every other subject's label (human labels, and the
``uncertain`` and ``unknown`` groups), relabels both sides of every pair and recounts the groups
with the one counting kernel (:func:`frbench.metrics.counts.pair_counts`). The percentile interval
of a group's rate over replicates is its **label-noise interval**: it sits beside the sampling
intervals, which hold labels fixed. Subjects are not resampled here, so the two sources of
uncertainty are reported apart (their joint effect is at least the wider of the two).

Only groups of the relabelled attribute (and intersections with it) are affected; the subject
with no posterior (``p_darker`` NaN) is never relabelled.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from frbench.groups import Groups
from frbench.metrics.counts import pair_counts
from frbench.metrics.intervals import percentile_interval
from frbench.metrics.rates import rate

DEFINITE = ("lighter", "darker")
LABEL_NOISE_COLUMNS = ("fnmr_label_low", "fnmr_label_high", "fmr_label_low", "fmr_label_high")
KEY = ["threshold_name", "attribute", "group"]


def relabelled_groups(groups: Groups, attribute: str) -> Groups:
    """The part of ``groups`` whose labels depend on ``attribute``."""
    return Groups.of(
        [a for a in groups.attributes if a == attribute], [c for c in groups.intersections if attribute in c]
    )


def draw_labels(subjects: pd.DataFrame, rng: np.random.Generator, attribute: str = "skin_tone") -> pd.Series:
    """One replicate's label per subject: a posterior draw where ``p_darker`` is known and the
    label is definite, the label itself elsewhere. ``subjects`` has ``subject_id``, ``attribute``
    and ``p_darker``."""
    label = subjects[attribute].astype(str).to_numpy()
    p = subjects["p_darker"].to_numpy(dtype=float)
    redraw = np.isfinite(p) & np.isin(label, DEFINITE)
    drawn = np.where(rng.random(len(subjects)) < p, "darker", "lighter")
    return pd.Series(np.where(redraw, drawn, label), index=subjects["subject_id"].to_numpy())


def label_noise_replicates(
    pairs: pd.DataFrame,
    groups: Groups,
    thresholds: Mapping[str, float],
    subjects: pd.DataFrame,
    attribute: str = "skin_tone",
    draws: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Replicate FNMR and FMR of every group of ``attribute`` (and its intersections) under label draws.

    Returns ``(rows, fnmr, fmr)``: ``rows`` the (threshold_name, attribute, group) of the full-label
    counts, in :func:`pair_counts` order; ``fnmr`` and ``fmr`` of shape (draws, len(rows)), NaN
    where a group has no comparisons of the kind in a replicate.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    missing = [c for c in ("subject_id", attribute, "p_darker") if c not in subjects.columns]
    if missing:
        raise ValueError(f"subject table lacks column(s) {missing}")
    affected = relabelled_groups(groups, attribute)
    if not affected.names:
        raise ValueError(f"no reported attribute involves {attribute!r}")
    base = pair_counts(pairs, affected, thresholds)
    rows = base[KEY].reset_index(drop=True)
    index = pd.MultiIndex.from_frame(rows)
    rng = np.random.default_rng(seed)
    fnmr = np.full((draws, len(rows)), np.nan)
    fmr = np.full((draws, len(rows)), np.nan)
    sides = {side: pairs[f"subject_{side}"] for side in ("a", "b")}
    for r in range(draws):
        label = draw_labels(subjects, rng, attribute)
        drawn = pairs.assign(**{f"{attribute}_{side}": subject.map(label).to_numpy() for side, subject in sides.items()})
        counts = pair_counts(drawn, affected, thresholds).set_index(KEY).reindex(index)
        fnmr[r] = rate(counts["n_fnm"].to_numpy(dtype=float), counts["n_mated"].fillna(0).to_numpy())
        fmr[r] = rate(counts["n_fm"].to_numpy(dtype=float), counts["n_nonmated"].fillna(0).to_numpy())
    return rows, fnmr, fmr


def add_label_noise_intervals(
    per_group: pd.DataFrame, rows: pd.DataFrame, fnmr: np.ndarray, fmr: np.ndarray, level: float = 0.95
) -> pd.DataFrame:
    """``per_group`` with ``LABEL_NOISE_COLUMNS`` on the rows the replicates cover (NaN elsewhere)."""
    out = per_group.copy()
    table = rows.copy()
    table["fnmr_label_low"], table["fnmr_label_high"] = percentile_interval(fnmr, level)
    table["fmr_label_low"], table["fmr_label_high"] = percentile_interval(fmr, level)
    merged = out[KEY].merge(table, on=KEY, how="left")
    for column in LABEL_NOISE_COLUMNS:
        out[column] = merged[column].to_numpy()
    return out


def darker_lighter_difference(
    per_group: pd.DataFrame, rows: pd.DataFrame, fnmr: np.ndarray, fmr: np.ndarray,
    attribute: str = "skin_tone", level: float = 0.95,
) -> pd.DataFrame:
    """Per threshold, darker minus lighter FNMR and FMR: the value with the measured labels and the
    label-noise interval of the difference (the replicates' percentile interval), and how many of
    the replicates reverse its sign."""
    out = []
    keyed = per_group.set_index(KEY)
    for name in pd.unique(rows["threshold_name"]):
        pick = {g: np.flatnonzero((rows["threshold_name"] == name) & (rows["attribute"] == attribute) & (rows["group"] == g))
                for g in DEFINITE}
        if any(len(v) == 0 for v in pick.values()):
            continue
        for kind, reps in (("fnmr", fnmr), ("fmr", fmr)):
            point = keyed.loc[(name, attribute, "darker"), kind] - keyed.loc[(name, attribute, "lighter"), kind]
            diff = reps[:, pick["darker"][0]] - reps[:, pick["lighter"][0]]
            low, high = percentile_interval(diff, level)
            finite = diff[np.isfinite(diff)]
            # a reversal needs a sign to reverse: undefined for a zero or missing difference
            flipped = float(np.mean(np.sign(finite) != np.sign(point))) if finite.size and np.isfinite(point) and point != 0 else np.nan
            out.append({"threshold_name": name, "rate": kind, "darker_minus_lighter": point,
                        "label_low": low, "label_high": high, "share_reversed": flipped, "draws": len(diff)})
    return pd.DataFrame(out, columns=["threshold_name", "rate", "darker_minus_lighter", "label_low", "label_high",
                                      "share_reversed", "draws"])
