"""Per-group table: hand-counted cases, the group rule, failures, intervals, bootstrap, FTE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from frbench.groups import Groups
from frbench.metrics.grouped import (
    BOOTSTRAP_COLUMNS,
    PER_GROUP_COLUMNS,
    failure_to_enrol,
    per_group_rates,
    per_group_thresholds,
)

SUBJECTS = {  # subject: (race, gender)
    "S1": ("black", "female"),
    "S2": ("black", "female"),
    "S3": ("black", "male"),
    "S4": ("white", "male"),
    "S5": ("white", "female"),
}
# (subject_a, subject_b, mated, score); NaN = a side failed to embed
PAIRS = [
    ("S1", "S1", True, 0.9),  # p0
    ("S2", "S2", True, 0.4),  # p1 false non-match at 0.5
    ("S3", "S3", True, 0.5),  # p2 tie at 0.5: a match
    ("S4", "S4", True, 0.3),  # p3 false non-match
    ("S5", "S5", True, np.nan),  # p4 failed
    ("S1", "S2", False, 0.6),  # p5 false match; black, female
    ("S1", "S3", False, 0.5),  # p6 tie: false match; black, gender differs
    ("S3", "S4", False, 0.2),  # p7 race differs; male
    ("S4", "S5", False, 0.55),  # p8 false match; white, gender differs
    ("S2", "S5", False, 0.1),  # p9 race differs; female
    ("S2", "S3", False, np.nan),  # p10 failed; black, gender differs
]


def make_pairs(rows=PAIRS, subjects=SUBJECTS) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["subject_a", "subject_b", "mated", "score"])
    df["ok"] = df["score"].notna()
    for side in ("a", "b"):
        df[f"race_{side}"] = [subjects[s][0] for s in df[f"subject_{side}"]]
        df[f"gender_{side}"] = [subjects[s][1] for s in df[f"subject_{side}"]]
    return df


@pytest.fixture
def table() -> pd.DataFrame:
    return per_group_rates(
        make_pairs(), Groups.of(["race", "gender"], [["race", "gender"]]), {"t0.5": 0.5, "t0.7": 0.7}, targets={"t0.5": 0.7, "t0.7": 0.7}
    )


def row(table, threshold_name, attribute, group):
    hit = table[(table.threshold_name == threshold_name) & (table.attribute == attribute) & (table.group == group)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_columns_and_row_order(table):
    assert list(table.columns) == list(PER_GROUP_COLUMNS)
    units = [
        ("all", "all"),
        ("race", "black"),
        ("race", "white"),
        ("gender", "female"),
        ("gender", "male"),
        ("race+gender", "black+female"),
        ("race+gender", "black+male"),
        ("race+gender", "white+female"),
        ("race+gender", "white+male"),
    ]
    assert list(zip(table.attribute, table.group)) == units * 2
    assert table.threshold_name.tolist() == ["t0.5"] * 9 + ["t0.7"] * 9
    assert table.threshold.tolist() == [0.5] * 9 + [0.7] * 9


@pytest.mark.parametrize(
    "attribute, group, n_subjects, n_mated, n_fnm, n_nonmated, n_fm, n_failed, gfrr",
    [
        # all: mated ok p0-p3, non-matches p1 p3; non-mated ok p5-p9, matches p5 p6 (tie) p8;
        # failed p4 (mated) and p10: generalised FRR (2 + 1) / (4 + 1).
        ("all", "all", 5, 4, 2, 5, 3, 2, 3 / 5),
        # black: mated p0 p1 p2, non-mated p5 p6 (both matches), p10 failed.
        ("race", "black", 3, 3, 1, 2, 2, 1, 1 / 3),
        # white: mated p3 (non-match), p4 failed (mated); non-mated p8 (match).
        ("race", "white", 2, 1, 1, 1, 1, 1, 2 / 2),
        # female: mated p0 p1, p4 failed; non-mated p5 (match) p9.
        ("gender", "female", 3, 2, 1, 2, 1, 1, 2 / 3),
        # male: mated p2 p3; non-mated p7.
        ("gender", "male", 2, 2, 1, 1, 0, 0, 1 / 2),
        ("race+gender", "black+female", 2, 2, 1, 1, 1, 0, 1 / 2),
        ("race+gender", "black+male", 1, 1, 0, 0, 0, 0, 0.0),
        # white+female: p4 only, failed; its subject still counts, and GFRR shows the failure.
        ("race+gender", "white+female", 1, 0, 0, 0, 0, 1, 1.0),
        ("race+gender", "white+male", 1, 1, 1, 0, 0, 0, 1.0),
    ],
)
def test_counts_by_hand_at_05(table, attribute, group, n_subjects, n_mated, n_fnm, n_nonmated, n_fm, n_failed, gfrr):
    r = row(table, "t0.5", attribute, group)
    assert (r.n_subjects, r.n_mated, r.n_fnm, r.n_nonmated, r.n_fm, r.n_failed) == (
        n_subjects,
        n_mated,
        n_fnm,
        n_nonmated,
        n_fm,
        n_failed,
    )
    assert r.gfrr == pytest.approx(gfrr)
    if n_mated:
        assert r.fnmr == pytest.approx(n_fnm / n_mated)
    else:
        assert np.isnan(r.fnmr)
    if n_nonmated:
        assert r.fmr == pytest.approx(n_fm / n_nonmated)
        assert r.fmr_rule3_bound == pytest.approx(3 / n_nonmated)
    else:
        assert np.isnan(r.fmr) and np.isnan(r.fmr_rule3_bound) and r.underpowered


def test_counts_by_hand_at_07(table):
    # all: mated 0.9 0.4 0.5 0.3 -> three below 0.7; no non-mated score reaches 0.7.
    r = row(table, "t0.7", "all", "all")
    assert (r.n_fnm, r.n_fm, r.fmr) == (3, 0, 0.0)
    # A zero FMR still has an interval: [0, 1 - 0.025^(1/5)].
    assert r.fmr_ci_low == 0.0 and r.fmr_ci_high == pytest.approx(1 - 0.025 ** (1 / 5))
    assert row(table, "t0.7", "race", "black").n_fnm == 2


def test_underpowered_against_the_target(table):
    # FMR against the target 0.7: all has 3/5 = 0.6 (resolves); black 3/2 = 1.5 and black+male
    # (no non-mated pair) do not.
    assert row(table, "t0.5", "all", "all").fmr_resolves
    assert not row(table, "t0.5", "race", "black").fmr_resolves
    assert not row(table, "t0.5", "race+gender", "black+male").fmr_resolves
    # FNMR against the all row's FNMR at t0.5 (2 of 4 = 0.5): all's 3/4 does not resolve it, so
    # even the all row is underpowered; female's FNMR (3/2) neither.
    everyone = row(table, "t0.5", "all", "all")
    assert everyone.fnmr_reference == 0.5 and not everyone.fnmr_resolves and everyone.underpowered
    assert row(table, "t0.5", "race", "black").underpowered


def test_intervals_are_exact_binomial(table):
    r = row(table, "t0.5", "all", "all")
    ci = binomtest(3, 5).proportion_ci(confidence_level=0.95, method="exact")
    assert (r.fmr_ci_low, r.fmr_ci_high) == pytest.approx((ci.low, ci.high))
    ci = binomtest(2, 4).proportion_ci(confidence_level=0.95, method="exact")
    assert (r.fnmr_ci_low, r.fnmr_ci_high) == pytest.approx((ci.low, ci.high))


def random_pairs(n_pairs=3000, n_subjects=600, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c"], n_subjects, p=[0.6, 0.3, 0.1])
    gender = rng.choice(["f", "m", "unknown"], n_subjects, p=[0.4, 0.5, 0.1])
    half = n_pairs // 2
    ma = rng.integers(0, n_subjects, half)
    na = rng.integers(0, n_subjects, n_pairs - half)
    nb = (na + rng.integers(1, n_subjects, n_pairs - half)) % n_subjects
    a, b = np.concatenate([ma, na]), np.concatenate([ma, nb])
    mated = np.arange(n_pairs) < half
    score = np.round(np.where(mated, rng.normal(0.6, 0.15, n_pairs), rng.normal(0.3, 0.15, n_pairs)), 2)
    ok = rng.random(n_pairs) > 0.02
    return pd.DataFrame(
        {
            "score": np.where(ok, score, np.nan),
            "mated": mated,
            "ok": ok,
            "subject_a": np.char.add("s", a.astype(str)),
            "subject_b": np.char.add("s", b.astype(str)),
            "race_a": race[a],
            "race_b": race[b],
            "gender_a": gender[a],
            "gender_b": gender[b],
        }
    )


def test_agrees_with_a_direct_pandas_computation():
    pairs = random_pairs()
    out = per_group_rates(pairs, Groups.of(["race", "gender"], [["race", "gender"]]), {"t": 0.45})
    for _, r in out.iterrows():
        if r.attribute == "all":
            sel = pairs[pairs.ok]
        else:
            parts = r.attribute.split("+")
            sel = pairs[pairs.ok]
            for part, value in zip(parts, r.group.split("+")):
                sel = sel[(sel[f"{part}_a"] == value) & (sel[f"{part}_b"] == value)]
        nonmated, mated = sel[~sel.mated], sel[sel.mated]
        assert r.n_nonmated == len(nonmated) and r.n_mated == len(mated)
        assert r.n_fm == int((nonmated.score >= 0.45).sum())
        assert r.n_fnm == int((mated.score < 0.45).sum())
        assert r.n_subjects == len(set(sel.subject_a) | set(sel.subject_b))
    # Every group whose pairs have both sides in it is reported, "unknown" included.
    assert set(out[out.attribute == "gender"].group) == {"f", "m", "unknown"}


def test_bootstrap_columns_and_seed():
    pairs = random_pairs()
    kwargs = dict(groups=Groups.of(["race"]), thresholds={"t": 0.45}, bootstrap=200)
    first = per_group_rates(pairs, seed=1, **kwargs)
    assert list(first.columns) == list(PER_GROUP_COLUMNS) + list(BOOTSTRAP_COLUMNS)
    pd.testing.assert_frame_equal(first, per_group_rates(pairs, seed=1, **kwargs))
    other = per_group_rates(pairs, seed=2, **kwargs)
    assert not np.allclose(first["fnmr_boot_low"], other["fnmr_boot_low"])
    for rate in ("fnmr", "fmr"):
        low, high = first[f"{rate}_boot_low"], first[f"{rate}_boot_high"]
        assert ((0 <= low) & (low <= high) & (high <= 1)).all()
        # The subject bootstrap interval brackets the point estimate on these well-populated groups.
        assert ((low <= first[rate]) & (first[rate] <= high)).all()


def test_invalid_tables_are_rejected():
    pairs = make_pairs()
    with pytest.raises(ValueError, match="gender"):
        per_group_rates(pairs.drop(columns=["gender_b"]), Groups.of(["gender"]), {"t": 0.5})
    broken = pairs.copy()
    broken.loc[0, "score"] = np.nan
    with pytest.raises(ValueError, match="marked ok"):
        per_group_rates(broken, Groups.of(["race"]), {"t": 0.5})
    with pytest.raises(ValueError, match="no thresholds"):
        per_group_rates(pairs, Groups.of(["race"]), {})
    with pytest.raises(ValueError, match="NaN"):
        per_group_rates(pairs, Groups.of(["race"]), {"t": float("nan")})
    missing = pairs.copy()
    missing.loc[0, "race_a"] = None
    with pytest.raises(ValueError, match="missing values"):
        per_group_rates(missing, Groups.of(["race"]), {"t": 0.5})


def test_per_group_thresholds_by_hand():
    out = per_group_thresholds(make_pairs(), Groups.of(["race"], [["race", "gender"]]), target_fmr=0.5)
    black = out[(out.attribute == "race") & (out.group == "black")].iloc[0]
    # black non-mated scores {0.6, 0.5}: k = 1, threshold just above s_(2) = 0.5, only 0.6 matches;
    # black mated {0.9, 0.4, 0.5}: 0.4 and 0.5 fall below it.
    assert black.threshold == np.nextafter(0.5, np.inf)
    assert black.achieved_fmr == 0.5 and black.fnmr == pytest.approx(2 / 3)
    no_impostors = out[out.group == "black+male"].iloc[0]
    assert np.isnan(no_impostors.threshold) and no_impostors.n_nonmated == 0
    assert out.iloc[0][["attribute", "group"]].tolist() == ["all", "all"]


def test_failure_to_enrol_by_hand():
    images = pd.DataFrame(
        {
            "image_id": ["i1", "i2", "i3", "i4", "i5"],
            "subject_id": ["S1", "S1", "S2", "S3", "S4"],
            "gender": ["female", "female", "female", "male", "male"],
            "race": ["black", "black", "black", "white", "white"],
        }
    )
    status = pd.Series({"i5": "ok", "i4": "unreadable", "i3": "ok", "i2": "no_face", "i1": "ok"})
    out = failure_to_enrol(images, status, Groups.of(["gender"], [["race", "gender"]]))
    assert list(out.columns) == [
        "attribute", "group", "n_images", "n_subjects", "n_failed", "fte", "fte_ci_low", "fte_ci_high"
    ]
    expected = [
        ("all", "all", 5, 4, 2, 2 / 5),
        ("gender", "female", 3, 2, 1, 1 / 3),
        ("gender", "male", 2, 2, 1, 1 / 2),
        ("race+gender", "black+female", 3, 2, 1, 1 / 3),
        ("race+gender", "white+male", 2, 2, 1, 1 / 2),
    ]
    got = out[["attribute", "group", "n_images", "n_subjects", "n_failed"]].itertuples(index=False)
    assert [tuple(g) for g in got] == [e[:5] for e in expected]
    np.testing.assert_allclose(out["fte"], [e[5] for e in expected])
    ci = binomtest(2, 5).proportion_ci(method="exact")
    assert (out.fte_ci_low[0], out.fte_ci_high[0]) == pytest.approx((ci.low, ci.high))
    with pytest.raises(ValueError, match="i5"):
        failure_to_enrol(images, status.drop("i5"), Groups.of(["gender"]))
