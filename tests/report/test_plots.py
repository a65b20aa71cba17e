"""The cross-group FMR heatmap: one fixed colour scale, zero-rate cells apart from empty ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from frbench.report.plots import CROSS_GROUP_LOG_RANGE, EMPTY_COLOUR, ZERO_COLOUR, cross_group_figure


def _matrix(cells: dict[tuple[str, str], tuple[float, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"g_a": a, "g_b": b, "fmr": f, "n_nonmated": n} for (a, b), (f, n) in cells.items()])


def _colours(fig) -> np.ndarray:
    image = fig.axes[0].images[0]
    return image.cmap(image.norm(image.get_array()))


def test_the_same_fmr_has_the_same_colour_whatever_else_the_plot_holds():
    # issue: 1/10 came out deep purple and 1/6 bright yellow, each scale fitted to its own cells
    one = _colours(cross_group_figure(_matrix({("a", "a"): (0.1, 60), ("a", "b"): (1 / 6, 60), ("b", "a"): (1 / 6, 60),
                                                ("b", "b"): (0.1, 60)}), "g", "t"))
    two = _colours(cross_group_figure(_matrix({("a", "a"): (0.1, 60), ("a", "b"): (1e-4, 60), ("b", "a"): (1e-4, 60),
                                                ("b", "b"): (0.5, 60)}), "g", "t"))
    np.testing.assert_allclose(one[0, 0], two[0, 0])
    assert not np.allclose(one[0, 0], two[1, 1])
    # 1/10 and 1/6 are close on a log scale from 1e-5 to 1: neighbouring colours, not the scale's two ends
    assert np.abs(one[0, 0] - one[0, 1]).max() < 0.25


def test_zero_cells_are_black_and_cells_without_pairs_grey():
    fig = cross_group_figure(_matrix({("a", "a"): (0.0, 60), ("a", "b"): (np.nan, 0), ("b", "a"): (np.nan, 0),
                                      ("b", "b"): (0.01, 60)}), "g", "t")
    image = fig.axes[0].images[0]
    assert (image.norm.vmin, image.norm.vmax) == CROSS_GROUP_LOG_RANGE
    colours = image.cmap(image.norm(image.get_array()))
    np.testing.assert_allclose(colours[0, 0], to_rgba(ZERO_COLOUR))
    np.testing.assert_allclose(colours[0, 1], to_rgba(EMPTY_COLOUR))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0\nn=60", "no pairs\nn=0", "no pairs\nn=0", "1.0e-02\nn=60"]


def test_rates_below_the_scale_take_its_lowest_colour_not_the_zero_colour():
    fig = cross_group_figure(_matrix({("a", "a"): (1e-7, 10**7)}), "g", "t")
    colours = _colours(fig)
    image = fig.axes[0].images[0]
    np.testing.assert_allclose(colours[0, 0], image.cmap(0.0))
    assert not np.allclose(colours[0, 0], to_rgba(ZERO_COLOUR))
