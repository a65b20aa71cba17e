"""FPIR per searcher group at gallery sizes no dataset reaches, from cross-group FMR and the
gallery's make-up. Every number here is **model-based** (column names start ``model_``).

Model (NIST IR 8429, Annex B)
-----------------------------
A non-mated search by a person of group g against a gallery of N enrolled subjects, a share pi_h of
them in group h, one template each. If each enrolled subject of group h scores >= T with
probability FMR_gh(T), independently of the others,

    expected false candidates  E_g(N, T) = N * sum_h pi_h FMR_gh(T)
    FPIR_g(N, T) = 1 - prod_h (1 - FMR_gh(T))^(N pi_h)

FMR_gh(T) is the 1:1 false-match rate of pairs with one side in g and the other in h, measured on
every non-mated pair of a dataset (the exhaustive protocol's cells). The assumption of
independence ignores that some searchers score high against everyone: where that is strong the
model over-predicts FPIR at large N. Whether it holds is checked against measured gallery-size and
composition sweeps (docs/fpir_prediction.md).

Intervals
---------
Each cell's FMR gets a Clopper-Pearson interval at level 1 - alpha / H (H: gallery groups with
pi_h > 0; Bonferroni), so that all of a row's cells are inside their intervals together with
probability >= 1 - alpha; FPIR and E increase in every FMR_gh, so the row's bounds come from the
cells' bounds. A cell whose false matches are fewer than the rule of 30
(:data:`frbench.metrics.power.RULE_OF_THIRTY`) does not resolve its FMR: a tail model's value may
stand in for it (``tail``: model-based, from :mod:`frbench.metrics.tails`), else the row is marked
``resolved`` False and its point value is not to be read as an estimate (its upper bound still holds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from frbench.metrics.intervals import clopper_pearson
from frbench.metrics.power import RULE_OF_THIRTY

PREDICTION_COLUMNS = (
    "threshold_name", "threshold", "attribute", "searcher_group", "n_gallery", "model_false_candidates",
    "model_false_candidates_low", "model_false_candidates_high", "model_fpir", "model_fpir_low", "model_fpir_high",
    "fmr_source", "resolved", "min_cell_false_matches",
)


def ordered_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Unordered cells (``group_a <= group_b``, as the exhaustive protocol's ``cell_counts``) as
    ordered ones: one row per (searcher_group, gallery_group), both orders of an off-diagonal cell.

    ``cells`` columns: ``threshold_name, threshold, attribute, group_a, group_b, n_nonmated, n_fm``.
    """
    need = {"threshold_name", "threshold", "attribute", "group_a", "group_b", "n_nonmated", "n_fm"}
    missing = need - set(cells.columns)
    if missing:
        raise ValueError(f"cells lack columns {sorted(missing)}")
    a = cells.rename(columns={"group_a": "searcher_group", "group_b": "gallery_group"})
    b = cells[cells["group_a"] != cells["group_b"]].rename(columns={"group_b": "searcher_group", "group_a": "gallery_group"})
    return pd.concat([a, b], ignore_index=True)[
        ["threshold_name", "threshold", "attribute", "searcher_group", "gallery_group", "n_nonmated", "n_fm"]
    ]


