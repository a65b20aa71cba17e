"""A finished run at a glance: overall rates per threshold and the worst group, as data and as text.

``run_summary`` is what ``frbench run --json`` prints on stdout; ``headline`` is the short table
``frbench run`` prints on stderr (unless ``--quiet``). Both read the run's own tables, so they
never disagree with ``per_group.csv`` and ``accuracy.csv``.
"""

from __future__ import annotations

import re

import math
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from frbench.groups import ALL
from frbench.metrics.accuracy import BEST_ACCURACY
from frbench.measure.result import IDENTIFICATION
from frbench.tables import has_unknown
from frbench.workflows.run import RunResult


def _number(value: Any) -> float | int | None:
    """A JSON-safe number: NaN and infinities (no pairs, no threshold) become None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def worst_group(rows: pd.DataFrame, rate: str) -> dict[str, Any] | None:
    """The group (not ``all``) with the highest ``rate`` (``fnmr`` or ``fmr``) among ``rows`` of one threshold.

    Only groups with pairs for that rate count, and only those the fairness summaries compare
    (``in_summaries``: enough subjects, not ``unknown``; without that column, not ``unknown``, also
    inside an intersection, as in ``frbench compare``). Groups whose comparisons resolve the rate
    (``<rate>_resolves``) are preferred, since an unresolved rate is not evidence; when no group
    resolves it the worst of them is returned, flagged ``underpowered``. Ties go to the group with
    more pairs, then to the first in table order. None without any such group, and None when every
    such group's rate is 0: no group is "worst" then.
    """
    n_col, k_col = ("n_mated", "n_fnm") if rate == "fnmr" else ("n_nonmated", "n_fm")
    groups = rows[(rows["attribute"] != ALL) & (rows[n_col] > 0) & ~rows["group"].map(has_unknown)]
    eligible = f"{rate}_in_summaries" if f"{rate}_in_summaries" in groups else "in_summaries"
    if eligible in groups:
        groups = groups[groups[eligible].astype(bool)]
    if groups.empty or not (groups[k_col] > 0).any():
        return None
    resolves = f"{rate}_resolves"
    if resolves in groups and groups[resolves].astype(bool).any():
        groups = groups[groups[resolves].astype(bool)]
    elif resolves not in groups and rate == "fmr" and "underpowered" in groups and (~groups["underpowered"].astype(bool)).any():
        groups = groups[~groups["underpowered"].astype(bool)]
    if groups.empty:
        return None
    order = groups.assign(_rate=groups[rate].astype(float), _n=groups[n_col]).sort_values(
        ["_rate", "_n"], ascending=[False, False], kind="stable"
    )
    top = order.iloc[0]
    worst = {
        "attribute": str(top["attribute"]),
        "group": str(top["group"]),
        "rate": _number(top[rate]),
        "errors": int(top[k_col]),
        "pairs": int(top[n_col]),
    }
    if resolves in top:
        worst["underpowered"] = not bool(top[resolves])
    elif rate == "fmr" and "underpowered" in top:
        worst["underpowered"] = bool(top["underpowered"])
    return worst


def threshold_rows(per_group: pd.DataFrame, accuracy: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Per threshold of ``per_group`` (table order): overall FNMR, FMR, TAR, accuracy and the worst groups."""
    acc = accuracy.set_index("threshold_name") if accuracy is not None else None
    out = []
    for name, rows in per_group.groupby("threshold_name", sort=False):
        overall = rows[rows["attribute"] == ALL].iloc[0]
        row: dict[str, Any] = {
            "threshold_name": str(name),
            "threshold": _number(overall["threshold"]),
            "fnmr": _number(overall["fnmr"]),
            "fmr": _number(overall["fmr"]),
            "n_mated": int(overall["n_mated"]),
            "n_nonmated": int(overall["n_nonmated"]),
            "n_failed_pairs": int(overall["n_failed"]),
            "tar": None,
            "accuracy": None,
            "worst_fnmr": worst_group(rows, "fnmr"),
            "worst_fmr": worst_group(rows, "fmr"),
        }
        if acc is not None and name in acc.index:
            row["tar"] = _number(acc.loc[name, "tar"])
            row["accuracy"] = _number(acc.loc[name, "accuracy"])
        out.append(row)
    return out


