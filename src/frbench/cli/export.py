"""``frbench export``: a run's comparisons in bob, pyeer or BFW score files (:mod:`frbench.report.export`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from frbench.cli.options import json_option, output_option, quiet_option


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["bob", "pyeer", "bfw"]), required=True,
              help="bob: 5-column text and CSV; pyeer: genuine.txt and impostor.txt; bfw: a BFW datatable.")
@output_option("out_dir", "Folder for the files [RUN_DIR/export-FORMAT].")
@quiet_option("Print nothing but errors.")
@json_option("Print the files written as JSON.")
def export(run_dir: Path, fmt: str, out_dir: Path | None, quiet: bool, as_json: bool) -> None:
    """Write a finished run's scores in another tool's format, to check frbench's numbers with that tool.

    The files read back with dataset format 'scores' (data/README.md).
    """
    from frbench.report.export import export_run

    written = export_run(run_dir, fmt, out_dir)
    if as_json:
        click.echo(json.dumps({"format": fmt, "files": [str(p) for p in written]}))
    elif not quiet:
        for path in written:
            click.echo(str(path))
