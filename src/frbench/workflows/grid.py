"""Config grids: lists under ``model`` expand to one run per combination, each in its own directory.

A config such as ``model: {name: Dlib, detector: [opencv, dlib], align: [true, false]}`` describes
four runs. Expansion happens on the raw YAML mapping (after ``--set`` overrides, before validation),
so every cell is validated as an ordinary config. A config without lists is a grid of one cell and
is not run as a grid.

Cells that run the same computation are run once: with ``detector: skip`` deepface embeds the whole
image and ignores ``align``, ``expand_percentage`` and ``enforce_detection``
(``deepface.modules.representation.represent``, deepface 0.0.103), so two cells that differ only
there are marked ``same_as`` the first and not run again. Cells that differ only in the distance
metric are separate runs but share embeddings through the cache, whose key has no metric.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frbench.config import Config, ModelConfig, apply_override, read_config_mapping, validate_config
from frbench.errors import ConfigError, FrbenchError
from frbench.report.output_dir import check_output_dir, output_lock
from frbench.io.atomic import write_json

if TYPE_CHECKING:
    from frbench.workflows.run import RunResult

GRID_FILE = "grid.json"
SKIP_DETECTOR = "skip"
# Settings deepface does not use when the detector is skip (the whole image is the face).
IGNORED_WITHOUT_DETECTOR = ("align", "expand_percentage", "enforce_detection", "multiple_faces")
# Always part of a cell's name, in this order; other grid keys are appended as ``key-value``.
NAMED_KEYS = ("name", "detector", "align", "distance_metric")

PENDING, RUNNING, COMPLETED, SKIPPED, DUPLICATE, INTERRUPTED = (
    "pending", "running", "completed", "skipped", "duplicate", "interrupted",
)


@dataclass(frozen=True)
class GridCell:
    """One combination: ``name`` (e.g. ``Dlib-dlib-align-cosine``) names its sub-directory.

    ``config.name`` is ``<grid name>/<cell name>``. ``same_as`` names an earlier cell that runs the
    same computation (see the module docstring); such a cell is not run.
    """

    name: str
    config: Config
    same_as: str | None = None


@dataclass(frozen=True)
class Grid:
    """A config expanded: ``axes`` maps ``model.<key>`` to its listed values (empty: not a grid)."""

    name: str
    source: str
    axes: dict[str, list[Any]]
    cells: list[GridCell]


@dataclass
class CellOutcome:
    """What happened to one cell: ``status`` is completed, skipped, duplicate or interrupted."""

    cell: GridCell
    status: str
    reason: str = ""
    result: RunResult | None = None


@dataclass
class GridResult:
    out_dir: Path
    outcomes: list[CellOutcome] = field(default_factory=list)

    @property
    def skipped(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == SKIPPED]


def grid_axes(raw: Mapping[str, Any], source: str = "<config>") -> dict[str, list[Any]]:
    """``model.<key>`` -> values for every list under ``model`` (no model setting is itself a list)."""
    model = raw.get("model") or {}
    if not isinstance(model, Mapping):
        return {}
    axes: dict[str, list[Any]] = {}
    for key, values in model.items():
        if not isinstance(values, list):
            continue
        if not values:
            raise ConfigError(f"{source}: 'model.{key}': an empty list gives no runs")
        # every model setting is a single value: a nested value is a mistake (and a YAML alias
        # may make it self-referencing or exponentially large, which json.dumps would not survive)
        nested = [v for v in values if isinstance(v, (list, dict))]
        if nested:
            raise ConfigError(f"{source}: 'model.{key}': a grid lists single values, got a {type(nested[0]).__name__}")
        seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
        repeated = sorted({v for v in seen if seen.count(v) > 1})
        if repeated:
            raise ConfigError(f"{source}: 'model.{key}' lists {', '.join(repeated)} more than once")
        axes[f"model.{key}"] = list(values)
    return axes


def cell_name(model: ModelConfig, extra_keys: Sequence[str] = ()) -> str:
    """``<model>-<detector>-align|noalign-<metric>`` then ``-<key>-<value>`` for other grid keys."""
    parts = [model.name, model.detector, "align" if model.align else "noalign", model.distance_metric]
    for key in extra_keys:
        value = getattr(model, key)
        parts.append(f"{key}-{str(value).lower() if isinstance(value, bool) else value}")
    # a cell name is a directory name
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", "-".join(str(p) for p in parts))


def _computation_key(config: Config) -> str:
    """The config minus its name, and minus the settings deepface ignores for ``detector: skip``."""
    dump = config.model_dump(mode="json")
    dump.pop("name")
    dump.pop("description")
    if config.model.detector == SKIP_DETECTOR:
        for key in IGNORED_WITHOUT_DETECTOR:
            dump["model"].pop(key)
    return json.dumps(dump, sort_keys=True)


def expand_grid(raw: Mapping[str, Any], source: str = "<config>", overrides: Sequence[str] = ()) -> Grid:
    """Expand the lists under ``model`` of a raw config mapping into validated cells.

    Cells follow ``itertools.product`` over the listed keys in the order they appear in the file.
    Every cell is validated before anything runs: an invalid value raises ConfigError naming the
    file and the cell (and the ``--set`` item among ``overrides`` that set it). A mapping without
    lists gives one cell named after the config.
    """
    name = str(raw.get("name", ""))
    axes = grid_axes(raw, source)
    if not axes:
        config = validate_config(raw, source=source, overrides=overrides)
        return Grid(config.name, source, {}, [GridCell(config.name, config)])
    if "/" in name:
        raise ConfigError(f"{source}: 'name': a grid's name becomes a directory, so it may not contain '/'")
    extra = [k.removeprefix("model.") for k in axes if k.removeprefix("model.") not in NAMED_KEYS]
    cells: list[GridCell] = []
    first_of: dict[str, str] = {}
    for values in itertools.product(*axes.values()):
        chosen = dict(zip(axes, values))
        cell_raw = copy.deepcopy(dict(raw))
        for key, value in chosen.items():
            cell_raw["model"][key.removeprefix("model.")] = value
        label = ", ".join(f"{k}={v}" for k, v in chosen.items())
        config = validate_config(cell_raw, source=f"{source} (grid cell {label})", overrides=overrides)
        cname = cell_name(config.model, extra)
        if any(c.name == cname for c in cells):
            raise ConfigError(f"{source}: grid cells {label} and an earlier one share the name {cname!r}")
        config = config.model_copy(update={"name": f"{name}/{cname}"})
        key = _computation_key(config)
        cells.append(GridCell(cname, config, first_of.get(key)))
        first_of.setdefault(key, cname)
    return Grid(name, source, axes, cells)


def load_grid(path: str | Path, overrides: Sequence[str] = ()) -> Grid:
    """Read a config file, apply ``dotted.key=value`` overrides, and expand its grid.

    Without lists under ``model`` the one cell's config equals ``frbench.config.load_config``'s.
    """
    raw = read_config_mapping(path)
    for item in overrides:
        apply_override(raw, item, source=str(path))
    return expand_grid(raw, source=str(path), overrides=overrides)


def grid_record(grid: Grid, outcomes: Sequence[CellOutcome]) -> dict[str, Any]:
    """The content of grid.json: the axes and, per cell, its directory, settings, status and reason."""
    cells = []
    for outcome in outcomes:
        cell = outcome.cell
        model = cell.config.model
        result = outcome.result
        cells.append(
            {
                "cell": cell.name,
                "config_name": cell.config.name,
                "dir": cell.name,
                "settings": {k: getattr(model, k.removeprefix("model.")) for k in grid.axes},
                "status": outcome.status,
                "reason": outcome.reason,
                "same_as": cell.same_as,
                "embedded": result.embed_stats.n_computed if result is not None else None,
                "from_cache": result.embed_stats.n_cached if result is not None else None,
            }
        )
    return {"name": grid.name, "source": grid.source, "axes": grid.axes, "cells": cells}


def run_grid(
    grid: Grid,
    out_dir: Path | None = None,
    data_root: Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    log: Callable[[str], None] = lambda msg: None,
    warn: Callable[[str], None] = lambda msg: None,
) -> GridResult:
    """Run every cell into ``out_dir/<cell>`` (default ``runs/<grid name>``) and keep ``grid.json``.

    A cell that raises a FrbenchError (weights missing offline, a detector that finds no face in any
    image, ...) is recorded as ``skipped`` with the message as its reason, reported through
    ``warn``, and the next cell runs. ``grid.json`` is rewritten after every cell, so it is accurate
    also after an interruption. ``log`` receives progress lines.
    """
    # imported here so that reading a grid does not load deepface
    from frbench.workflows.run import run_benchmark

    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / grid.name
    check_output_dir(out_dir)
    # one writer for the grid's folder (grid.json); each cell's run locks its own sub-folder
    with output_lock(out_dir):
        return _run_cells(grid, out_dir, data_root, progress, workers, log, warn)


def _run_cells(grid: Grid, out_dir: Path, data_root: Path | None, progress: bool, workers: int | None,
               log: Callable[[str], None], warn: Callable[[str], None]) -> GridResult:
    from frbench.workflows.run import run_benchmark

    outcomes = [CellOutcome(cell, PENDING) for cell in grid.cells]
    record = out_dir / GRID_FILE
    write_json(record, grid_record(grid, outcomes))
    for index, outcome in enumerate(outcomes, start=1):
        cell = outcome.cell
        if cell.same_as is not None:
            outcome.status = DUPLICATE
            outcome.reason = (
                f"same computation as {cell.same_as}: with detector skip deepface ignores "
                f"{', '.join(IGNORED_WITHOUT_DETECTOR)}"
            )
            log(f"grid cell {index}/{len(outcomes)} {cell.name}: not run, {outcome.reason}")
            write_json(record, grid_record(grid, outcomes))
            continue
        log(f"grid cell {index}/{len(outcomes)} {cell.name}")
        outcome.status = RUNNING
        write_json(record, grid_record(grid, outcomes))
        try:
            outcome.result = run_benchmark(
                cell.config, out_dir=out_dir / cell.name, data_root=data_root, progress=progress,
                workers=workers, log=log,
            )
        except FrbenchError as exc:
            outcome.status, outcome.reason = SKIPPED, str(exc)
            warn(f"grid cell {cell.name} skipped: {exc}")
        except BaseException as exc:
            outcome.status, outcome.reason = INTERRUPTED, f"{type(exc).__name__}: {exc}"
            write_json(record, grid_record(grid, outcomes))
            raise
        else:
            outcome.status = COMPLETED
            log(f"grid cell {cell.name}: {outcome.result.embed_stats.summary()}")
        write_json(record, grid_record(grid, outcomes))
    return GridResult(out_dir, outcomes)
