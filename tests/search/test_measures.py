"""1:N measures on a hand-computed search table, and against an independent brute force.

Hand case (L = 3; gallery A, B female, C, D male; A has two gallery images):

    probe  subject  gender  mated  list (subject: score)          mate rank
    p1     A        female  yes    A .9, C .5, B .4               1
    p2     B        female  yes    C .8, D .7, B .6               3   (R + 1 for R = 2)
    p3     C        male    yes    A .7, B .6, D .5               not in the list
    p4     X        female  no     D .65, A .3, B .2
    p5     Y        male    no     A .65, C .1, D .0              (ties p4's top score)
    p6     Z        male    no     (empty list)
    p7     D        male    yes    failed to enrol
    p8     W        female  no     C .5, D .45, A .4
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.metrics.intervals import subject_draws
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.search.measures import (
    OperatingPoint,
    bootstrap_rates,
    candidate_groups,
    cmc,
    fpir_threshold,
    identification_points,
    investigative_points,
    rates_from_counts,
    search_counts,
    search_table,
)

LISTS = {
    "p1": [("A", 0.9), ("C", 0.5), ("B", 0.4)],
    "p2": [("C", 0.8), ("D", 0.7), ("B", 0.6)],
    "p3": [("A", 0.7), ("B", 0.6), ("D", 0.5)],
    "p4": [("D", 0.65), ("A", 0.3), ("B", 0.2)],
    "p5": [("A", 0.65), ("C", 0.1), ("D", 0.0)],
    "p6": [],
    "p7": [],
    "p8": [("C", 0.5), ("D", 0.45), ("A", 0.4)],
}
PROBES = pd.DataFrame(
    {
        "image_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
        "subject_id": ["A", "B", "C", "X", "Y", "Z", "D", "W"],
        "mated": [True, True, True, False, False, False, True, False],
        "gender": ["female", "female", "male", "female", "male", "male", "male", "female"],
    }
)
OK = np.array([True, True, True, True, True, True, False, True])
GALLERY = pd.DataFrame(
    {
        "image_id": ["A1", "A2", "B1", "C1", "D1"],
        "subject_id": ["A", "A", "B", "C", "D"],
        "gender": ["female", "female", "female", "male", "male"],
        "ok": [True, True, True, True, True],
    }
)


def hand_table():
    rows = [
        {"probe_id": p, "rank": r + 1, "candidate_id": f"{s}1", "candidate_subject": s, "score": v}
        for p, lst in LISTS.items()
        for r, (s, v) in enumerate(lst)
    ]
    return search_table(PROBES, OK, pd.DataFrame(rows), 3)


def row(frame, name, attribute="all", group="all"):
    sel = frame[(frame["threshold_name"] == name) & (frame["attribute"] == attribute) & (frame["group"] == group)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_search_table_reads_mate_rank_and_top_candidate():
    s = hand_table().searches.set_index("probe_id")
    assert s.loc["p1", "mate_rank"] == 1 and s.loc["p1", "mate_score"] == 0.9
    assert s.loc["p2", "mate_rank"] == 3 and s.loc["p2", "mate_score"] == 0.6
    assert np.isnan(s.loc["p3", "mate_rank"]) and np.isnan(s.loc["p3", "mate_score"])
    assert np.isnan(s.loc["p4", "mate_rank"])  # non-mated
    assert s.loc["p4", "top_subject"] == "D" and s.loc["p4", "top_score"] == 0.65
    assert s.loc["p6", "n_candidates"] == 0 and np.isnan(s.loc["p6", "top_score"])
    assert not s.loc["p7", "ok"]


def test_investigative_counts_by_hand():
    t = hand_table()
    counts = search_counts(t, investigative_points([1, 2, 3], 3), ["gender"])
    # rank 1: p2 (rank 3) and p3 (absent) missed; rank 2: the same; rank 3: only p3.
    assert (row(counts, "rank=1")[["n_mated", "n_fnm"]] == [3, 2]).all()
    assert row(counts, "rank=2")["n_fnm"] == 2
    assert row(counts, "rank=3")["n_fnm"] == 1
    assert (row(counts, "rank=1", "gender", "female")[["n_mated", "n_fnm"]] == [2, 1]).all()
    assert (row(counts, "rank=1", "gender", "male")[["n_mated", "n_fnm"]] == [1, 1]).all()
    # With no threshold every non-empty list is a "positive"; p6 returned nothing.
    assert (row(counts, "rank=1")[["n_nonmated", "n_fm", "n_sel"]] == [4, 3, 3]).all()
    assert row(counts, "rank=3")["n_sel"] == 9
    # Lists full at L = 3 with the last candidate above -inf: p4, p5, p8.
    assert row(counts, "rank=3")["n_sel_truncated"] == 3 and row(counts, "rank=2")["n_sel_truncated"] == 0
    # p7 failed: out of every rate, counted as failed (and failed mated) in its group.
    assert (row(counts, "rank=1", "gender", "male")[["n_failed", "n_failed_mated"]] == [1, 1]).all()
    assert row(counts, "rank=1", "gender", "female")["n_failed"] == 0
    assert row(counts, "rank=1")["n_subjects"] == 8  # the failed search's subject counts, as in 1:1


@pytest.mark.parametrize(
    "target, threshold, n_fm, n_fnm, n_sel",
    [
        # top scores of the 4 non-mated searches: .65, .65, .5, nothing (p6)
        (0.25, np.nextafter(0.65, np.inf), 0, 2, 0),  # k = 1: ties at .65 rejected, every list empty above T
        (0.5, np.nextafter(0.5, np.inf), 2, 1, 2),  # k = 2: T just above .5
        (0.75, 0.5, 3, 1, 3),  # k = 3 lands on p6's empty list: every returned candidate may match
        (1.0, 0.5, 3, 1, 3),
    ],
)
def test_fpir_threshold_rule_and_identification_counts_by_hand(target, threshold, n_fm, n_fnm, n_sel):
    t = hand_table()
    assert fpir_threshold(t, target) == threshold
    (point,) = identification_points(t, [target])
    # the name reads back as the target: 0.25 is fpir=2.5e-01, never a rounded fpir=2e-01
    assert point.rank == 3 and point.name.startswith("fpir=") and float(point.name.removeprefix("fpir=")) == target
    r = row(search_counts(t, [point], ["gender"]), point.name)
    assert (r[["n_nonmated", "n_fm", "n_mated", "n_fnm", "n_sel"]] == [4, n_fm, 3, n_fnm, n_sel]).all()
    assert r["n_fm"] / r["n_nonmated"] <= target


def test_mate_at_rank_r_plus_one_is_a_miss_at_rank_r_only():
    t = hand_table()
    points = [OperatingPoint("r2", 2, 0.5), OperatingPoint("r3", 3, 0.5), OperatingPoint("r3hi", 3, 0.61)]
    counts = search_counts(t, points, ["gender"])
    assert row(counts, "r2", "gender", "female")["n_fnm"] == 1  # p2's mate is at rank 3
    assert row(counts, "r3", "gender", "female")["n_fnm"] == 0
    assert row(counts, "r3hi", "gender", "female")["n_fnm"] == 1  # rank 3 but score .6 < .61


def test_fpir_threshold_is_threshold_at_fmr_on_top_scores():
    rng = np.random.default_rng(4)
    n = 200
    rows = [
        {"probe_id": f"q{i}", "rank": 1, "candidate_id": "g", "candidate_subject": "G", "score": s}
        for i, s in enumerate(np.round(rng.normal(size=n), 2))  # rounding makes ties
    ]
    probes = pd.DataFrame({"image_id": [f"q{i}" for i in range(n)], "subject_id": [f"s{i}" for i in range(n)], "mated": False})
    t = search_table(probes, np.ones(n, bool), pd.DataFrame(rows), 1)
    top = t.searches["top_score"].to_numpy()
    for target in (0.0, 0.003, 0.01, 0.1, 0.29, 0.5):
        thr = fpir_threshold(t, target)
        assert thr == threshold_at_fmr(top, target)
        assert np.mean(top >= thr) <= target


def test_rates_and_power_flags():
    t = hand_table()
    points = investigative_points([1], 3) + identification_points(t, [0.5, 1e-3])
    rates = rates_from_counts(search_counts(t, points, ["gender"]), points=points)
    r = row(rates, "fpir=5e-01")
    assert r["fpir"] == 0.5 and r["fnir"] == pytest.approx(1 / 3) and r["sel"] == 0.5
    assert r["fnir_system"] == pytest.approx(2 / 4)  # p7 counted as a miss
    assert r["fpir_rule3_bound"] == 0.75 and not r["fpir_resolves"] and r["underpowered"]  # 3/4 > 0.5
    assert row(rates, "fpir=1e-03")["underpowered"]
    # rank rows decide no false positive: their power is FNIR's alone, by the rule of three as in 1:1:
    # 3 mated searches cannot resolve the all row's FNIR (3/3 > 1/3)
    rank1 = row(rates, "rank=1")
    assert rank1["fnir_rule3_bound"] == 1.0 and not rank1["fnir_resolves"] and rank1["underpowered"]
    assert 0 <= r["fnir_ci_low"] <= r["fnir"] <= r["fnir_ci_high"] <= 1


def test_cmc_is_one_minus_fnir_and_non_decreasing():
    t = hand_table()
    c = cmc(t, ["gender"])
    counts = search_counts(t, investigative_points([1, 2, 3], 3), ["gender"])
    for _, r in c.iterrows():
        k = row(counts, f"rank={r['rank']}", r["attribute"], r["group"])
        assert r["n_hits"] == k["n_mated"] - k["n_fnm"]
    for _, part in c.groupby(["attribute", "group"]):
        assert np.all(np.diff(part["cmc"].to_numpy()) >= 0)
    assert c[(c["attribute"] == "all")]["n_hits"].tolist() == [1, 1, 2]


def test_candidate_groups_by_hand():
    t = hand_table()
    (point,) = identification_points(t, [0.5])
    cg = candidate_groups(t, GALLERY, ["gender"], (), [point]).set_index(["selection", "probe_group", "candidate_group"])
    # Gallery: 2 female subjects (A with two images) and 2 male: share 0.5 each, per subject.
    assert (cg["gallery_share"] == 0.5).all()
    # rank 1 of non-mated searches: p4 (female) -> D (male), p8 (female) -> C (male), p5 (male) -> A.
    assert cg.loc[("rank=1", "female", "male"), "n_candidates"] == 2
    assert cg.loc[("rank=1", "female", "female"), "n_candidates"] == 0
    assert cg.loc[("rank=1", "female", "male"), "expected"] == 1.0
    assert cg.loc[("rank=1", "female", "male"), "ratio"] == 2.0
    assert cg.loc[("rank=1", "male", "female"), "n_candidates"] == 1
    assert cg.loc[("rank=1", "male", "female"), "n_searches"] == 2  # p5 and p6 (empty list)
    # above T (just above .5): p4 -> D .65, p5 -> A .65; p8's .5 is not above.
    assert cg.loc[("fpir=5e-01", "female", "male"), "n_candidates"] == 1
    assert cg.loc[("fpir=5e-01", "male", "female"), "n_candidates"] == 1
    assert cg.loc[("fpir=5e-01", "male", "male"), "n_candidates"] == 0


def random_table(seed, n=120, length=6):
    rng = np.random.default_rng(seed)
    subjects = [f"s{i % 40}" for i in range(n)]
    enrolled = {f"s{i}" for i in range(25)}
    probes = pd.DataFrame(
        {
            "image_id": [f"q{i}" for i in range(n)],
            "subject_id": subjects,
            "mated": [s in enrolled for s in subjects],
            "gender": rng.choice(["f", "m"], n),
            "tone": rng.choice(["dark", "light"], n),
        }
    )
    ok = rng.random(n) > 0.05
    rows = []
    for i in range(n):
        if not ok[i]:
            continue
        k = rng.integers(0, length + 1)
        cands = rng.choice(sorted(enrolled), size=k, replace=False)
        for r, (c, s) in enumerate(zip(cands, np.sort(np.round(rng.random(k), 1))[::-1])):
            rows.append({"probe_id": f"q{i}", "rank": r + 1, "candidate_id": c, "candidate_subject": c, "score": s})
    return search_table(probes, ok, pd.DataFrame(rows, columns=["probe_id", "rank", "candidate_id", "candidate_subject", "score"]), length)


def test_counts_equal_a_per_search_brute_force():
    t = random_table(0)
    points = investigative_points([1, 3, 6], 6) + [OperatingPoint("t", 6, 0.5), OperatingPoint("t2", 2, 0.7)]
    counts = search_counts(t, points, ["gender"], [["gender", "tone"]])
    lists = {p: part.sort_values("rank") for p, part in t.candidates.groupby("probe_id")}
    for _, c in counts.iterrows():
        fnm = fm = sel = mated = nonmated = 0
        for _, s in t.searches.iterrows():
            label = "all" if c["attribute"] == "all" else "+".join(str(s[a]) for a in c["attribute"].split("+"))
            if label != c["group"] or not s["ok"]:
                continue
            lst = lists.get(s["probe_id"], pd.DataFrame(columns=["rank", "candidate_subject", "score"]))
            within = lst[(lst["rank"] <= c["rank"]) & (lst["score"] >= c["threshold"])]
            if s["mated"]:
                mated += 1
                fnm += s["probe_subject"] not in set(within["candidate_subject"])
            else:
                nonmated += 1
                fm += bool((lst["score"] >= c["threshold"]).any())
                sel += len(within)
        assert (c["n_mated"], c["n_fnm"], c["n_nonmated"], c["n_fm"], c["n_sel"]) == (mated, fnm, nonmated, fm, sel)


def test_bootstrap_matches_a_direct_resampling():
    t = random_table(1)
    points = [OperatingPoint("t", 6, 0.5)]
    boot = bootstrap_rates(t, points, ["gender"], (), replicates=200, seed=7, level=0.9)
    counts = search_counts(t, points, ["gender"])
    s = t.searches
    subjects = sorted(set(s["probe_subject"]))
    draws = subject_draws(len(subjects), 200, 7)
    weight = draws[:, [subjects.index(x) for x in s["probe_subject"]]]
    ok, mated = s["ok"].to_numpy(), s["mated"].to_numpy()
    with np.errstate(invalid="ignore"):
        hit = (s["mate_rank"] <= 6).to_numpy() & (s["mate_score"] >= 0.5).to_numpy()
        fp = (s["top_score"] >= 0.5).to_numpy()
    for i, c in counts.iterrows():
        g = np.ones(len(s), bool) if c["group"] == "all" else (s["gender"] == c["group"]).to_numpy()
        den = ok & mated & g
        reps = (weight * (den & ~hit)).sum(1) / (weight * den).sum(1)
        lo, hi = np.nanquantile(np.where((weight * den).sum(1) > 0, reps, np.nan), [0.05, 0.95])
        assert boot.loc[i, "fnir_boot_low"] == pytest.approx(lo) and boot.loc[i, "fnir_boot_high"] == pytest.approx(hi)
        den = ok & ~mated & g
        reps = (weight * (den & fp)).sum(1) / (weight * den).sum(1)
        lo, hi = np.nanquantile(reps, [0.05, 0.95])
        assert boot.loc[i, "fpir_boot_low"] == pytest.approx(lo) and boot.loc[i, "fpir_boot_high"] == pytest.approx(hi)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.assign(rank=c["rank"] + 1), "ranks 1..n"),
        (lambda c: c.assign(probe_id="nobody"), "not in the probe table"),
        (lambda c: pd.concat([c, c.iloc[[0]].assign(rank=4)]), "above the list length"),
        (lambda c: c.assign(candidate_subject="A"), "twice in one candidate list"),
    ],
)
def test_search_table_refuses_malformed_lists(change, message):
    rows = [
        {"probe_id": p, "rank": r + 1, "candidate_id": f"{s}1", "candidate_subject": s, "score": v}
        for p, lst in LISTS.items()
        for r, (s, v) in enumerate(lst)
    ]
    with pytest.raises(ValueError, match=message):
        search_table(PROBES, OK, change(pd.DataFrame(rows)), 3)