def run_summary(result: RunResult) -> dict[str, Any]:
    """The machine-readable summary of a finished run (``frbench run --json``).

    Keys: ``name``, ``out_dir``, ``dataset`` (images, subjects, pairs), ``failed_images``,
    ``thresholds`` (see :func:`threshold_rows`), ``best_accuracy`` (optimistic: threshold chosen on
    the same pairs; None for the exhaustive protocol), ``fold_accuracy`` (mean, sd, folds; None
    with fewer than two folds) and ``embedding`` (counts and seconds).
    """
    manifest = result.manifest
    dataset = manifest.get("dataset", {})
    per_group, kind = result.per_group, result.kind
    if kind == IDENTIFICATION:
        # a search run: FNIR and FPIR take the places of FNMR and FMR (errors per search)
        per_group = per_group.rename(columns={"fnir": "fnmr", "fpir": "fmr", "fnir_resolves": "fnmr_resolves",
                                              "fpir_resolves": "fmr_resolves"})
    best = None
    if result.accuracy is not None:
        rows = result.accuracy[result.accuracy["threshold_name"] == BEST_ACCURACY]
        if len(rows):
            r = rows.iloc[0]
            best = {"accuracy": _number(r["accuracy"]), "threshold": _number(r["threshold"]),
                    "n_pairs": int(r["n_pairs"]), "optimistic": True}
    folds = None
    if result.fold_accuracy is not None and len(result.fold_accuracy):
        acc = result.fold_accuracy["accuracy"]
        folds = {"mean": _number(acc.mean()), "sd": _number(acc.std(ddof=1)), "n_folds": int(len(acc))}
    stats = result.embed_stats
    return {
        "name": manifest.get("config", {}).get("name"),
        "out_dir": str(result.out_dir),
        "dataset": {k: dataset.get(k) for k in ("name", "n_images", "n_subjects", "n_pairs", "n_mated", "n_nonmated")},
        "failed_images": int(stats.n_failed),
        "kind": kind,
        "thresholds": threshold_rows(per_group, result.accuracy),
        "best_accuracy": best,
        "fold_accuracy": folds,
        "embedding": {"n_images": stats.n_images, "n_computed": stats.n_computed, "n_cached": stats.n_cached,
                      "seconds": _number(stats.seconds)},
    }


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _worst(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "-"
    flag = ", underpowered" if entry.get("underpowered") else ""
    return f"{entry['attribute']}={entry['group']} {_rate(entry['rate'])} ({entry['errors']}/{entry['pairs']}{flag})"


def wrap_cell(text: str, width: int) -> str:
    """``text`` in lines of at most ``width``, broken at spaces and after the ``+`` of an intersection.

    A group name (``black+female``) is never split inside a word; a single word longer than
    ``width`` stays whole on its own line (wider than asked, but readable).
    """
    pieces: list[tuple[str, str]] = []  # (piece, separator before it)
    for word in text.split():
        parts = re.split(r"(?<=\+)", word)
        pieces.extend((part, " " if i == 0 else "") for i, part in enumerate(p for p in parts if p))
    lines: list[str] = []
    for piece, sep in pieces:
        if lines and len(lines[-1]) + len(sep) + len(piece) <= width:
            lines[-1] += sep + piece
        else:
            lines.append(piece)
    return "\n".join(lines)


def headline(summary: dict[str, Any], width: int | None = None) -> str:
    """A few lines for the terminal: one row per threshold with overall rates and the worst groups.

    ``width``: the terminal's columns; the two worst-group columns are wrapped to fit (no less
    than 16 characters each).
    """
    d = summary["dataset"]
    search = summary.get("kind") == IDENTIFICATION
    miss, false, unit = ("FNIR", "FPIR", "searches") if search else ("FNMR", "FMR", "pairs")
    if search:
        pairs = f"{d['n_mated'] + d['n_nonmated']:,} searches ({d['n_mated']:,} mated)"
    else:
        pairs = f"{d['n_pairs']:,} pairs ({d['n_mated']:,} mated)" if d.get("n_pairs") is not None else "pairs"
    lines = [f"{summary['name']}: {d.get('n_images')} images, {pairs}, {summary['failed_images']} image(s) failed to enrol"]
    table = pd.DataFrame(
        [
            {
                "threshold": r["threshold_name"],
                miss: _rate(r["fnmr"]),
                false: _rate(r["fmr"]),
                "accuracy": _rate(r.get("accuracy")),
                f"worst {miss} (errors/{unit})": _worst(r["worst_fnmr"]),
                f"worst {false} (errors/{unit})": _worst(r["worst_fmr"]),
            }
            for r in summary["thresholds"]
        ]
    )
    if width is not None:
        fixed = [max(len(c), table[c].str.len().max()) for c in table.columns[:4]]
        # tabulate's "simple" format: two spaces between columns
        room = max(16, (width - sum(fixed) - 2 * (len(table.columns) - 1)) // 2)
        for column in table.columns[4:]:
            table[column] = [wrap_cell(text, room) for text in table[column]]
    lines.append(tabulate(table, headers="keys", tablefmt="simple", showindex=False, disable_numparse=True))
    best, folds = summary.get("best_accuracy"), summary.get("fold_accuracy")
    if folds is not None:
        lines.append(f"fold-calibrated accuracy: {folds['mean']:.4f} +/- {_rate(folds['sd'])} over {folds['n_folds']} folds")
    if best is not None:
        lines.append(f"best accuracy on the same pairs (optimistic): {best['accuracy']:.4f} at similarity >= {best['threshold']:.6g}")
    return "\n".join(lines)
