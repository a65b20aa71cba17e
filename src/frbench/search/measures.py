"""One-to-many (1:N) search measures per probe group: FNIR, FPIR, SEL and CMC.

Definitions (ISO/IEC 19795-1:2021, 3.x "identification"; NIST FRTE 1:N, NISTIR 8271 and, for
demographic groups, NISTIR 8280 "FRVT Part 3"). N is the number of enrolled subjects, R a rank,
T a similarity threshold, L the candidate-list length; a candidate is an enrolled subject,
returned with its score and its rank (1 = best).

* A **mated search** searches a probe whose subject is enrolled; a **non-mated search** one whose
  subject is not.
* ``FNIR(N, R, T)`` = share of mated searches whose mate is **not** among the first R candidates
  with score >= T. A mate ranked beyond L (absent from the list) is a miss at every R <= L.
* ``FPIR(N, T)`` = share of non-mated searches returning at least one candidate with score >= T.
* ``SEL(N, T)`` = number of candidates with score >= T (within the first R) per non-mated search,
  the load a reviewer gets. When a list is full and its L-th candidate still scores >= T, SEL is
  truncated at L; such searches are counted in ``n_sel_truncated``.
* ``CMC(R)`` = 1 - FNIR(N, R, -inf): the share of mated searches with the mate within rank R,
  non-decreasing in R.

Two modes (NIST FRTE): **investigative** (no threshold: a human reviews the top R; rows
``rank=R`` with T = -inf, where FPIR is 1 by construction) and **identification** (T set
**globally on the non-mated searches** to reach a target FPIR, then FPIR and FNIR reported per
probe group at that T; rows ``fpir=1e-02`` at rank L). The threshold follows exactly the rule of
the 1:1 target-FMR threshold, :func:`frbench.metrics.thresholds.threshold_at_fmr`, applied to
the top score of every non-mated search: with n of them and target f, k = floor(f n), T is just
above the (k+1)-th highest top score, ties rejected, so FPIR(T) <= f. A non-mated search that
returned nothing (possible with imported lists) scores below every returned candidate.

Groups: a search belongs to its **probe's** group (attributes and ``a+b`` intersections, the
labels of :class:`frbench.groups.Groups`), plus the ``all`` row. A search whose
probe failed to enrol is left out of every rate and counted in ``n_failed`` (``n_failed_mated``
of them mated), as failed pairs are in the 1:1 tables; ``fnir_system`` counts those failed
mated searches as misses.

Intervals: Clopper-Pearson per row, and optionally the subject bootstrap of
:func:`frbench.metrics.intervals.bootstrap_subjects` with each search belonging to its probe's
subject (the gallery is held fixed: the resampled units are the people searched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from frbench.groups import Groups
from frbench.metrics.grouped import rates_from_counts as engine_rates
from frbench.metrics.power import MIN_GROUP_SUBJECTS
from frbench.metrics.rates import rate
from frbench.metrics.intervals import (
    bootstrap_subjects,
    clopper_pearson,
    percentile_interval,
)
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.points import Threshold

SEARCH_COLUMNS = (
    "probe_id",
    "probe_subject",
    "mated",
    "ok",
    "mate_rank",
    "mate_score",
    "top_candidate",
    "top_subject",
    "top_score",
    "n_candidates",
)
CANDIDATE_COLUMNS = ("probe_id", "rank", "candidate_id", "candidate_subject", "score")
COUNT_COLUMNS = (
    "threshold_name",
    "threshold",
    "rank",
    "attribute",
    "group",
    "n_subjects",
    "n_mated",
    "n_fnm",
    "n_nonmated",
    "n_fm",
    "n_sel",
    "n_sel_truncated",
    "n_failed",
    "n_failed_mated",
)
DEFAULT_RANKS = (1, 5, 10, 20, 50)
RANK_PREFIX, FPIR_PREFIX = "rank=", "fpir="  # how names begin; what a point is, is read from the point


@dataclass(frozen=True)
class SearchTable:
    """Searches and their candidate lists (docs: SearchTable).

    Attributes
    ----------
    searches : DataFrame
        One row per search: ``SEARCH_COLUMNS`` and the probe's attribute columns. ``mate_rank`` and
        ``mate_score`` are NaN when the search is non-mated or its mate is not in the list;
        ``top_*`` are NaN/empty for an empty list; ``top_score`` is the best score in the list.
    candidates : DataFrame
        Long table, ``CANDIDATE_COLUMNS``: one row per candidate subject of each search, ranks
        1..n_candidates.
    length : int
        L, the longest list a search could return.
    """

    searches: pd.DataFrame
    candidates: pd.DataFrame
    length: int


@dataclass(frozen=True)
class OperatingPoint:
    """Where a search is decided: a miss unless the mate is within ``rank`` with score >= ``threshold``.

    ``target_fpir`` is the FPIR the threshold was set at (identification mode), None otherwise.
    """

    name: str
    rank: int
    threshold: float
    target_fpir: float | None = None

    @property
    def investigative(self) -> bool:
        """No threshold (T = -inf): a human reviews the top ``rank``; FPIR is 1 by construction."""
        return self.target_fpir is None and self.threshold == -np.inf


def search_table(
    probes: pd.DataFrame, ok: Sequence[bool] | np.ndarray, candidates: pd.DataFrame, length: int
) -> SearchTable:
    """Build the SearchTable from probes and their candidate lists, checking both.

    Parameters
    ----------
    probes : DataFrame
        ``image_id``, ``subject_id``, ``mated`` and any attribute columns (kept).
    ok : bool array, one per probe
        Whether the search could be made (the probe enrolled); a failed search has no candidates.
    candidates : DataFrame with ``CANDIDATE_COLUMNS``
        Subject-level lists: within a probe, ranks are 1..n and each subject appears once.
    length : int
        L; no rank may exceed it.
    """
    missing = [c for c in ("image_id", "subject_id", "mated") if c not in probes.columns]
    if missing:
        raise ValueError(f"probe table lacks column(s) {missing}")
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise ValueError(f"candidate table lacks column(s) {missing}")
    ok_arr = np.asarray(ok, dtype=bool)
    if ok_arr.shape != (len(probes),):
        raise ValueError(f"ok must have one entry per probe ({len(probes)}), got shape {ok_arr.shape}")
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be an integer >= 1, got {length!r}")
    if probes["image_id"].duplicated().any():
        raise ValueError("probe table repeats an image_id")
    cand = candidates[list(CANDIDATE_COLUMNS)].copy()
    index = pd.Index(probes["image_id"].astype(str))
    pos = index.get_indexer(cand["probe_id"].astype(str))
    if (pos < 0).any():
        raise ValueError(f"candidate list names probe {cand['probe_id'].iloc[int(np.argmax(pos < 0))]!r} not in the probe table")
    if (~ok_arr[pos]).any():
        raise ValueError(f"failed search {cand['probe_id'].iloc[int(np.argmax(~ok_arr[pos]))]!r} has candidates")
    cand["rank"] = cand["rank"].astype(np.int64)
    cand["score"] = cand["score"].astype(np.float64)
    if not np.isfinite(cand["score"]).all():
        raise ValueError("candidate scores must be finite")
    cand = cand.assign(_pos=pos).sort_values(["_pos", "rank"], kind="stable")
    n_cand = np.bincount(cand["_pos"], minlength=len(probes))
    expected_rank = np.arange(len(cand)) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand) + 1
    if not np.array_equal(cand["rank"].to_numpy(), expected_rank):
        raise ValueError("each candidate list must have ranks 1..n, once each")
    if (cand["rank"] > length).any():
        raise ValueError(f"a candidate has rank above the list length {length}")
    if cand.duplicated(["_pos", "candidate_subject"]).any():
        raise ValueError("a subject appears twice in one candidate list; lists are of subjects")

    searches = probes.rename(columns={"image_id": "probe_id", "subject_id": "probe_subject"}).reset_index(drop=True)
    searches["mated"] = searches["mated"].astype(bool)
    searches["ok"] = ok_arr
    p = cand["_pos"].to_numpy()
    mate = cand["candidate_subject"].astype(str).to_numpy() == searches["probe_subject"].astype(str).to_numpy()[p]
    mate_rank = np.full(len(probes), np.nan)
    mate_score = np.full(len(probes), np.nan)
    mate_rank[p[mate]] = cand["rank"].to_numpy()[mate]
    mate_score[p[mate]] = cand["score"].to_numpy()[mate]
    if np.any(~searches["mated"].to_numpy() & ~np.isnan(mate_rank)):
        raise ValueError("a non-mated search returned its own subject: the probe's subject is enrolled")
    first = cand["rank"].to_numpy() == 1
    top_candidate = np.full(len(probes), "", dtype=object)
    top_subject = np.full(len(probes), "", dtype=object)
    top_candidate[p[first]] = cand["candidate_id"].to_numpy()[first]
    top_subject[p[first]] = cand["candidate_subject"].to_numpy()[first]
    top_score = np.full(len(probes), np.nan)
    np.fmax.at(top_score, p, cand["score"].to_numpy())
    searches["mate_rank"], searches["mate_score"] = mate_rank, mate_score
    searches["top_candidate"], searches["top_subject"], searches["top_score"] = top_candidate, top_subject, top_score
    searches["n_candidates"] = n_cand
    cand = cand.drop(columns="_pos").reset_index(drop=True)
    return SearchTable(searches=searches, candidates=cand, length=int(length))


def candidates_from_result(
    probe_ids: Sequence[str], rows: np.ndarray, scores: np.ndarray, gallery_ids: Sequence[str], gallery_subjects: Sequence[str]
) -> pd.DataFrame:
    """Long candidate table from a :class:`frbench.search.topk.SearchResult`'s ``rows``/``scores``."""
    rows = np.asarray(rows)
    keep = rows >= 0
    p, r = np.nonzero(keep)
    g = rows[keep]
    return pd.DataFrame(
        {
            "probe_id": np.asarray(probe_ids, dtype=object)[p],
            "rank": r + 1,
            "candidate_id": np.asarray(gallery_ids, dtype=object)[g],
            "candidate_subject": np.asarray(gallery_subjects, dtype=object)[g],
            "score": np.asarray(scores)[keep],
        }
    )


