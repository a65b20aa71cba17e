"""``frbench compare``: runs side by side (the work is in :mod:`frbench.workflows.compare`)."""

from __future__ import annotations

from pathlib import Path

import click

from frbench.cli.options import json_option, output_option, quiet_option


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@output_option("out_dir", "Write comparison.md, one CSV per threshold and plots here [print Markdown to stdout].")
@click.option("--allow-different-datasets", is_flag=True, help="Compare runs of different datasets (warned, not refused).")
@quiet_option("No notes; with -o print nothing.")
@json_option("Print every table (one per threshold) and the notes as JSON on stdout.")
def compare(run_dirs: tuple[Path, ...], out_dir: Path | None, allow_different_datasets: bool, quiet: bool,
            as_json: bool) -> None:
    """Compare runs side by side, one table per threshold: overall and per-group rates, fairness, FTE.

    RUN_DIRS are run directories or a grid's directory (its completed cells). The best value of
    each measure is in bold (CSV: a best_<column> flag).
    """
    from frbench.report.output_dir import check_output_dir
    from frbench.workflows.compare import compare_runs, render_comparison, write_comparison

    if out_dir is not None:
        check_output_dir(out_dir)
    tables, notes = compare_runs(run_dirs, allow_different_datasets=allow_different_datasets)
    if not quiet and not as_json:
        for note in notes:
            click.echo(f"frbench: note: {note}", err=True)
    if out_dir is not None:
        write_comparison(tables, out_dir, notes)
    if as_json:
        from frbench.cli.output import to_json

        click.echo(to_json({"notes": list(notes), "tables": {name: table.to_dict(orient="records")
                                                             for name, table in tables.items()}}))
    elif out_dir is None:
        click.echo(render_comparison(tables, notes))
    elif not quiet:
        click.echo(str(out_dir))
