"""frbench's Python API, for notebooks and scripts: the same runs as the command line, results as DataFrames.

>>> import frbench
>>> result = frbench.run("configs/example-bob-scores.yaml", out_dir="runs/bob-api")   # doctest: +SKIP
>>> result.per_group.head()                                                          # doctest: +SKIP

Errors are :class:`frbench.FrbenchError` subclasses (:class:`ConfigError`, :class:`DatasetError`)
whose message is the one the command line prints after ``frbench: error:``, without its option
names: an override is named as such, not as ``--set``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from frbench.config import Config, apply_override, read_config_mapping, validate_config
from frbench.errors import ConfigError, DatasetError, FrbenchError
from frbench.workflows.run import RunResult, run_benchmark

__all__ = ["Comparison", "ConfigError", "DatasetError", "FrbenchError", "Result", "compare", "load_config", "run"]

Overrides = Sequence[str] | Mapping[str, Any]


def _without_cli_words(exc: FrbenchError) -> FrbenchError:
    # The config layer names an override as the command line's --set; the API has no options.
    return type(exc)(str(exc).replace("(--set ", "(override ").replace(": --set ", ": override "))


def load_config(config: str | Path | Mapping[str, Any], overrides: Overrides = ()) -> Config:
    """Read and validate a config: a YAML file's path or a mapping with the same keys.

    ``overrides``: ``"dotted.key=value"`` strings (values read as YAML, as ``--set`` does) or a
    mapping ``{"dotted.key": value}`` (values taken as given). Raises ConfigError naming the file
    (or ``<config>``) and the field of every problem.
    """
    source = str(config) if not isinstance(config, Mapping) else "<config>"
    try:
        raw = read_config_mapping(Path(config)) if not isinstance(config, Mapping) else copy.deepcopy(dict(config))
        items: list[str] = []
        if isinstance(overrides, Mapping):
            for key, value in overrides.items():
                node = raw
                *parents, last = str(key).split(".")
                for part in parents:
                    node = node.setdefault(part, {})
                    if not isinstance(node, dict):
                        raise ConfigError(f"{source}: override {key!r}: {part!r} is not a section")
                node[last] = value
                items.append(f"{key}={value}")
        else:
            if isinstance(overrides, str):
                raise ConfigError(f"{source}: overrides are a list of 'dotted.key=value' strings, got one string")
            for item in overrides:
                apply_override(raw, item, source=source)
            items = list(overrides)
        return validate_config(raw, source=source, overrides=items)
    except FrbenchError as exc:
        raise _without_cli_words(exc) from None


@dataclass
class Result:
    """One finished run: its tables as DataFrames (the same as the CSV files in ``out_dir``).

    Attributes
    ----------
    out_dir : Path
        The run directory (report.md, the CSV files, plots/, manifest.json).
    per_group : DataFrame
        per_group.csv: one row per threshold x attribute x group, with counts, rates, intervals and power.
    fairness : DataFrame
        fairness.csv: max/min ratios and the other summaries, and Fairlearn-style differences and ratios.
    eer : DataFrame or None
        eer.csv: EER (with intervals), FMR100, FMR1000 and ZeroFMR per group (None for exhaustive and
        identification runs).
    scores : DataFrame
        One row per comparison (scores.csv).
    thresholds : dict
        Global threshold name -> similarity.
    accuracy, fold_accuracy, failure_to_enrol : DataFrame or None
        accuracy.csv, fold_accuracy.csv (two folds or more), failure_to_enrol.csv.
    manifest : dict
        manifest.json: config, versions, hashes, timings.
    config : Config
        The validated config that ran.
    """

    out_dir: Path
    per_group: pd.DataFrame
    fairness: pd.DataFrame
    eer: pd.DataFrame | None
    scores: pd.DataFrame
    thresholds: dict[str, float]
    accuracy: pd.DataFrame | None
    fold_accuracy: pd.DataFrame | None
    failure_to_enrol: pd.DataFrame
    manifest: dict[str, Any]
    config: Config
    _run: RunResult = field(repr=False)

    def overall(self) -> pd.DataFrame:
        """The ``all`` rows of per_group: overall FNMR and FMR at every threshold."""
        return self.per_group[self.per_group["attribute"] == "all"].reset_index(drop=True)

    def figures(self) -> dict[str, Figure]:
        """The run's plots as matplotlib figures, by the stem of their PNG under plots/ (e.g. ``det_gender``).

        Built from the measured tables (not read back from the PNGs); display one in Jupyter by
        leaving it as a cell's value, or save it with ``fig.savefig(...)``.
        """
        from frbench.report.figures import build_figures

        if self._run.measures is None:
            return {}
        built = build_figures(self._run.groups.names, self._run.measures)
        return {stem: fig for kind in built.values() for stem, fig in kind.items()}


def run(
    config: str | Path | Mapping[str, Any] | Config,
    out_dir: str | Path | None = None,
    *,
    overrides: Overrides = (),
    data_root: str | Path | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> Result:
    """Run one config end to end, as ``frbench run`` does, and return its tables.

    ``config``: a YAML path, a mapping or a :class:`Config`; ``out_dir`` default ``runs/<name>``;
    ``data_root`` where datasets are found by name (default ``$FRBENCH_DATA``, else ``./data``);
    ``workers`` embedding processes (default the config's, else the core count). A config with
    list-valued model keys (a grid) is refused: run its cells one by one.
    """
    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    try:
        result = run_benchmark(cfg, out_dir=Path(out_dir) if out_dir is not None else None,
                               data_root=Path(data_root) if data_root is not None else None,
                               progress=progress, workers=workers)
    except FrbenchError as exc:
        raise _without_cli_words(exc) from None
    return Result(
        out_dir=result.out_dir, per_group=result.per_group, fairness=result.fairness, eer=result.eer,
        scores=result.scores, thresholds=result.thresholds, accuracy=result.accuracy,
        fold_accuracy=result.fold_accuracy, failure_to_enrol=result.failure_to_enrol, manifest=result.manifest,
        config=cfg, _run=result,
    )


@dataclass
class Comparison:
    """Runs side by side: ``tables`` one DataFrame per threshold name, ``notes`` what was noticed on the way."""

    tables: dict[str, pd.DataFrame]
    notes: list[str]

    def markdown(self) -> str:
        """The comparison as ``frbench compare`` prints it."""
        from frbench.workflows.compare import render_comparison

        return render_comparison(self.tables, self.notes)


def compare(*run_dirs: str | Path, allow_different_datasets: bool = False) -> Comparison:
    """Compare finished runs (run directories, or a grid's directory), as ``frbench compare`` does."""
    from frbench.workflows.compare import compare_runs

    try:
        tables, notes = compare_runs([Path(p) for p in run_dirs], allow_different_datasets=allow_different_datasets)
    except FrbenchError as exc:
        raise _without_cli_words(exc) from None
    return Comparison(tables, list(notes))