def investigative_points(ranks: Sequence[int], length: int) -> list[OperatingPoint]:
    """``rank=R`` points (no threshold) for every R <= L."""
    bad = [r for r in ranks if not 1 <= r <= length]
    if bad:
        raise ValueError(f"ranks must be in 1..{length} (the candidate-list length), got {bad}")
    return [OperatingPoint(f"{RANK_PREFIX}{r}", int(r), -np.inf) for r in sorted(set(ranks))]


def nonmated_top_scores(table: SearchTable) -> np.ndarray:
    """Top score of every non-mated, completed search; -inf for one that returned nothing."""
    s = table.searches
    sel = s["ok"].to_numpy() & ~s["mated"].to_numpy()
    return np.where(np.isnan(s["top_score"].to_numpy()[sel]), -np.inf, s["top_score"].to_numpy()[sel])


def fpir_threshold(table: SearchTable, target: float) -> float:
    """T at target FPIR, by :func:`~frbench.metrics.thresholds.threshold_at_fmr` on non-mated top scores.

    A search that returned nothing takes part as scoring below every returned candidate; if the
    rule lands on such a search, every returned candidate may match and T is the lowest returned
    score (-inf when nothing was returned at all).
    """
    top = nonmated_top_scores(table)
    if top.size == 0:
        raise ValueError("no completed non-mated search: cannot set a threshold at a target FPIR")
    finite = top[np.isfinite(top)]
    if finite.size == 0:
        return -np.inf
    floor = float(finite.min())
    # Stand-in for "returned nothing": strictly below every real score, so ranks are unchanged.
    stand_in = floor - 1.0 - abs(floor)
    t = threshold_at_fmr(np.where(np.isfinite(top), top, stand_in), target)
    return max(floor, t)


