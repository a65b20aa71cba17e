"""Agreement between skin-tone annotators, their consensus, and the summary a report shows.

Statistics
----------
**Cohen's kappa** (Cohen 1960, Educ. Psychol. Meas. 20:37-46), two annotators, the subjects both
answered::

    kappa = (p_o - p_e) / (1 - p_e)

p_o is the share of subjects with equal answers and p_e = sum_c p_a(c) p_b(c) the agreement
expected from each annotator's own answer shares; unweighted, as
``sklearn.metrics.cohen_kappa_score``. NaN when p_e = 1 (both gave one and the same answer to
every subject: agreement beyond chance is undefined).

**Krippendorff's alpha** (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability",
Annenberg School for Communication, Departmental Papers 43), any number of annotators, answers
may be missing::

    alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_ck o_ck d_ck / sum_ck n_c n_k d_ck

with the coincidence matrix o_ck = sum_u (number of ordered pairs of values c, k from different
annotators in unit u) / (m_u - 1) over the units (subjects) with m_u >= 2 values, n_c = sum_k
o_ck and n = sum_c n_c. The difference d_ck is nominal ``[c != k]`` for the binary answer and
ordinal ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)^2`` (ranks between c and k) for Monk values.
NaN when fewer than two values are pairable or only one value occurs.

``unsure`` is, by default, no answer for kappa and alpha: it says the annotator could not tell,
not that the tone lies between lighter and darker. ``unsure="category"`` counts it as a third
nominal value. The confusion table and the disagreement list always show it as given.

Intervals are percentile intervals of a bootstrap over subjects
(:func:`frbench.metrics.intervals.subject_draws`): a replicate draws subjects with replacement and
each drawn subject brings all its answers; every statistic uses the same draws.

Consensus (one row per subject): the binary answer given most often, ``unsure`` counting as an
answer and a tie for the most frequent giving ``unsure``; the Monk value is the lower median of
the Monk values given (``statistics.median_low``, the rule ``annotate_skin_tone`` applies to
Monk labels of a dataset), empty when none was given. ``n_agree`` counts the annotators whose binary
answer equals the consensus.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frbench.label.files import (
    BINARY_ANSWERS,
    CONSENSUS_ANNOTATOR,
    CONSENSUS_COLUMNS,
    IMAGE_SEP,
    TOOL,
    parse_utc,
    read_annotator_files,
    read_label_file,
)
from frbench.metrics.intervals import percentile_interval, subject_draws

UNSURE_RULES = ("missing", "category")
MONK_VALUES = tuple(str(i) for i in range(1, 11))
# Monk values this far apart or further put a subject on the disagreement list; one step apart is
# the scale's ordinary imprecision between two honest annotators.
MONK_DISAGREEMENT_STEPS = 2
# Gaps between consecutive answers longer than this are breaks, not time spent on a subject.
BREAK_SECONDS = 300.0


def cohen_kappa(a: ArrayLike, b: ArrayLike) -> float:
    """Cohen's kappa of two annotators' answers to the same subjects (definition in the module docstring).

    ``a`` and ``b`` are 1-D sequences of equal, non-zero length of hashable labels, no missing value.
    """
    a_arr, b_arr = _labels_1d(a, "a"), _labels_1d(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"a and b must have equal length, got {a_arr.size} and {b_arr.size}")
    if a_arr.size == 0:
        raise ValueError("need at least one subject answered by both")
    categories = sorted(set(a_arr.tolist()) | set(b_arr.tolist()), key=str)
    code = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    table = np.zeros((k, k))
    np.add.at(table, ([code[x] for x in a_arr], [code[x] for x in b_arr]), 1.0)
    return float(_kappa_from_tables(table[None])[0])


def krippendorff_alpha(data: ArrayLike, level: str = "nominal") -> float:
    """Krippendorff's alpha of a reliability matrix (definition in the module docstring).

    Parameters
    ----------
    data : array of shape (annotators, units), numbers, NaN where an annotator gave no value.
        Nominal values are codes; ordinal values are ordered as the numbers are.
    level : ``nominal`` or ``ordinal``.
    """
    counts, _ = _unit_value_counts(_reliability(data))
    return float(_alpha_from_coincidences(_unit_coincidences(counts).sum(axis=0)[None], level)[0])


@dataclass(frozen=True)
class Agreement:
    """Everything ``frbench label agreement`` writes.

    statistics: ``statistic, scale, annotators, n_subjects, value, ci_low, ci_high``.
    confusion: ``annotator_a, annotator_b, scale, answer_a, answer_b, n`` (every pair, every cell).
    disagreements: ``subject_id, image_id, n_annotators, monk_range`` and per annotator
    ``binary_<name>``, ``monk_<name>``.
    consensus: the consensus file's rows (``frbench.label.files.CONSENSUS_COLUMNS``).
    """

    statistics: pd.DataFrame
    confusion: pd.DataFrame
    disagreements: pd.DataFrame
    consensus: pd.DataFrame


def agreement(
    answers: pd.DataFrame, replicates: int = 1000, seed: int = 0, level: float = 0.95, unsure: str = "missing"
) -> Agreement:
    """Kappa for every pair of annotators, alpha for all, with bootstrap intervals, and the tables.

    With more than two annotators, where each subject has only some of them, the pairs that share
    no subject are left out; each remaining pair also gets its ordinal Monk alpha, and each
    annotator gets ``NAME|others`` rows: kappa over every pair table it is in (its answers against
    its partners' on the same subjects) and the Monk alpha of the subjects it labelled.

    ``answers`` holds one current answer per (annotator, subject), as
    :func:`frbench.label.files.read_annotator_files` returns: ``subject_id, image_id, annotator,
    skin_tone_binary, monk, labelled_at``.
    """
    answers = _check_answers(answers)
    if unsure not in UNSURE_RULES:
        raise ValueError(f"unsure must be one of {UNSURE_RULES}, got {unsure!r}")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ValueError(f"replicates must be an integer >= 1, got {replicates!r}")
    binary = _wide(answers, "skin_tone_binary")
    monk = _wide(answers, "monk")
    annotators = list(binary.columns)
    draws = subject_draws(len(binary), replicates, seed).astype(np.float64)
    counted = _counted_binary(binary, unsure)

    rows = []
    cats = [c for c in BINARY_ANSWERS if c != "unsure" or unsure == "category"]
    monk_codes = pd.DataFrame(_codes(monk, list(MONK_VALUES)), columns=monk.columns)
    pooled: dict[str, list[NDArray[np.float64]]] = {a: [] for a in annotators}
    for a, b in itertools.combinations(annotators, 2):
        both = (counted[a] != "") & (counted[b] != "")
        if len(annotators) > 2 and not ((binary[a] != "") & (binary[b] != "")).any():
            continue  # a design where each subject has a few of many annotators: pairs that share nobody say nothing
        tables = _pair_tables(counted[a], counted[b], both, cats)
        pooled[a].append(tables)
        pooled[b].append(tables.transpose(0, 2, 1))
        point = _kappa_from_tables(tables.sum(axis=0)[None])[0]
        reps = _kappa_from_tables(np.einsum("ru,uij->rij", draws, tables))
        rows.append(_stat_row("cohen_kappa", "binary", f"{a}|{b}", int(both.sum()), point, reps, level))
        if len(annotators) > 2:  # with two, the pair's alpha is the "all" row
            rows.append(_alpha_row(monk_codes[[a, b]], "ordinal", "monk", f"{a}|{b}", draws, level))
    if len(annotators) > 2:
        # each annotator against whoever else labelled the same subjects: who drifts from the rest
        for a in annotators:
            if not pooled[a]:
                continue
            tables = np.sum(pooled[a], axis=0)
            point = _kappa_from_tables(tables.sum(axis=0)[None])[0]
            reps = _kappa_from_tables(np.einsum("ru,uij->rij", draws, tables))
            n = int((counted[a] != "").sum())
            rows.append(_stat_row("cohen_kappa", "binary", f"{a}|others", n, point, reps, level))
            theirs = monk_codes.copy()
            theirs.loc[(binary[a] == "").to_numpy()] = np.nan  # only the subjects a labelled
            rows.append(_alpha_row(theirs, "ordinal", "monk", f"{a}|others", draws, level))
    rows.append(_alpha_row(pd.DataFrame(_codes(counted, cats)), "nominal", "binary", "all", draws, level))
    rows.append(_alpha_row(monk_codes, "ordinal", "monk", "all", draws, level))
    stats = pd.DataFrame(rows, columns=["statistic", "scale", "annotators", "n_subjects", "value", "ci_low", "ci_high"])
    return Agreement(stats, _confusion(binary, monk), _disagreements(answers, binary, monk), consensus(answers))


def _alpha_row(codes: pd.DataFrame, lvl: str, scale: str, who: str, draws: NDArray[np.float64], level: float) -> dict:
    """Krippendorff's alpha of the annotators (columns) of ``codes`` over subjects (rows), with its interval."""
    counts, _ = _unit_value_counts(codes.to_numpy(dtype=np.float64).T)
    per_unit = _unit_coincidences(counts)
    pairable = int((counts.sum(axis=1) >= 2).sum())
    point = _alpha_from_coincidences(per_unit.sum(axis=0)[None], lvl)[0]
    reps = _alpha_from_coincidences(np.einsum("ru,uij->rij", draws, per_unit), lvl)
    return _stat_row(f"krippendorff_alpha_{lvl}", scale, who, pairable, point, reps, level)


def consensus(answers: pd.DataFrame) -> pd.DataFrame:
    """One consensus row per subject (rule in the module docstring), sorted by subject_id."""
    answers = _check_answers(answers)
    out = []
    for subject, group in answers.groupby("subject_id", sort=True):
        votes = Counter(group["skin_tone_binary"])
        top = max(votes.values())
        leaders = [answer for answer, n in votes.items() if n == top]
        binary = leaders[0] if len(leaders) == 1 else "unsure"
        monks = sorted(int(m) for m in group["monk"] if m != "")
        images = list(dict.fromkeys(i for shown in group["image_id"] for i in shown.split(IMAGE_SEP)))
        out.append({
            "subject_id": subject,
            "image_id": IMAGE_SEP.join(images),
            "annotator": CONSENSUS_ANNOTATOR,
            "skin_tone_binary": binary,
            "monk": str(statistics.median_low(monks)) if monks else "",
            # the latest answer's time, so the same answers always give the same file
            "labelled_at": max(group["labelled_at"], key=parse_utc),
            "tool": f"{TOOL} consensus",
            "n_annotators": len(group),
            "n_agree": int(votes[binary]),
        })
    return pd.DataFrame(out, columns=list(CONSENSUS_COLUMNS))


def unanimous_binary(answers: pd.DataFrame) -> pd.Series:
    """Per subject: ``lighter``/``darker`` where every annotator who answered gave that same
    definite answer, else ``unsure`` (one was unsure, or they disagree).

    The strict form of :func:`consensus` (n_agree = n_annotators), for a target an estimator is
    fitted to: a subject the annotators split on teaches nothing about either class.
    """
    table = consensus(answers)
    decided = (table["n_agree"] == table["n_annotators"]) & (table["skin_tone_binary"] != "unsure")
    return pd.Series(np.where(decided, table["skin_tone_binary"], "unsure"), index=table["subject_id"].to_numpy(),
                     name="skin_tone_binary")


def answer_intervals(rows: pd.DataFrame, break_seconds: float = BREAK_SECONDS) -> NDArray[np.float64]:
    """Seconds between each answer and the same annotator's previous one, in file order.

    ``rows`` are a label file's rows (:func:`frbench.label.files.read_label_file`, superseded rows
    included: each was an answer given). Gaps longer than ``break_seconds`` are breaks and left out.
    """
    if rows.empty:
        return np.empty(0)
    times = pd.to_datetime(rows["labelled_at"], utc=True, format="ISO8601")
    gaps = times.groupby(rows["annotator"].to_numpy(), sort=False).diff().dt.total_seconds().to_numpy()
    gaps = gaps[~np.isnan(gaps)]
    return gaps[gaps <= break_seconds]


def label_summary(files: Sequence[Path], replicates: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """What a run report says about annotators' skin-tone labels: annotators, agreement, single-annotator share.

    Returns a dict: ``annotators`` (names), ``n_annotators``, ``n_subjects`` (labelled by anyone),
    ``n_single_annotator`` and ``share_single_annotator`` (subjects only one annotator labelled),
    ``n_unsure`` (current answers that are ``unsure``), ``alpha_binary`` and ``alpha_monk`` (each a
    dict of ``value``, ``ci_low``, ``ci_high``, ``n_subjects``; NaN values with one annotator),
    ``kappa_binary`` (the same, for exactly two annotators, else None), and
    ``median_seconds_per_answer`` (:func:`answer_intervals`, NaN with fewer than two answers).
    """
    answers = read_annotator_files(files)
    result = agreement(answers, replicates=replicates, seed=seed, level=level)
    per_subject = answers.groupby("subject_id")["annotator"].nunique()
    stats = result.statistics

    def stat(statistic: str, scale: str) -> dict:
        found = stats[(stats["statistic"] == statistic) & (stats["scale"] == scale)]
        row = found.iloc[0] if len(found) == 1 else found[found["annotators"] == "all"].iloc[0]
        return {k: (int(row[k]) if k == "n_subjects" else float(row[k])) for k in ("value", "ci_low", "ci_high", "n_subjects")}

    annotators = sorted(answers["annotator"].unique())
    gaps = np.concatenate([answer_intervals(read_label_file(Path(f))) for f in files])
    return {
        "annotators": annotators,
        "n_annotators": len(annotators),
        "n_subjects": len(per_subject),
        "n_single_annotator": int((per_subject == 1).sum()),
        "share_single_annotator": float((per_subject == 1).mean()),
        "n_unsure": int((answers["skin_tone_binary"] == "unsure").sum()),
        "alpha_binary": stat("krippendorff_alpha_nominal", "binary"),
        "alpha_monk": stat("krippendorff_alpha_ordinal", "monk"),
        "kappa_binary": stat("cohen_kappa", "binary") if len(annotators) == 2 else None,
        "median_seconds_per_answer": float(np.median(gaps)) if gaps.size else float("nan"),
    }


# --- array cores (shared by the point estimates and the bootstrap) ---------------------------


def _kappa_from_tables(tables: NDArray[np.float64]) -> NDArray[np.float64]:
    """Kappa of each (K, K) contingency table in a stack of shape (R, K, K)."""
    n = tables.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_o = np.trace(tables, axis1=1, axis2=2) / n
        p_e = (tables.sum(axis=2) * tables.sum(axis=1)).sum(axis=1) / n**2
        kappa = (p_o - p_e) / (1.0 - p_e)
    return np.where((n > 0) & (p_e < 1.0), kappa, np.nan)


def _unit_value_counts(data: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(units, values) counts of each distinct value per unit, and the sorted distinct values."""
    values = np.unique(data[~np.isnan(data)])
    counts = np.zeros((data.shape[1], values.size))
    for i, v in enumerate(values):
        counts[:, i] = (data == v).sum(axis=0)
    return counts, values


def _unit_coincidences(counts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each unit's contribution (n_u n_u^T - diag(n_u)) / (m_u - 1) to the coincidence matrix; zero for m_u < 2."""
    m = counts.sum(axis=1)
    pairs = counts[:, :, None] * counts[:, None, :]
    idx = np.arange(counts.shape[1])
    pairs[:, idx, idx] -= counts
    scale = np.divide(1.0, m - 1.0, out=np.zeros_like(m), where=m >= 2)
    return pairs * scale[:, None, None]


def _alpha_from_coincidences(o: NDArray[np.float64], level: str) -> NDArray[np.float64]:
    """Alpha of each coincidence matrix in a stack of shape (R, V, V)."""
    if level not in ("nominal", "ordinal"):
        raise ValueError(f"level must be 'nominal' or 'ordinal', got {level!r}")
    n_c = o.sum(axis=2)
    n = n_c.sum(axis=1)
    v = o.shape[1]
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(v), o.shape)
    else:
        lo = np.minimum.outer(np.arange(v), np.arange(v))
        hi = np.maximum.outer(np.arange(v), np.arange(v))
        cum = np.cumsum(n_c, axis=1)
        between = cum[:, hi] - cum[:, lo] + n_c[:, lo]
        delta = (between - (n_c[:, :, None] + n_c[:, None, :]) / 2.0) ** 2
    observed = (o * delta).sum(axis=(1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = 1.0 - (n - 1.0) * observed / expected
    return np.where((n > 1) & (expected > 0), alpha, np.nan)


# --- tables -----------------------------------------------------------------------------------


def _check_answers(answers: pd.DataFrame) -> pd.DataFrame:
    need = ["subject_id", "image_id", "annotator", "skin_tone_binary", "monk", "labelled_at"]
    missing = [c for c in need if c not in answers.columns]
    if missing:
        raise ValueError(f"answers lack column(s) {missing}")
    if answers.empty:
        raise ValueError("no answers")
    dup = answers.duplicated(["annotator", "subject_id"])
    if dup.any():
        first = answers.loc[dup].iloc[0]
        raise ValueError(f"annotator {first['annotator']!r} has two current answers for {first['subject_id']!r}")
    bad = ~answers["skin_tone_binary"].isin(BINARY_ANSWERS)
    if bad.any():
        raise ValueError(f"unknown binary answer {answers.loc[bad, 'skin_tone_binary'].iloc[0]!r}")
    bad = ~answers["monk"].isin(("", *MONK_VALUES))
    if bad.any():
        raise ValueError(f"unknown Monk value {answers.loc[bad, 'monk'].iloc[0]!r}")
    return answers


def _wide(answers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Subjects x annotators (both sorted) of one answer column, ``""`` where there is none."""
    return answers.pivot(index="subject_id", columns="annotator", values=column).sort_index().sort_index(axis=1).fillna("")


def _counted_binary(binary: pd.DataFrame, unsure: str) -> pd.DataFrame:
    return binary.replace("unsure", "") if unsure == "missing" else binary


def _codes(frame: pd.DataFrame, values: Sequence[str]) -> NDArray[np.float64]:
    """Subjects x annotators of value ranks (their order in ``values``), NaN for no value."""
    rank = {v: float(i) for i, v in enumerate(values)}
    return np.vectorize(lambda x: rank.get(x, np.nan), otypes=[float])(frame.to_numpy(dtype=object))


def _reliability(data: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"data must be 2-D (annotators, units), got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError("data must not contain infinite values")
    return arr


def _labels_1d(x: ArrayLike, name: str) -> NDArray[np.object_]:
    arr = np.asarray(x, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in arr):
        raise ValueError(f"{name} has a missing value; pass only subjects both annotators answered")
    return arr


def _pair_tables(a: pd.Series, b: pd.Series, both: pd.Series, cats: Sequence[str]) -> NDArray[np.float64]:
    """Per subject, its one-entry contingency table of (a's answer, b's answer); zero where not both."""
    code = {c: i for i, c in enumerate(cats)}
    tables = np.zeros((len(a), len(cats), len(cats)))
    rows = np.flatnonzero(both.to_numpy())
    tables[rows, [code[x] for x in a.to_numpy()[rows]], [code[x] for x in b.to_numpy()[rows]]] = 1.0
    return tables


def _stat_row(statistic: str, scale: str, who: str, n: int, point: float, reps: NDArray, level: float) -> dict:
    low, high = percentile_interval(reps, level) if np.isfinite(reps).any() else (np.nan, np.nan)
    return {"statistic": statistic, "scale": scale, "annotators": who, "n_subjects": n,
            "value": float(point), "ci_low": float(low), "ci_high": float(high)}


def _confusion(binary: pd.DataFrame, monk: pd.DataFrame) -> pd.DataFrame:
    out = []
    for a, b in itertools.combinations(binary.columns, 2):
        for scale, frame, values in (("binary", binary, BINARY_ANSWERS), ("monk", monk, MONK_VALUES)):
            both = (frame[a] != "") & (frame[b] != "")
            counts = Counter(zip(frame.loc[both, a], frame.loc[both, b]))
            out += [{"annotator_a": a, "annotator_b": b, "scale": scale, "answer_a": x, "answer_b": y,
                     "n": counts[(x, y)]} for x in values for y in values]
    return pd.DataFrame(out, columns=["annotator_a", "annotator_b", "scale", "answer_a", "answer_b", "n"])


def _disagreements(answers: pd.DataFrame, binary: pd.DataFrame, monk: pd.DataFrame) -> pd.DataFrame:
    """Subjects with two or more answers that differ in the binary, or in Monk by MONK_DISAGREEMENT_STEPS or more."""
    n = (binary != "").sum(axis=1)
    distinct = binary.apply(lambda r: len({x for x in r if x}), axis=1)
    monk_num = monk.replace("", np.nan).astype(float)
    spread = (monk_num.max(axis=1) - monk_num.min(axis=1)).fillna(0).astype(int)
    keep = (n >= 2) & ((distinct > 1) | (spread >= MONK_DISAGREEMENT_STEPS))
    first_image = answers.sort_values("annotator").groupby("subject_id")["image_id"].first()
    out = pd.DataFrame({
        "subject_id": binary.index[keep],
        "image_id": first_image.reindex(binary.index[keep]).to_numpy(),
        "n_annotators": n[keep].to_numpy(),
        "monk_range": spread[keep].to_numpy(),
    })
    for name in binary.columns:
        out[f"binary_{name}"] = binary.loc[keep, name].to_numpy()
        out[f"monk_{name}"] = monk.loc[keep, name].to_numpy()
    return out
