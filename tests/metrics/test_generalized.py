"""Generalised rates (ISO/IEC 19795-1) by hand, and their pair-level form from counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frbench.metrics.generalized import GENERALIZED_COLUMNS, generalized_columns, generalized_rates, pair_generalized_rates
from frbench.groups import Groups
from frbench.metrics.grouped import per_group_rates


def test_iso_formulas_by_hand():
    out = generalized_rates(fmr=0.01, fnmr=0.1, fta=0.02, fte=0.05)
    assert out["far"] == pytest.approx(0.01 * 0.98)
    assert out["frr"] == pytest.approx(0.02 + 0.1 * 0.98)
    assert out["gfar"] == pytest.approx(0.01 * 0.98 * 0.95)
    assert out["gfrr"] == pytest.approx(0.05 + 0.95 * 0.02 + 0.95 * 0.98 * 0.1)  # 0.1621
    # A genuine transaction succeeds only if enrolment, acquisition and comparison all do.
    assert 1 - out["gfrr"] == pytest.approx(0.95 * 0.98 * 0.9)
    # Without failures the generalised rates are the plain ones.
    plain = generalized_rates(0.01, 0.1, 0.0, 0.0)
    assert plain["gfar"] == pytest.approx(0.01) and plain["gfrr"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="fta"):
        generalized_rates(0.01, 0.1, 1.5, 0.0)


def test_pair_level_rates_are_the_iso_rates_with_the_failed_share():
    # 98 scored non-mated pairs (2 false matches) and 2 failed; 45 scored mated (5 false non-matches) and 5 failed.
    out = pair_generalized_rates(n_fm=2, n_nonmated=98, n_failed_nonmated=2, n_fnm=5, n_mated=45, n_failed_mated=5)
    assert out["gfar"] == pytest.approx(2 / 100) and out["gfrr"] == pytest.approx(10 / 50)
    assert out["failed_share_nonmated"] == pytest.approx(0.02) and out["failed_share_mated"] == pytest.approx(0.1)
    iso_nm = generalized_rates(fmr=2 / 98, fnmr=5 / 45, fta=0.0, fte=0.02)
    iso_m = generalized_rates(fmr=2 / 98, fnmr=5 / 45, fta=0.0, fte=0.1)
    assert out["gfar"] == pytest.approx(iso_nm["gfar"]) and out["gfrr"] == pytest.approx(iso_m["gfrr"])


def test_a_group_whose_pairs_all_failed():
    out = pair_generalized_rates([0, 0], [0, 0], [40, 0], [0, 0], [0, 0], [30, 0])
    assert out["gfar"][0] == 0.0 and out["gfrr"][0] == 1.0  # every failure is a rejection
    assert np.isnan(out["gfar"][1]) and np.isnan(out["gfrr"][1])  # no pairs at all


def test_per_group_table_carries_the_generalised_rates_of_its_counts():
    # Mated: 4 scored (1 below 0.5), 2 failed; non-mated: 5 scored (1 at or above 0.5), 1 failed.
    pairs = pd.DataFrame(
        {
            "score": [0.9, 0.8, 0.7, 0.2, np.nan, np.nan, 0.6, 0.1, 0.2, 0.3, 0.4, np.nan],
            "mated": [True] * 6 + [False] * 6,
            "ok": [True] * 4 + [False] * 2 + [True] * 5 + [False],
            "subject_a": list("aabbcc") + list("abcabc"),
            "subject_b": list("aabbcc") + list("bcacab"),
            "gender_a": "f", "gender_b": "f",
        }
    )
    row = per_group_rates(pairs, Groups.of(["gender"]), thresholds={"t": 0.5}).iloc[0]
    counts = pd.DataFrame([{"n_fm": row.n_fm, "n_nonmated": row.n_nonmated, "n_failed_nonmated": 1,
                            "n_fnm": row.n_fnm, "n_mated": row.n_mated, "n_failed_mated": 2}])
    out = generalized_columns(counts)
    assert list(out.columns) == list(GENERALIZED_COLUMNS)
    assert out["gfrr"].iloc[0] == pytest.approx(row.gfrr) == pytest.approx(3 / 6)
    assert out["gfar"].iloc[0] == pytest.approx(row.gfar) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="n_failed_mated"):
        generalized_columns(counts.drop(columns="n_failed_mated"))
