"""A search run's model-based FPIR: the cross-group FMR of every non-mated pair among the run's
images at the run's identification thresholds, then (a) the prediction of the measured
gallery-size and composition sweeps, to check the model, and (b) the prediction at gallery sizes
no dataset reaches (:mod:`frbench.search.fpir_prediction`). All predicted columns are ``model_*``.

FMR_gh(T) comes from all pairs of images of different subjects among the split's gallery and
probe images (the exhaustive protocol's exact counts), not only from probe-gallery pairs: a
1:1 measure of the same population, as NIST IR 8429 uses 1:1 FMR to predict 1:N.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from frbench.groups import ALL, Groups
from frbench.metrics.power import RULE_OF_THIRTY
from frbench.scoring.exhaustive import cell_counts, exhaustive_scores
from frbench.search.fpir_prediction import gallery_composition, predict_fpir

# The prediction is checked where both sides resolve, by |log10(model / measured)|.
VALIDATION_COLUMNS = (
    "sweep", "n_gallery", "share", "threshold_name", "attribute", "group", "repeats", "n_nonmated", "n_fp",
    "measured_fpir", "model_fpir", "model_fpir_low", "model_fpir_high", "model_resolved", "measured_resolves",
    "abs_log10_model_over_measured",
)


def run_cells(images: pd.DataFrame, matrix: np.ndarray, usable: np.ndarray, names: Sequence[str],
              thresholds: dict[str, float]) -> pd.DataFrame:
    """Exact cross-group non-mated counts at ``thresholds`` among the usable rows (cell_counts layout,
    with ``threshold_name``)."""
    keep = images[usable].reset_index(drop=True)
    subjects, _ = pd.factorize(keep["subject_id"])
    groups = Groups.of([n for n in names if "+" not in n], [n.split("+") for n in names if "+" in n])
    codes, cats = {}, {}
    for name in names:
        code, cat = pd.factorize(pd.Series(groups.image_labels(keep, name)), sort=True)
        codes[name], cats[name] = code, list(cat)
    result = exhaustive_scores(matrix[usable], subjects, codes, thresholds=list(thresholds.values()))
    return cell_counts(result, cats, names=list(thresholds))


def _composition(gallery: pd.DataFrame, groups: Groups, name: str) -> dict[str, float]:
    if name == ALL:
        return {ALL: 1.0}
    return gallery_composition(gallery, groups.image_labels(gallery, name))


def validate_sweeps(cells: pd.DataFrame, gallery: pd.DataFrame, names: Sequence[str], size_sweep: pd.DataFrame | None,
                    comp_sweep: pd.DataFrame | None, comp_attribute: str | None, comp_group: str | None,
                    level: float) -> pd.DataFrame:
    """Model against measurement for every ``fixed`` row of the sweeps (mean FPIR over repeats)."""
    groups = Groups.of([n for n in names if "+" not in n], [n.split("+") for n in names if "+" in n])
    frames = []
    if size_sweep is not None:
        frames.append(_compare(cells, size_sweep, "gallery_size", lambda attr, row: _composition(gallery, groups, attr), level))
    if comp_sweep is not None and comp_attribute is not None:
        base = _composition(gallery, groups, comp_attribute)
        others = {g: s for g, s in base.items() if g != comp_group}
        rest = sum(others.values())

        def shares(attr: str, row: pd.Series) -> dict[str, float]:
            if attr == ALL:
                return {ALL: 1.0}
            s = row["n_in_group"] / row["n_gallery"]
            return {comp_group: s, **{g: (1 - s) * v / rest for g, v in others.items()}}

        frames.append(_compare(cells, comp_sweep, "composition", shares, level))
    if not frames:
        return pd.DataFrame(columns=list(VALIDATION_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(VALIDATION_COLUMNS)]


def _compare(cells: pd.DataFrame, sweep: pd.DataFrame, kind: str, shares_of, level: float) -> pd.DataFrame:
    fixed = sweep[sweep["threshold_mode"] == "fixed"].copy()
    if "share" not in fixed:
        fixed["share"] = np.nan
    keys = ["n_gallery", "share", "threshold_name", "attribute", "group"]
    extra = ["n_in_group"] if "n_in_group" in fixed else []
    agg = fixed.groupby(keys, dropna=False, sort=False).agg(
        repeats=("fpir", "size"), n_nonmated=("n_nonmated", "sum"), n_fp=("n_fm", "sum"), measured_fpir=("fpir", "mean"),
        **{c: (c, "first") for c in extra},
    ).reset_index()
    rows = []
    for _, row in agg.iterrows():
        attr = row["attribute"]
        try:
            pred = predict_fpir(cells[cells["threshold_name"] == row["threshold_name"]], attr, shares_of(attr, row),
                                [row["n_gallery"]], level)
        except ValueError:
            continue
        p = pred[pred["searcher_group"] == row["group"]]
        if p.empty:
            continue
        p = p.iloc[0]
        rows.append({**row.to_dict(), "sweep": kind, "model_fpir": p["model_fpir"], "model_fpir_low": p["model_fpir_low"],
                     "model_fpir_high": p["model_fpir_high"], "model_resolved": bool(p["resolved"])})
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=list(VALIDATION_COLUMNS))
    out["measured_resolves"] = out["n_fp"] >= RULE_OF_THIRTY
    both = out["model_resolved"] & out["measured_resolves"] & (out["model_fpir"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(np.log10(out["model_fpir"] / out["measured_fpir"]))
    out["abs_log10_model_over_measured"] = np.where(both, ratio, np.nan)
    return out


def large_n(cells: pd.DataFrame, gallery: pd.DataFrame, names: Sequence[str], sizes: Sequence[float],
            level: float) -> pd.DataFrame:
    """Model-based FPIR and false candidates per search at ``sizes``, the gallery's measured make-up."""
    groups = Groups.of([n for n in names if "+" not in n], [n.split("+") for n in names if "+" in n])
    frames = []
    for name in [ALL, *names]:
        for _, part in cells.groupby("threshold_name", sort=False):
            frames.append(predict_fpir(part, name, _composition(gallery, groups, name), sizes, level))
    return pd.concat(frames, ignore_index=True)
