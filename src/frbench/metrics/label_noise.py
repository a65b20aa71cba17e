"""Skin-tone sensitivity analysis: per-group rates when subjects are resampled AND perceived labels redrawn.

A subject's skin tone is a *perception* (annotators) or a guess at one (an estimator), so the
groups themselves are uncertain. This module asks how far a group's FNMR and FMR (and the
darker-lighter difference) move when both the people sampled and their labels vary as the
evidence allows. It is a **sensitivity analysis**, not a confidence interval: the label model
below is a stated assumption (annotators' disagreement, an estimator's held-out confusion), and
noise that every annotator shares (e.g. AI annotators with one bias) is not in it.

Label model (one label per subject per replicate, :func:`draw_labels`)
----------------------------------------------------------------------
* **Labelled by annotators** (``n_darker``, ``n_lighter``, ``n_unsure``: the subject's current
  answers): the label is one answer drawn at random, so P(darker) = n_darker / n, P(lighter) =
  n_lighter / n, and with P(unsure) = n_unsure / n the subject is ``uncertain`` in that replicate
  (an ``unsure`` consensus makes a subject ``uncertain`` in the measured labels too,
  :mod:`frbench.annotate.sources`). Subjects all annotators agree on are never moved.
* **Estimated** (``estimated`` True; ``call`` is the estimate: ``darker``, ``lighter`` or
  ``uncertain``): darker with probability theta_call, else lighter, where theta_call is the share
  of the estimator's held-out subjects with that call whom annotators perceived darker. Its
  uncertainty is carried too: each replicate draws theta_call ~ Beta(k + 1/2, n - k + 1/2)
  (Jeffreys' posterior of k perceived darker among n held-out subjects with that call), shared by
  every subject with that call in the replicate. ``uncertain`` calls are redrawn the same way.
  **Fallback** where the held-out confusion is not recorded (``heldout_n`` NaN): n = k = 0, i.e.
  theta ~ Beta(1/2, 1/2), on average 1/2: the call is taken to carry no checked information.
* **Everyone else** (``unknown``, a dataset's own labels) keeps the measured label.

Replicates (:func:`sensitivity_replicates`)
-------------------------------------------
Replicate r draws subjects with replacement exactly as the subject bootstrap does
(:func:`frbench.metrics.intervals.subject_draws` with the same seed, pairs kept with
multiplicity :func:`~frbench.metrics.intervals.pair_weights`), draws every subject's label
(labels from an independent stream of the same seed), relabels both sides of every pair and
recounts with the one counting kernel :func:`frbench.metrics.counts.pair_counts`. With no label
noise the replicates are the subject bootstrap's own. A group absent from a replicate (no
comparisons of the kind) makes that replicate **undefined**; the interval is the percentile
interval of :func:`frbench.metrics.intervals.bootstrap_interval`, withheld when more than 5 % of
replicates are undefined (the project's one rule), with its status and undefined share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from frbench.groups import Groups
from frbench.metrics.counts import pair_counts
from frbench.metrics.grouped import interval_columns
from frbench.metrics.intervals import bootstrap_interval, pair_weights, subject_codes, subject_draws
from frbench.metrics.rates import rate

DARKER, LIGHTER, UNCERTAIN = "darker", "lighter", "uncertain"
DEFINITE = (LIGHTER, DARKER)
CALLS = (DARKER, LIGHTER, UNCERTAIN)
# Below this many replicates the ends of a 95 % percentile interval move in the second digit
# (the audit: 0.26 with 200 draws, 0.32 with 1,000); reports say so.
RECOMMENDED_DRAWS = 1000
SUBJECT_COLUMNS = ("subject_id", "skin_tone", "n_darker", "n_lighter", "n_unsure", "estimated", "heldout_n",
                   "heldout_n_darker")
SENSITIVITY_COLUMNS = (
    "fnmr_sens_low", "fnmr_sens_high", "fnmr_sens_status", "fnmr_sens_undefined_share",
    "fmr_sens_low", "fmr_sens_high", "fmr_sens_status", "fmr_sens_undefined_share",
)
DIFFERENCE_COLUMNS = ("threshold_name", "rate", "darker_minus_lighter", "sens_low", "sens_high", "sens_status",
                      "undefined_share", "share_reversed", "draws")
KEY = ["threshold_name", "attribute", "group"]


@dataclass(frozen=True)
class LabelModel:
    """Validated per-subject label model (module docstring): arrays aligned on ``subject_id``.

    ``answers``: (n, 3) answer counts darker, lighter, unsure (zeros: not labelled);
    ``estimated``: the label is an estimate, redrawn from ``heldout`` (n, 2): held-out subjects
    with the same call and how many were perceived darker (0, 0 where not recorded).
    """

    subject_id: np.ndarray
    label: np.ndarray
    answers: np.ndarray
    estimated: np.ndarray
    heldout: np.ndarray
    heldout_recorded: np.ndarray

    @property
    def noisy(self) -> bool:
        """Whether any subject's label can change between replicates."""
        split = (self.answers > 0).sum(axis=1) > 1
        return bool(split.any() or self.estimated.any())


