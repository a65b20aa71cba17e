"""DET points against scikit-learn; cross-group FMR and histograms by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import det_curve, roc_curve

from frbench.groups import Groups
from frbench.metrics.counts import cross_group_cells
from frbench.metrics.curves import cross_group_from_cells, det_points, score_histograms
from frbench.metrics.grouped import per_group_rates


def cross_group_fmr(pairs, attribute, threshold):
    """The cross-group matrix of one attribute at one threshold, as the run computes it."""
    cells = cross_group_cells(pairs, Groups.of([attribute]), {"t": threshold})
    return cross_group_from_cells(cells).drop(columns=["attribute", "threshold_name", "threshold"])


def test_det_points_by_hand():
    scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.5]
    mated = [False, True, False, True, True, False]
    out = det_points(scores, mated)
    # Thresholds: distinct scores ascending, then +inf. Non-mated {0.1, 0.35, 0.5}, mated {0.4, 0.4, 0.8}.
    assert out.threshold.tolist() == [0.1, 0.35, 0.4, 0.5, 0.8, np.inf]
    np.testing.assert_allclose(out.fmr, [3 / 3, 2 / 3, 1 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(out.fnmr, [0, 0, 0, 2 / 3, 2 / 3, 1])


@pytest.mark.parametrize("seed", [0, 1])
def test_det_points_equal_sklearn_to_the_last_digit(seed):
    rng = np.random.default_rng(seed)
    mated = rng.random(700) < 0.4
    scores = np.round(np.where(mated, rng.normal(0.6, 0.2, 700), rng.normal(0.2, 0.2, 700)), 3)  # ties
    ours = det_points(scores, mated).set_index("threshold")
    fpr, _, roc_thresholds = roc_curve(mated, scores, drop_intermediate=False)
    np.testing.assert_array_equal(ours.loc[roc_thresholds, "fmr"].to_numpy(), fpr)
    _, fnr, det_thresholds = det_curve(mated, scores)
    np.testing.assert_array_equal(ours.loc[det_thresholds, "fnmr"].to_numpy(), fnr)
    assert len(ours) == np.unique(scores).size + 1


def test_det_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        det_points([0.1, 0.2], [True, True])


def side_table(rows):
    df = pd.DataFrame(rows, columns=["race_a", "race_b", "mated", "score"])
    df["ok"] = df["score"].notna()
    df["subject_a"] = [f"a{i}" for i in range(len(df))]
    df["subject_b"] = [f"b{i}" for i in range(len(df))]
    return df


PAIRS = side_table(
    [
        ("x", "x", False, 0.75),  # false match at 0.5
        ("x", "x", False, 0.2),
        ("x", "y", False, 0.6),  # false match; counts in (x, y) and (y, x)
        ("y", "x", False, 0.1),
        ("y", "x", False, np.nan),  # failed: left out
        ("y", "y", False, 0.3),
        ("z", "y", False, 0.9),  # false match
        ("x", "x", True, 0.1),  # mated: left out
    ]
)


def test_cross_group_fmr_by_hand():
    out = cross_group_fmr(PAIRS, "race", 0.5)
    assert list(out.columns) == ["g_a", "g_b", "n_nonmated", "n_fm", "fmr", "fmr_ci_low", "fmr_ci_high"]
    cells = {(r.g_a, r.g_b): (r.n_nonmated, r.n_fm) for r in out.itertuples()}
    assert list(cells) == [(a, b) for a in "xyz" for b in "xyz"]
    assert cells[("x", "x")] == (2, 1)
    assert cells[("x", "y")] == cells[("y", "x")] == (2, 1)  # 0.6 (match) and 0.1
    assert cells[("y", "y")] == (1, 0)
    assert cells[("y", "z")] == cells[("z", "y")] == (1, 1)
    assert cells[("x", "z")] == (0, 0) and cells[("z", "z")] == (0, 0)
    assert np.isnan(out[(out.g_a == "z") & (out.g_b == "z")].fmr.iloc[0])


def test_cross_group_diagonal_equals_per_group_fmr():
    per_group = per_group_rates(PAIRS, Groups.of(["race"]), {"t": 0.5})
    matrix = cross_group_fmr(PAIRS, "race", 0.5)
    for group in ("x", "y"):
        diag = matrix[(matrix.g_a == group) & (matrix.g_b == group)].iloc[0]
        row = per_group[per_group.group == group].iloc[0]
        assert (diag.n_nonmated, diag.n_fm, diag.fmr) == (row.n_nonmated, row.n_fm, row.fmr)


def test_score_histograms():
    out = score_histograms(PAIRS, Groups.of(["race"]), "race", bins=4)
    assert list(out.columns) == ["attribute", "group", "mated", "bin_low", "bin_high", "count", "density"]
    # Shared edges over all 7 scored pairs: 0.1 .. 0.9 in 4 bins of width 0.2.
    edges = np.unique(np.concatenate([out.bin_low, out.bin_high]))
    np.testing.assert_allclose(edges, [0.1, 0.3, 0.5, 0.7, 0.9])
    x_nonmated = out[(out.group == "x") & ~out.mated]
    # x/x non-mated scores 0.75 and 0.2: bins [0.1, 0.3) and [0.7, 0.9].
    assert x_nonmated["count"].tolist() == [1, 0, 0, 1]
    all_nonmated = out[(out.group == "all") & ~out.mated]
    assert all_nonmated["count"].sum() == 6
    widths = (all_nonmated.bin_high - all_nonmated.bin_low).to_numpy()
    assert (all_nonmated.density.to_numpy() * widths).sum() == pytest.approx(1.0)
    assert out.attribute[out.group == "all"].eq("all").all()
    # y/y has no mated pair: its mated histogram is empty, density undefined.
    y_mated = out[(out.group == "y") & out.mated]
    assert y_mated["count"].sum() == 0 and y_mated.density.isna().all()


def test_det_plot_leaves_out_small_groups_and_says_so(tmp_path):
    from frbench.report.plots import plot_det

    det = pd.DataFrame({"group": ["all"] * 3 + ["big"] * 3 + ["tiny"] * 3, "threshold": [0.1, 0.5, 0.9] * 3,
                        "fmr": [0.5, 0.1, 0.01] * 3, "fnmr": [0.01, 0.1, 0.5] * 3})
    sizes = {"all": (400, 400), "big": (300, 200), "tiny": (12, 3)}
    legend = plot_det(det, "race", tmp_path / "det.png", sizes, min_pairs=30)
    assert legend == [
        "all (n=400 mated / 400 non-mated)",
        "big (n=300 mated / 200 non-mated)",
        "not drawn, < 30 mated or non-mated pairs: tiny (12/3)",
    ]
    assert (tmp_path / "det.png").stat().st_size > 0