def identification_points(table: SearchTable, targets: Sequence[float], rank: int | None = None) -> list[OperatingPoint]:
    """``fpir=<target>`` points: T by :func:`fpir_threshold`, decided at ``rank`` (default L)."""
    r = table.length if rank is None else int(rank)
    if not 1 <= r <= table.length:
        raise ValueError(f"rank must be in 1..{table.length}, got {r}")
    points = [Threshold.at_target_fpir(t, fpir_threshold(table, t)) for t in targets]
    return [OperatingPoint(p.name, r, p.value, p.target) for p in points]


def _units(searches: pd.DataFrame, groups: Groups) -> list[tuple[str, str, np.ndarray]]:
    """(attribute, group, mask) over searches: each search is in its probe's groups."""
    return groups.image_units(searches)


def decisions(table: SearchTable, point: OperatingPoint) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per search at one operating point: (miss, false_positive, n_above, truncated).

    ``miss``: the mate is not within ``rank`` with score >= T (meaningful for mated searches);
    ``false_positive``: some candidate scores >= T; ``n_above``: candidates within ``rank``
    with score >= T; ``truncated``: the list is full (L) and its last candidate scores >= T.
    """
    s = table.searches
    with np.errstate(invalid="ignore"):
        hit = (s["mate_rank"].to_numpy() <= point.rank) & (s["mate_score"].to_numpy() >= point.threshold)
        fp = s["top_score"].to_numpy() >= point.threshold
    c = table.candidates
    pos = pd.Index(s["probe_id"]).get_indexer(c["probe_id"])
    above = (c["score"].to_numpy() >= point.threshold) & (c["rank"].to_numpy() <= point.rank)
    n_above = np.bincount(pos[above], minlength=len(s))
    truncated = np.zeros(len(s), dtype=bool)
    if point.rank >= table.length:
        last = (c["rank"].to_numpy() == table.length) & (c["score"].to_numpy() >= point.threshold)
        truncated[pos[last]] = True
    return ~hit, fp, n_above, truncated


def search_counts(
    table: SearchTable,
    points: Sequence[OperatingPoint],
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
) -> pd.DataFrame:
    """Counts per operating point x attribute x group (``COUNT_COLUMNS``), the engine's input.

    Row order: points in the order given, then the ``all`` row, attributes as given
    (intersections last), groups sorted by name. ``n_mated``/``n_nonmated`` count completed
    searches, ``n_fnm`` missed mated searches, ``n_fm`` non-mated searches with a candidate >= T,
    ``n_sel`` the candidates >= T (within the rank) of non-mated searches.
    """
    if not points:
        raise ValueError("no operating points given")
    s = table.searches
    ok = s["ok"].to_numpy(dtype=bool)
    mated = s["mated"].to_numpy(dtype=bool)
    subjects = s["probe_subject"].to_numpy()
    units = _units(s, Groups.of(attributes, intersections))
    rows = []
    for point in points:
        miss, fp, n_above, truncated = decisions(table, point)
        for attr, group, mask in units:
            m = mask & ok & mated
            n = mask & ok & ~mated
            rows.append(
                (
                    point.name, point.threshold, point.rank, attr, group,
                    pd.unique(subjects[mask]).size,  # failed searches included, as failed pairs are in 1:1
                    int(m.sum()), int((m & miss).sum()),
                    int(n.sum()), int((n & fp).sum()), int(n_above[n].sum()), int((n & truncated).sum()),
                    int((mask & ~ok).sum()), int((mask & ~ok & mated).sum()),
                )
            )
    return pd.DataFrame(rows, columns=list(COUNT_COLUMNS))


# The 1:1 engine's columns, named for search (FMR of a search is its FPIR, FNMR its FNIR).
SEARCH_RATE_NAMES = {"fnmr": "fnir", "fmr": "fpir", "gfrr": "fnir_system", "gfar": "fpir_system"}


def _search_name(column: str) -> str:
    for one, search in SEARCH_RATE_NAMES.items():
        if column == one or column.startswith(one + "_"):
            return search + column[len(one):]
    return column


def rates_from_counts(
    counts: pd.DataFrame,
    level: float = 0.95,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    *,
    points: Sequence[OperatingPoint],
) -> pd.DataFrame:
    """Rates, Clopper-Pearson intervals and power flags of :func:`search_counts`, by the one engine.

    :func:`frbench.metrics.grouped.rates_from_counts` does the work (a mated search in
    ``n_mated``, a miss in ``n_fnm``, a non-mated search in ``n_nonmated``, one returning a
    candidate >= T in ``n_fm``); its FNMR and FMR columns are renamed FNIR and FPIR
    (``fnir``, ``fpir``, ``fnir_ci_low``, ..., ``fnir_system`` for the generalised rate that
    counts failed mated searches as misses, ``fpir_rule3_bound``, ``fpir_resolves``, ...).
    ``points`` are the operating points the counts were made at (:func:`search_counts`): rows of
    a point set at a target FPIR are judged against it; ``sel = n_sel / n_nonmated`` is added,
    and every column of ``counts`` is kept in front.
    """
    targets = {p.name: float(p.target_fpir) for p in points if p.target_fpir is not None}
    rated = engine_rates(counts, level, targets, min_subjects).rename(columns=_search_name)
    # every column of the counts (rank, n_sel, a sweep's own keys...) first, then the rates
    out = pd.concat([counts.reset_index(drop=True), rated[[c for c in rated.columns if c not in counts.columns]]], axis=1)
    out["sel"] = rate(out["n_sel"], out["n_nonmated"])
    # investigative rows (rank=R, no threshold) decide no false positive: their power is FNIR's
    investigative = out["threshold_name"].isin([p.name for p in points if p.investigative]).to_numpy()
    out.loc[investigative, "underpowered"] = ~out.loc[investigative, "fnir_resolves"].astype(bool)
    return out


def bootstrap_rates(
    table: SearchTable,
    points: Sequence[OperatingPoint],
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Subject-bootstrap percentile intervals of FNIR and FPIR, rows aligned with :func:`search_counts`.

    Columns ``fnir_boot_low, fnir_boot_high, fpir_boot_low, fpir_boot_high``. Each search is
    weighted by how often its probe's subject is drawn (both sides of
    :func:`~frbench.metrics.intervals.bootstrap_subjects` are that subject); thresholds stay fixed.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    s = table.searches
    ok = s["ok"].to_numpy(dtype=bool)
    mated = s["mated"].to_numpy(dtype=bool)
    units = _units(s, Groups.of(attributes, intersections))
    num, den = [], []
    for kind in ("fnir", "fpir"):
        for point in points:
            miss, fp, _, _ = decisions(table, point)
            for _, _, mask in units:
                d = mask & ok & (mated if kind == "fnir" else ~mated)
                num.append(d & (miss if kind == "fnir" else fp))
                den.append(d)
    num_m = sp.csr_matrix(np.column_stack(num).astype(np.float64))
    den_m = sp.csr_matrix(np.column_stack(den).astype(np.float64))
    subj = s["probe_subject"].astype(str).to_numpy()
    reps = bootstrap_subjects(subj, subj, num_m, den_m, replicates=replicates, seed=seed)
    half = reps.shape[1] // 2
    out = pd.DataFrame(index=range(half))
    out["fnir_boot_low"], out["fnir_boot_high"] = percentile_interval(reps[:, :half], level)
    out["fpir_boot_low"], out["fpir_boot_high"] = percentile_interval(reps[:, half:], level)
    return out


def cmc(
    table: SearchTable,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    level: float = 0.95,
) -> pd.DataFrame:
    """CMC(R) = 1 - FNIR(N, R, -inf) for R = 1..L, per probe group, with Clopper-Pearson intervals.

    Columns ``attribute, group, rank, n_mated, n_hits, cmc, cmc_ci_low, cmc_ci_high``.
    """
    s = table.searches
    ok = s["ok"].to_numpy(dtype=bool)
    mated = s["mated"].to_numpy(dtype=bool)
    rank = s["mate_rank"].to_numpy()
    ranks = np.arange(1, table.length + 1)
    frames = []
    for attr, group, mask in _units(s, Groups.of(attributes, intersections)):
        m = mask & ok & mated
        found = rank[m & ~np.isnan(rank)].astype(np.int64)
        hits = np.cumsum(np.bincount(found, minlength=table.length + 1)[1:])
        frames.append(pd.DataFrame({"attribute": attr, "group": group, "rank": ranks, "n_mated": int(m.sum()), "n_hits": hits}))
    out = pd.concat(frames, ignore_index=True)
    out["cmc"] = rate(out["n_hits"], out["n_mated"])
    out["cmc_ci_low"], out["cmc_ci_high"] = clopper_pearson(out["n_hits"], out["n_mated"], level)
    return out


def candidate_groups(
    table: SearchTable,
    gallery: pd.DataFrame,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    points: Sequence[OperatingPoint] = (),
) -> pd.DataFrame:
    """Who is wrongly returned: probe group x candidate group of false candidates of non-mated searches.

    Selections: ``rank=1`` (the first candidate of every completed non-mated search, whatever its
    score) and, per operating point, every candidate within its rank scoring >= its threshold.
    A candidate's group is that of its representative gallery image. Beside each count stands
    the gallery's make-up, ``gallery_share`` (share of enrolled subjects in the candidate group,
    each subject weighing 1 split over its usable images), and what independence between probe
    and candidate group would predict: ``expected = n_probe_group_candidates x gallery_share``;
    ``ratio = n_candidates / expected``.

    Parameters
    ----------
    gallery : DataFrame
        ``image_id``, ``subject_id``, the attribute columns and ``ok`` (usable template).
    """
    missing = [c for c in ("image_id", "subject_id", "ok") if c not in gallery.columns]
    if missing:
        raise ValueError(f"gallery table lacks column(s) {missing}")
    s = table.searches
    nonmated = s["ok"].to_numpy(dtype=bool) & ~s["mated"].to_numpy(dtype=bool)
    c = table.candidates
    pos = pd.Index(s["probe_id"]).get_indexer(c["probe_id"])
    from_nonmated = nonmated[pos]
    selections = [(f"{RANK_PREFIX}1", c["rank"].to_numpy() == 1)]
    for point in points:
        selections.append((point.name, (c["score"].to_numpy() >= point.threshold) & (c["rank"].to_numpy() <= point.rank)))
    g_ok = gallery[gallery["ok"].astype(bool)]
    weight = 1.0 / g_ok.groupby("subject_id")["image_id"].transform("size").to_numpy()
    g_index = pd.Index(gallery["image_id"])
    at = g_index.get_indexer(c["candidate_id"])
    if (at < 0).any():
        raise ValueError(f"candidate {c['candidate_id'].iloc[int(np.argmax(at < 0))]!r} is not in the gallery table")
    frames = []
    groups = Groups.of(attributes, intersections)
    for attr in groups.names:
        probe_labels = groups.image_labels(s, attr)
        gallery_labels = groups.image_labels(gallery, attr)
        cand_labels = gallery_labels[at]
        share = pd.Series(weight).groupby(groups.image_labels(g_ok, attr)).sum() / weight.sum()
        p_groups = sorted(set(probe_labels[nonmated]))
        c_groups = sorted(set(gallery_labels))
        for name, chosen in selections:
            keep = chosen & from_nonmated
            counts = pd.crosstab(
                pd.Categorical(probe_labels[pos[keep]], categories=p_groups),
                pd.Categorical(cand_labels[keep], categories=c_groups),
                dropna=False,
            ).reindex(index=p_groups, columns=c_groups, fill_value=0)
            n_searches = pd.Series(probe_labels[nonmated]).value_counts().reindex(p_groups, fill_value=0)
            for pg in p_groups:
                total = int(counts.loc[pg].sum())
                for cg in c_groups:
                    gs = float(share.get(cg, 0.0))
                    expected = total * gs
                    frames.append(
                        {
                            "selection": name, "attribute": attr, "probe_group": pg, "candidate_group": cg,
                            "n_searches": int(n_searches[pg]), "n_candidates": int(counts.loc[pg, cg]),
                            "share": counts.loc[pg, cg] / total if total else np.nan,
                            "gallery_share": gs, "expected": expected,
                            "ratio": counts.loc[pg, cg] / expected if expected > 0 else np.nan,
                        }
                    )
    return pd.DataFrame(frames)