def predict_fpir(
    cells: pd.DataFrame,
    attribute: str,
    composition: Mapping[str, float],
    sizes: Sequence[float],
    level: float = 0.95,
    tail: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Model-based FPIR and false candidates per search for each searcher group, threshold and N.

    Parameters
    ----------
    cells : DataFrame
        Unordered cross-group counts (columns of :func:`ordered_cells`), for ``attribute`` and any others.
    attribute : str
        The attribute whose groups search and are enrolled.
    composition : mapping gallery group -> share
        Shares of the enrolled subjects; they must sum to 1 (within 1e-6) and name groups of the cells.
    sizes : sequence of numbers
        Gallery sizes N (enrolled subjects).
    level : float
        Joint confidence level of each row's interval (module docstring).
    tail : DataFrame, optional
        Model-based cell FMRs to use where counts are below the rule of 30: columns
        ``threshold_name, searcher_group, gallery_group, model_fmr, model_fmr_low, model_fmr_high``.

    Returns
    -------
    DataFrame with :data:`PREDICTION_COLUMNS`: one row per threshold x searcher group x N.
    ``fmr_source``: ``counts`` (every cell resolved by its counts), ``counts + tail model``, or
    ``counts below rule of 30`` (``resolved`` False).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    shares = {str(k): float(v) for k, v in composition.items() if float(v) > 0}
    if any(v < 0 for v in composition.values()) or abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"composition shares must be >= 0 and sum to 1, got {dict(composition)}")
    n = np.asarray(sizes, dtype=np.float64)
    if n.ndim != 1 or n.size == 0 or np.any(~(n >= 1)):
        raise ValueError(f"gallery sizes must be numbers >= 1, got {list(sizes)}")
    ordered = ordered_cells(cells[cells["attribute"] == attribute])
    if ordered.empty:
        raise ValueError(f"no cells for attribute {attribute!r}")
    unknown = sorted(set(shares) - set(ordered["gallery_group"]))
    if unknown:
        raise ValueError(f"composition names groups without cells for {attribute!r}: {unknown}")
    alpha_cell = (1 - level) / len(shares)
    ordered = ordered[ordered["gallery_group"].isin(set(shares))].copy()
    ordered["share"] = ordered["gallery_group"].map(shares)
    k, m = ordered["n_fm"].to_numpy(), ordered["n_nonmated"].to_numpy()
    ordered["fmr"] = np.where(m > 0, k / np.maximum(m, 1), np.nan)
    low, high = clopper_pearson(k, m, 1 - alpha_cell)
    ordered["fmr_low"], ordered["fmr_high"] = low, high
    ordered["from_tail"] = False
    if tail is not None:
        t = tail.set_index(["threshold_name", "searcher_group", "gallery_group"])
        key = pd.MultiIndex.from_frame(ordered[["threshold_name", "searcher_group", "gallery_group"]])
        found = key.isin(t.index) & (k < RULE_OF_THIRTY)
        if found.any():
            sub = t.loc[key[found]]
            ordered.loc[found, "fmr"] = sub["model_fmr"].to_numpy()
            ordered.loc[found, "fmr_low"] = sub["model_fmr_low"].to_numpy()
            ordered.loc[found, "fmr_high"] = sub["model_fmr_high"].to_numpy()
            ordered.loc[found, "from_tail"] = True
    rows = []
    for (name, thr, g), part in ordered.groupby(["threshold_name", "threshold", "searcher_group"], sort=False):
        if set(part["gallery_group"]) != set(shares):
            continue  # a searcher group without a cell against some enrolled group: not predictable
        pi = part["share"].to_numpy()
        weak = (part["n_fm"].to_numpy() < RULE_OF_THIRTY) & ~part["from_tail"].to_numpy()
        source = "counts below rule of 30" if weak.any() else (
            "counts + tail model" if part["from_tail"].any() else "counts")
        for size in n:
            est = [_fpir_and_expected(size, pi, part[c].to_numpy()) for c in ("fmr", "fmr_low", "fmr_high")]
            rows.append((name, thr, attribute, g, size, est[0][1], est[1][1], est[2][1], est[0][0], est[1][0],
                         est[2][0], source, not weak.any(), int(part["n_fm"].min())))
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def _fpir_and_expected(n: float, share: np.ndarray, fmr: np.ndarray) -> tuple[float, float]:
    """FPIR = 1 - prod (1 - f)^(n pi), computed as -expm1(n sum pi log1p(-f)); E = n sum pi f."""
    if np.any(np.isnan(fmr)):
        return np.nan, np.nan
    with np.errstate(divide="ignore"):
        log_miss = n * np.sum(share * np.log1p(-np.minimum(fmr, 1.0)))
    return float(-np.expm1(log_miss)), float(n * np.sum(share * fmr))


def gallery_composition(gallery: pd.DataFrame, attribute_labels: pd.Series) -> dict[str, float]:
    """Share of enrolled subjects per group: a subject's group is that of its first gallery image
    by image id (as :func:`frbench.search.sweeps.composition_sweep` reads it).

    ``gallery``: ``image_id, subject_id`` (and ``ok`` where some templates failed; those are left
    out). ``attribute_labels``: the group of each gallery row, aligned with ``gallery``.
    """
    g = gallery.assign(_label=np.asarray(attribute_labels))
    if "ok" in g:
        g = g[g["ok"].astype(bool)]
    first = g.sort_values(["subject_id", "image_id"]).drop_duplicates("subject_id")
    counts = first["_label"].astype(str).value_counts()
    return (counts / counts.sum()).to_dict()
