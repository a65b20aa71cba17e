"""A threshold's record carries the false matches it achieved on its calibration set, globally and per fold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from frbench.config import validate_config
from frbench.groups import Groups
from frbench.measure.listed import measure_listed
from frbench.report.markdown import fmt_threshold


def pairs_with_folds(seed: int = 0, n_subjects: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for fold in (1, 2):
        for i in range(n_subjects):
            s = f"f{fold}s{i}"
            rows.append({"subject_a": s, "subject_b": s, "mated": True, "score": rng.normal(0.8, 0.05), "fold": fold})
            t = f"f{fold}s{(i + 1) % n_subjects}"
            for _ in range(2):
                rows.append({"subject_a": s, "subject_b": t, "mated": False, "score": rng.normal(0.2, 0.1), "fold": fold})
    out = pd.DataFrame(rows)
    out["ok"] = True
    out["gender_a"] = out["gender_b"] = np.where(out.index % 2, "female", "male")
    return out


def config(**thresholds: object):
    return validate_config({
        "name": "t", "dataset": {"name": "x", "format": "csv", "root": "/nonexistent", "images": "i.csv"},
        "model": {"name": "scores", "path": "s.csv"}, "groups": ["gender"],
        "thresholds": {"deepface_default": False, **thresholds},
    })


def test_fold_rows_record_their_calibration_set_and_flag_an_unresolvable_target() -> None:
    # 120 impostors per fold: target 1e-3 allows k = 0 in each fold's calibration set.
    measures = measure_listed(config(target_fmr=[1e-3, 5e-2], fold_calibrated=True), pairs_with_folds(), Groups(["gender"]))
    table = measures.threshold_table
    folds = table[table["threshold_name"] == "fold:fmr=1e-03"]
    assert len(folds) == 2 and (folds["n_nonmated"] == 120).all() and (folds["k_allowed"] == 0).all()
    assert not folds["resolvable"].any() and folds["label"].str.startswith("above every impostor score").all()
    ok = table[table["threshold_name"] == "fold:fmr=5e-02"]
    assert (ok["k_allowed"] == 6).all() and ok["resolvable"].all()
    assert ((ok["n_fm_achieved"] >= 1) & (ok["n_fm_achieved"] <= ok["k_allowed"])).all()


def test_global_rows_record_achieved_false_matches_and_ties_make_a_target_unresolvable() -> None:
    pairs = pairs_with_folds()
    nonmated = np.flatnonzero(~pairs["mated"].to_numpy())
    pairs.loc[nonmated[:5], "score"] = 0.95  # five impostors tie at the top: k = 4 of 240 at 2e-2, 0 achieved
    measures = measure_listed(config(target_fmr=[2e-2], fixed=[0.95]), pairs, Groups(["gender"]))
    row = measures.threshold_table.set_index("threshold_name").loc["fmr=2e-02"]
    assert (row["k_allowed"], row["n_fm_achieved"], bool(row["resolvable"])) == (4, 0, False)
    assert measures.thresholds["fmr=2e-02"] > 0.95
    assert not measures.per_group.loc[measures.per_group["threshold_name"] == "fmr=2e-02", "fmr_resolves"].any()


def test_a_threshold_just_above_tied_scores_is_printed_apart_from_them() -> None:
    assert fmt_threshold(np.nextafter(0.7, np.inf)) != fmt_threshold(0.7) == "0.7"
    assert float(fmt_threshold(np.nextafter(0.7, np.inf))) == np.nextafter(0.7, np.inf)