def label_model(subjects: pd.DataFrame) -> LabelModel:
    """The :class:`LabelModel` of a subject table with ``SUBJECT_COLUMNS``, checked.

    Refuses a subject both labelled and estimated, negative or fractional counts, more perceived
    darker than held-out subjects, and two different held-out records for one call.
    """
    missing = [c for c in SUBJECT_COLUMNS if c not in subjects.columns]
    if missing:
        raise ValueError(f"subject table lacks column(s) {missing}")
    if subjects["subject_id"].duplicated().any():
        raise ValueError(f"subject {subjects['subject_id'][subjects['subject_id'].duplicated()].iloc[0]!r} appears twice")
    answers = subjects[["n_darker", "n_lighter", "n_unsure"]].fillna(0).to_numpy(dtype=float)
    if np.any(answers < 0) or np.any(answers != np.round(answers)):
        raise ValueError("answer counts must be whole numbers >= 0")
    estimated = subjects["estimated"].fillna(False).to_numpy(dtype=bool)
    if np.any(estimated & (answers.sum(axis=1) > 0)):
        raise ValueError("a subject is either labelled by annotators or estimated, not both")
    held = subjects[["heldout_n", "heldout_n_darker"]].to_numpy(dtype=float)
    recorded = np.isfinite(held).all(axis=1)
    held = np.where(recorded[:, None], held, 0.0)
    if np.any(held < 0) or np.any(held[:, 1] > held[:, 0]) or np.any(held != np.round(held)):
        raise ValueError("held-out counts must be whole numbers with 0 <= heldout_n_darker <= heldout_n")
    label = subjects["skin_tone"].astype(str).to_numpy()
    for call in CALLS:
        rows = held[estimated & (label == call)]
        if len(rows) and (rows != rows[0]).any():
            raise ValueError(f"estimated subjects called {call!r} carry different held-out counts")
    return LabelModel(subjects["subject_id"].astype(str).to_numpy(), label, answers, estimated, held,
                      recorded & estimated)


def draw_labels(model: LabelModel, rng: np.random.Generator) -> np.ndarray:
    """One replicate's label of every subject of ``model`` (rules in the module docstring)."""
    n = len(model.subject_id)
    out = model.label.astype(object).copy()
    u = rng.random(n)
    total = model.answers.sum(axis=1)
    labelled = total > 0
    share = model.answers[labelled] / total[labelled, None]
    out[labelled] = np.where(u[labelled] < share[:, 0], DARKER,
                             np.where(u[labelled] < share[:, 0] + share[:, 1], LIGHTER, UNCERTAIN))
    for call in CALLS:
        who = model.estimated & (model.label == call)
        if who.any():
            k_n = model.heldout[np.argmax(who)]
            theta = rng.beta(k_n[1] + 0.5, k_n[0] - k_n[1] + 0.5)
            out[who] = np.where(u[who] < theta, DARKER, LIGHTER)
    return out


def relabelled_groups(groups: Groups, attribute: str) -> Groups:
    """The part of ``groups`` whose labels depend on ``attribute``."""
    return Groups.of(
        [a for a in groups.attributes if a == attribute], [c for c in groups.intersections if attribute in c]
    )


