"""A group enters summaries and tests by the subjects behind the rate compared, not all its subjects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from frbench.groups import Groups
from frbench.metrics.fairness import fairness_summary
from frbench.metrics.group_tests import group_tests
from frbench.metrics.grouped import per_group_rates


def pairs_table() -> pd.DataFrame:
    """race a: 20 subjects, mated and non-mated pairs among all; b: 12 subjects with mated pairs, but
    non-mated pairs only among 4 of them; c: 10 subjects with mated pairs and no non-mated pair."""
    rng = np.random.default_rng(0)
    rows = []

    def add(race: str, sa: str, sb: str, mated: bool) -> None:
        rows.append({"subject_a": sa, "subject_b": sb, "mated": mated, "ok": True, "race_a": race, "race_b": race,
                     "score": rng.normal(0.8 if mated else 0.3, 0.1)})

    for race, n in (("a", 20), ("b", 12), ("c", 10)):
        for i in range(n):
            for _ in range(3):
                add(race, f"{race}{i}", f"{race}{i}", True)
    for i in range(20):
        for j in range(i + 1, 20):
            add("a", f"a{i}", f"a{j}", False)
    for i in range(4):
        for j in range(i + 1, 4):
            for _ in range(10):
                add("b", f"b{i}", f"b{j}", False)
    return pd.DataFrame(rows)


def test_fmr_eligibility_counts_the_subjects_of_non_mated_pairs() -> None:
    table = per_group_rates(pairs_table(), Groups(["race"]), thresholds={"t": 0.5}).set_index("group")
    assert table.loc["b", "n_subjects"] == 12 and table.loc["b", "n_subjects_nonmated"] == 4
    assert table.loc["c", "n_subjects_nonmated"] == 0 and table.loc["c", "n_subjects_mated"] == 10
    assert not table.loc["b", "fmr_in_summaries"] and table.loc["b", "fnmr_in_summaries"]
    assert not table.loc["c", "fmr_in_summaries"] and table.loc["c", "fnmr_in_summaries"]
    assert "FMR: 4 subjects < 10" in table.loc["b", "excluded_because"]
    fairness = fairness_summary(per_group_rates(pairs_table(), Groups(["race"]), thresholds={"t": 0.5}))
    by = fairness.set_index("measure")
    assert by.loc["fmr_max_min_ratio", "groups"] == "a"
    assert by.loc["fnmr_max_min_ratio", "groups"] == "a;b;c"


def test_group_tests_compare_only_groups_with_enough_subjects_behind_the_rate() -> None:
    tests = group_tests(pairs_table(), Groups(["race"]), {"t": 0.5}, n_permutations=99).set_index("rate")
    assert tests.loc["fmr", "groups"] == "a" and "b (4 subjects < 10)" in tests.loc["fmr", "excluded_groups"]
    assert tests.loc["fnmr", "groups"] == "a;b;c"
