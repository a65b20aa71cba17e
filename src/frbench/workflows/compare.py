"""Several finished runs side by side: one table per threshold, the best value of each measure marked.

For each run and threshold name the table holds the overall FNMR and FMR, the LFW-protocol
fold-calibrated accuracy where the run has folds, the worst and best group of every attribute by
FNMR and by FMR, the run's fairness summaries and its failure-to-enrol rate per group. Everything
is read from the run directories (manifest.json, per_group.csv, fairness.csv,
failure_to_enrol.csv, fold_accuracy.csv); nothing is recomputed, so a comparison shows exactly
the numbers each run reported.

Worst/best groups are chosen by point estimate among groups with at least one pair of the kind
(mated for FNMR, non-mated for FMR), leaving out ``unknown`` (also inside an intersection, as
``fairness_summary`` does). Ties list every tied group, separated by ``;``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from frbench.scoring.similarity import METRICS, distance_from_similarity
from frbench.config import IMPORTED_SCORES
from frbench.errors import FrbenchError
from frbench.groups import ALL
from frbench.io.atomic import write_text
from frbench.io.spreadsheet import unescape_frame, write_csv
from frbench.report.markdown import md_table
from frbench.report.output_dir import output_lock, writer_of
from frbench.report.plots import plot_compared_rates
from frbench.tables import has_unknown
from frbench.workflows.grid import COMPLETED, GRID_FILE
from frbench.workflows.manifest import run_dir_problems

PER_GROUP_NEEDED = ("threshold_name", "threshold", "attribute", "group", "n_mated", "n_nonmated", "fnmr", "fmr")
DESCRIPTORS = ("run", "run_dir", "model", "detector", "align", "distance_metric")
# fairness.csv measures: lower is better (ratios are 1 and GARBE 0 for equal groups), except FDR (1 = equal)
LOWER_IS_FAIRER = frozenset({
    *(f"{rate}_{ratio}" for rate in ("fmr", "fnmr", "gfar", "gfrr", "fte") for ratio in ("max_min_ratio", "max_geomean_ratio")),
    *(f"{rate}_difference" for rate in ("fmr", "fnmr", "gfar", "gfrr")),
    "fte_range", "inequity_rate", "garbe", "balanced_error_ratio", "ser",
})
# FDR: 1 = equal; Fairlearn's ratio() is min/max, 1 = equal
HIGHER_IS_FAIRER = frozenset({"fdr", *(f"{rate}_ratio" for rate in ("fmr", "fnmr", "gfar", "gfrr"))})
GROUP_RATE_SUFFIXES = (".fnmr_worst", ".fnmr_best", ".fmr_worst", ".fmr_best")
BEST_PREFIX = "best_"
LEGEND = (
    "Best value of each row in **bold** (only in rows where the runs differ): lowest FNMR, FMR, group rates "
    "and failure-to-enrol; lowest disparity ratios (1 = equal groups) and GARBE (0 = equal); highest fold "
    "accuracy and FDR (1 = equal). Worst and best groups are among those the run's own summaries compare "
    "(per_group.csv in_summaries); `unbounded` is a ratio over a zero rate. An empty cell is a measure not defined for that run (e.g. a ratio when "
    "every group's rate is 0). Worst/best groups are point estimates over groups with pairs, `unknown` left "
    "out; each run's per_group.csv has their intervals and sizes."
)


@dataclass
class _Run:
    path: Path
    manifest: dict[str, Any]
    per_group: pd.DataFrame
    fairness: pd.DataFrame | None
    fte: pd.DataFrame | None
    fold_accuracy: pd.DataFrame | None
    label: str = ""


def _read_csv(path: Path, needed: Sequence[str] = ()) -> pd.DataFrame:
    try:
        frame = unescape_frame(pd.read_csv(path, keep_default_na=False, na_values=[""]))
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FrbenchError(f"{path}: cannot read ({exc})") from None
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise FrbenchError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame


def _read_run(path: Path, notes: list[str]) -> _Run:
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FrbenchError(f"{path}: no manifest.json (not a run directory, or the run did not finish)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrbenchError(f"{manifest_path}: cannot read ({exc})") from None
    if not isinstance(manifest, dict):
        raise FrbenchError(f"{manifest_path}: not a frbench run manifest")
    problems = run_dir_problems(path, manifest)
    if problems is None:
        notes.append(f"{path}: its manifest records no run id or output hashes (an older run): its files are not checked")
    elif problems:
        raise FrbenchError("\n".join(f"{path}: {p}" for p in problems))
    per_group = _read_csv(path / "per_group.csv", PER_GROUP_NEEDED)
    optional = {}
    for name, needed in (("fairness.csv", ("threshold_name", "attribute", "measure", "value")),
                         ("failure_to_enrol.csv", ("attribute", "group", "fte"))):
        if (path / name).is_file():
            optional[name] = _read_csv(path / name, needed)
        else:
            optional[name] = None
            notes.append(f"{path}: no {name}; its columns are empty for this run")
    folds = _read_csv(path / "fold_accuracy.csv", ("accuracy",)) if (path / "fold_accuracy.csv").is_file() else None
    return _Run(path, manifest, per_group, optional["fairness.csv"], optional["failure_to_enrol.csv"], folds)


def expand_run_dirs(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Run directories from run or grid directories; notes name each grid cell left out and why."""
    runs: list[Path] = []
    notes: list[str] = []
    for path in map(Path, paths):
        writer = writer_of(path)
        if writer is not None:
            raise FrbenchError(f"{path}: being written by a run now ({writer}); compare it once that run has finished")
        if (path / "manifest.json").is_file():
            runs.append(path)
            continue
        if not (path / GRID_FILE).is_file():
            raise FrbenchError(f"{path}: neither a run directory (manifest.json) nor a grid directory ({GRID_FILE})")
        try:
            record = json.loads((path / GRID_FILE).read_text(encoding="utf-8"))
            cells = list(record["cells"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise FrbenchError(f"{path / GRID_FILE}: cannot read ({exc})") from None
        for cell in cells:
            cell_dir = path / cell["dir"]
            if (writer := writer_of(cell_dir)) is not None:
                raise FrbenchError(f"{cell_dir}: being written by a run now ({writer}); compare it once that run has finished")
            if cell.get("status") == COMPLETED and (cell_dir / "manifest.json").is_file():
                runs.append(cell_dir)
            else:
                why = cell.get("reason") or (f"same as {cell['same_as']}" if cell.get("same_as") else "")
                notes.append(f"grid cell {cell['cell']} not compared: {cell.get('status')}" + (f" ({why})" if why else ""))
    if not runs:
        raise FrbenchError("nothing to compare: no finished run among " + ", ".join(map(str, paths)))
    return runs, notes


def _labels(runs: Sequence[_Run]) -> list[str]:
    """Config names; a shared ``<grid>/`` prefix is dropped; directories where names collide."""
    names = [str(r.manifest.get("config", {}).get("name", r.path.name)) for r in runs]
    prefixes = {n.rpartition("/")[0] for n in names}
    if len(prefixes) == 1 and prefixes != {""}:
        names = [n.rpartition("/")[2] for n in names]
    if len(set(names)) < len(names):
        names = [r.path.name for r in runs]
    if len(set(names)) < len(names):
        names = [str(r.path) for r in runs]
    return names


def _check_datasets(runs: Sequence[_Run], allow_different: bool, notes: list[str]) -> None:
    described = []
    for run in runs:
        dataset = run.manifest.get("dataset", {})
        if dataset.get("sha256") is None:
            notes.append(f"{run.label}: its manifest records no dataset hash; cannot check it used the same data")
        else:
            described.append((dataset["sha256"], f"{run.label} ({dataset.get('name', '?')} {dataset['sha256'][:12]})"))
    if len({digest for digest, _ in described}) > 1:
        listing = ", ".join(text for _, text in described)
        if not allow_different:
            raise FrbenchError(
                f"the runs used different datasets (images or pairs): {listing}; "
                "their rates are not comparable (--allow-different-datasets compares them anyway)"
            )
        notes.append(f"the runs used different datasets (images or pairs): {listing}")
    labels = {r.manifest.get("dataset", {}).get("labels_sha256") for r in runs} - {None}
    if len(labels) > 1:
        notes.append("the runs' group labels differ (dataset.labels_sha256): a group may hold different people")


def _extremes(part: pd.DataFrame, rate: str, n: str) -> dict[str, Any]:
    """Worst (highest) and best (lowest) ``rate`` among groups with pairs, ties joined by ``;``."""
    usable = part[(part[n] > 0) & part[rate].notna()]
    if usable.empty:
        return {f"{rate}_worst": np.nan, f"{rate}_worst_group": "", f"{rate}_best": np.nan, f"{rate}_best_group": ""}
    hi, lo = usable[rate].max(), usable[rate].min()
    return {
        f"{rate}_worst": hi,
        f"{rate}_worst_group": ";".join(sorted(usable.loc[usable[rate] == hi, "group"].astype(str))),
        f"{rate}_best": lo,
        f"{rate}_best_group": ";".join(sorted(usable.loc[usable[rate] == lo, "group"].astype(str))),
    }


def _row(run: _Run, threshold_name: str) -> dict[str, Any]:
    model = run.manifest.get("config", {}).get("model", {})
    row: dict[str, Any] = {
        "run": run.label,
        "run_dir": str(run.path),
        "model": model.get("name"),
        "detector": model.get("detector"),
        "align": model.get("align"),
        "distance_metric": model.get("distance_metric"),
    }
    rows = run.per_group[run.per_group["threshold_name"] == threshold_name]
    overall = rows[rows["attribute"] == ALL]
    if len(overall) != 1:
        raise FrbenchError(f"{run.path / 'per_group.csv'}: expected one 'all' row for {threshold_name}, found {len(overall)}")
    first = overall.iloc[0]
    row["threshold"] = first["threshold"]
    metric = model.get("distance_metric")
    if model.get("name") != IMPORTED_SCORES and metric in METRICS:
        # deepface's own convention beside frbench's similarity: Dlib's 0.6, not -0.6
        row["threshold_distance"] = distance_from_similarity(float(first["threshold"]), metric)
    for col in ("n_mated", "n_nonmated", "n_failed"):
        if col in overall:
            row[col] = first[col]
    row["fnmr"], row["fmr"] = first["fnmr"], first["fmr"]
    if run.fold_accuracy is not None:
        acc = run.fold_accuracy["accuracy"]
        row["fold_accuracy_mean"] = acc.mean()
        row["fold_accuracy_std"] = acc.std(ddof=1)
        row["fold_accuracy_folds"] = len(acc)
    groups = rows[(rows["attribute"] != ALL) & ~rows["group"].map(has_unknown)]
    if "in_summaries" in groups:
        # the run's own eligibility (too few subjects, unknown labels): a group its summaries left out
        # is not its worst or best group here either
        groups = groups[groups["in_summaries"].map(lambda v: str(v).strip().lower() in ("true", "1"))]
    for attribute, part in groups.groupby("attribute", sort=False):
        for key, value in {**_extremes(part, "fnmr", "n_mated"), **_extremes(part, "fmr", "n_nonmated")}.items():
            row[f"{attribute}.{key}"] = value
    if run.fairness is not None:
        for item in run.fairness[run.fairness["threshold_name"] == threshold_name].itertuples():
            row[f"{item.attribute}.{item.measure}"] = item.value
    if run.fte is not None:
        for item in run.fte.itertuples():
            row["fte" if item.attribute == ALL else f"fte.{item.attribute}={item.group}"] = item.fte
    return row


def column_direction(column: str) -> str | None:
    """``"min"`` or ``"max"`` where a lower or higher value is better, None where neither is."""
    if column in ("fnmr", "fmr", "fte") or column.startswith("fte.") or column.endswith(GROUP_RATE_SUFFIXES):
        return "min"
    if column == "fold_accuracy_mean":
        return "max"
    measure = column.rpartition(".")[2]
    if "." in column and measure in LOWER_IS_FAIRER:
        return "min"
    if "." in column and measure in HIGHER_IS_FAIRER:
        return "max"
    return None


def best_flags(table: pd.DataFrame) -> pd.DataFrame:
    """True where a run has the best value of a column (ties: all of them), for columns with a direction.

    A column is marked only where runs differ: at least two distinct values (NaN, a measure not
    defined for that run, is never best). Where every run has the same value none is best.
    """
    flags = {}
    for column in table.columns:
        direction = column_direction(column)
        if direction is None:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        if values.nunique() < 2:
            flags[column] = pd.Series(False, index=table.index)
            continue
        best = values.min() if direction == "min" else values.max()
        flags[column] = values == best
    return pd.DataFrame(flags, index=table.index)


def compare_runs(
    paths: Iterable[str | Path], allow_different_datasets: bool = False
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """One table per threshold name, one row per run (columns in the module docstring), and notes.

    ``paths`` are run directories, or grid directories standing for their completed cells. A
    threshold name is compared over the runs that have it (at least two, when there are two or
    more runs). Runs of different datasets (dataset.sha256 in the manifest) raise FrbenchError
    unless ``allow_different_datasets``. Cells left out, thresholds not shared and datasets that
    differ are returned as notes, for the caller to show.
    """
    run_dirs, notes = expand_run_dirs(paths)
    runs = [_read_run(path, notes) for path in run_dirs]
    for run, label in zip(runs, _labels(runs)):
        run.label = label
    _check_datasets(runs, allow_different_datasets, notes)
    present: dict[str, list[_Run]] = {}
    for run in runs:
        for name in pd.unique(run.per_group["threshold_name"]):
            present.setdefault(str(name), []).append(run)
    tables = {}
    for name, having in present.items():
        if len(having) < min(2, len(runs)):
            notes.append(f"threshold {name} only in {having[0].label}: not compared")
            continue
        if len(having) < len(runs):
            notes.append(f"threshold {name} is not in every run: its table has {len(having)} of {len(runs)} runs")
        tables[name] = pd.DataFrame([_row(run, name) for run in having])
    return tables, notes


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)):
        # a ratio over a zero rate: the word the run's report uses, not inf
        return "" if np.isnan(value) else "unbounded" if np.isinf(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def markdown_table(table: pd.DataFrame) -> str:
    """One threshold's table transposed (a row per measure, a column per run), best values in bold."""
    flags = best_flags(table)
    body = {}
    for index, row in table.iterrows():
        cells = []
        for column in table.columns:
            text = _fmt(row[column])
            marked = column in flags and bool(flags.at[index, column]) and text
            cells.append(f"**{text}**" if marked else text)
        body[str(row["run"])] = cells
    shown = pd.DataFrame(body, index=list(table.columns)).drop(index=["run", "run_dir"])
    shown.insert(0, "measure", shown.index)
    return md_table(shown)


def threshold_slug(name: str) -> str:
    """A file-name form of a threshold name: ``fmr=1e-03`` -> ``fmr_1e-03``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name)


def render_comparison(tables: dict[str, pd.DataFrame], notes: Sequence[str] = (), plots: dict[str, str] | None = None) -> str:
    """comparison.md: the runs, notes, the legend, then each threshold's table (and plot)."""
    runs = pd.concat([t[list(DESCRIPTORS)] for t in tables.values()]).drop_duplicates("run") if tables else None
    lines = [f"# Comparison of {0 if runs is None else len(runs)} runs", ""]
    if runs is not None:
        lines += [md_table(runs.rename(columns={"run_dir": "directory"}).astype(object).apply(lambda c: c.map(_fmt))), ""]
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    lines += [LEGEND, ""]
    for name, table in tables.items():
        lines += [f"## Threshold `{name}`", "", markdown_table(table), ""]
        if plots and name in plots:
            lines += [f"![FNMR and FMR per group at {name}]({plots[name]})", ""]
    return "\n".join(lines)


def csv_with_flags(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``best_<column>`` flag right after every column that has a direction."""
    flags = best_flags(table)
    out = {}
    for column in table.columns:
        out[column] = table[column]
        if column in flags:
            out[BEST_PREFIX + column] = flags[column]
    return pd.DataFrame(out)


def _per_run_rates(table: pd.DataFrame, threshold_name: str) -> dict[str, pd.DataFrame]:
    """Each compared run's per-group rows at ``threshold_name``, ``unknown`` groups left out."""
    per_run = {}
    for row in table.itertuples():
        pg = unescape_frame(pd.read_csv(Path(row.run_dir) / "per_group.csv", keep_default_na=False, na_values=[""]))
        pg = pg[(pg["threshold_name"] == threshold_name) & ~pg["group"].map(has_unknown)]
        per_run[str(row.run)] = pg.set_index(["attribute", "group"])
    return per_run


def write_comparison(tables: dict[str, pd.DataFrame], out_dir: Path, notes: Sequence[str] = ()) -> list[Path]:
    """Write comparison_<threshold>.csv (with best_ flags), plots/compare_<threshold>.png and comparison.md,
    holding ``out_dir``'s writer lock (``frbench.report.output_dir.output_lock``)."""
    out_dir = Path(out_dir)
    with output_lock(out_dir):
        return _write_comparison(tables, out_dir, notes)


def _write_comparison(tables: dict[str, pd.DataFrame], out_dir: Path, notes: Sequence[str]) -> list[Path]:
    written, plots = [], {}
    for name, table in tables.items():
        slug = threshold_slug(name)
        csv_path = out_dir / f"comparison_{slug}.csv"
        write_csv(csv_path, csv_with_flags(table))
        plot_path = out_dir / "plots" / f"compare_{slug}.png"
        plot_compared_rates(_per_run_rates(table, name), name, plot_path)
        plots[name] = f"plots/compare_{slug}.png"
        written += [csv_path, plot_path]
    write_text(out_dir / "comparison.md", render_comparison(tables, notes, plots))
    return [*written, out_dir / "comparison.md"]