def sensitivity_replicates(
    pairs: pd.DataFrame,
    groups: Groups,
    thresholds: Mapping[str, float],
    subjects: pd.DataFrame,
    attribute: str = "skin_tone",
    draws: int = RECOMMENDED_DRAWS,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """FNMR and FMR of every group of ``attribute`` (and its intersections) over replicates that
    resample subjects and redraw labels (module docstring).

    ``subjects`` has ``SUBJECT_COLUMNS``; a subject of the pairs not in it keeps its label.
    Returns ``(rows, fnmr, fmr)``: ``rows`` the (threshold_name, attribute, group) of the measured
    counts, in :func:`pair_counts` order; ``fnmr`` and ``fmr`` of shape (draws, len(rows)), NaN
    where a replicate has no comparison of the kind in the group (undefined).
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    affected = relabelled_groups(groups, attribute)
    if not affected.names:
        raise ValueError(f"no reported attribute involves {attribute!r}")
    model = label_model(subjects)
    base = pair_counts(pairs, affected, thresholds)
    rows = base[KEY].reset_index(drop=True)
    position = {key: i for i, key in enumerate(rows.itertuples(index=False, name=None))}

    code_a, code_b, n_subjects = subject_codes(pairs["subject_a"].to_numpy(), pairs["subject_b"].to_numpy())
    names = pd.factorize(np.concatenate([pairs["subject_a"].to_numpy(), pairs["subject_b"].to_numpy()]), sort=True)[1]
    names = np.asarray(names).astype(str)
    # each pair subject's measured label (subject-level labels: the first side it appears on)
    measured = pd.Series(np.concatenate([pairs[f"{attribute}_a"].to_numpy(), pairs[f"{attribute}_b"].to_numpy()]),
                         index=np.concatenate([pairs["subject_a"].astype(str), pairs["subject_b"].astype(str)]))
    measured = measured[~measured.index.duplicated()].reindex(names).astype(str).to_numpy()
    in_model = pd.Series(np.arange(len(model.subject_id)), index=model.subject_id).reindex(names)
    known = in_model.notna().to_numpy()
    at = in_model[known].to_numpy(dtype=int)

    columns = [c for c in affected.columns if c != attribute]
    keep = {c: pairs[c].to_numpy() for c in ("score", "mated", "ok", "subject_a", "subject_b",
                                             *[f"{c}_{s}" for c in columns for s in "ab"])}
    counts_per_subject = subject_draws(n_subjects, draws, seed)
    # labels from their own stream, so that subject draws equal the plain bootstrap's for the seed
    label_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    fnmr = np.full((draws, len(rows)), np.nan)
    fmr = np.full((draws, len(rows)), np.nan)
    for r in range(draws):
        label = measured.copy().astype(object)
        label[known] = draw_labels(model, label_rng)[at]
        weight = pair_weights(counts_per_subject[r : r + 1], code_a, code_b)[0].astype(np.int64)
        take = np.repeat(np.arange(len(pairs)), weight)
        drawn = pd.DataFrame({**{c: v[take] for c, v in keep.items()},
                              f"{attribute}_a": label[code_a[take]], f"{attribute}_b": label[code_b[take]]})
        counts = pair_counts(drawn, affected, thresholds)
        # a group absent from this replicate keeps NaN: undefined
        found = [position.get(key) for key in counts[KEY].itertuples(index=False, name=None)]
        hit = np.array([f is not None for f in found], dtype=bool)
        at_rows = np.array([f for f in found if f is not None], dtype=int)
        fnmr[r, at_rows] = rate(counts["n_fnm"].to_numpy()[hit], counts["n_mated"].to_numpy()[hit])
        fmr[r, at_rows] = rate(counts["n_fm"].to_numpy()[hit], counts["n_nonmated"].to_numpy()[hit])
    return rows, fnmr, fmr


def add_sensitivity_intervals(
    per_group: pd.DataFrame, rows: pd.DataFrame, fnmr: np.ndarray, fmr: np.ndarray, level: float = 0.95
) -> pd.DataFrame:
    """``per_group`` with ``SENSITIVITY_COLUMNS`` on the rows the replicates cover (NaN elsewhere):
    :func:`~frbench.metrics.intervals.bootstrap_interval` of each row's replicates."""
    out = per_group.copy()
    table = rows.assign(**interval_columns({"fnmr": fnmr, "fmr": fmr}, "sens", level))
    merged = out[KEY].merge(table, on=KEY, how="left")
    for column in SENSITIVITY_COLUMNS:
        out[column] = merged[column].to_numpy()
    return out


def darker_lighter_difference(
    per_group: pd.DataFrame, rows: pd.DataFrame, fnmr: np.ndarray, fmr: np.ndarray,
    attribute: str = "skin_tone", level: float = 0.95,
) -> pd.DataFrame:
    """Per threshold, darker minus lighter FNMR and FMR: the measured value, its sensitivity
    interval (:func:`~frbench.metrics.intervals.bootstrap_interval` of the replicates' differences,
    a replicate undefined where either group is, withheld over 5 % undefined), and the share of
    defined replicates whose sign is opposite to the measured one (NaN where the interval is
    withheld or the measured difference is 0 or undefined: there is no sign to reverse)."""
    out = []
    keyed = per_group.set_index(KEY)
    for name in pd.unique(rows["threshold_name"]):
        pick = {g: np.flatnonzero((rows["threshold_name"] == name) & (rows["attribute"] == attribute) & (rows["group"] == g))
                for g in DEFINITE}
        if any(len(v) == 0 for v in pick.values()):
            continue
        for kind, reps in (("fnmr", fnmr), ("fmr", fmr)):
            point = keyed.loc[(name, attribute, DARKER), kind] - keyed.loc[(name, attribute, LIGHTER), kind]
            diff = reps[:, pick[DARKER][0]] - reps[:, pick[LIGHTER][0]]
            interval = bootstrap_interval(diff, level).iloc[0]
            finite = diff[np.isfinite(diff)]
            reported = interval["ci_status"] != "not_reported"
            flipped = (float(np.mean(np.sign(finite) != np.sign(point)))
                       if reported and finite.size and np.isfinite(point) and point != 0 else np.nan)
            out.append({"threshold_name": name, "rate": kind, "darker_minus_lighter": point,
                        "sens_low": interval["ci_low"], "sens_high": interval["ci_high"],
                        "sens_status": interval["ci_status"], "undefined_share": interval["undefined_share"],
                        "share_reversed": flipped, "draws": len(diff)})
    return pd.DataFrame(out, columns=list(DIFFERENCE_COLUMNS))
