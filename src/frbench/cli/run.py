"""``frbench run``: one benchmark run, a grid of runs, or the repetition of a recorded one."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from frbench.cli import exit_codes
from frbench.cli.signals import stop_status, stopped_by
from frbench.cli.options import (
    ARGV_KEY, config_argument, data_root_option, json_option, output_option, overrides_option, quiet_option, workers_option,
)


@click.command()
@config_argument(required=False)
@click.option("--from", "from_manifest", type=click.Path(path_type=Path), metavar="MANIFEST",
              help="Repeat a recorded run (RUN_DIR/manifest.json) and report every difference from the record.")
@output_option("out_dir", "Run directory [runs/<config name>; a grid: one sub-directory per cell; --from: runs/<name>-reproduced].")
@overrides_option("model.detector=opencv")
@click.option("--offline", is_flag=True, help="Never download weights: stop at once, naming the missing file, if any is absent.")
@click.option("--allow-differences", is_flag=True,
              help="--from: list every difference from the record and exit 0 [exit status 4 on any difference].")
@workers_option()
@data_root_option()
@quiet_option("No progress bar, log lines or headline table; errors only.")
@json_option("Print a machine-readable summary (JSON) on stdout instead of the run directory.")
@click.pass_context
def run(
    ctx: click.Context, config: Path | None, from_manifest: Path | None, out_dir: Path | None,
    overrides: tuple[str, ...], offline: bool, allow_differences: bool, workers: int | None, data_root: Path | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the benchmark described by CONFIG and write per_group.csv, scores.csv, report.md and manifest.json.

    Datasets are looked up by name under $FRBENCH_DATA (default ./data). A finished run prints a
    headline table on stderr (overall FNMR, FMR and accuracy per threshold, worst group) and
    its directory on stdout (--json: a summary). Lists under `model` (e.g. `detector: [opencv,
    dlib]`) make a grid: one run per combination and a grid.json; the exit status is 3 when a cell
    was skipped (its reason is printed). --from MANIFEST repeats a recorded run and warns about
    every difference from the record: the exit status is 4 when there is any (--allow-differences: 0).
    SIGTERM and SIGHUP stop a run as Ctrl-C does (status 143, 129; Ctrl-C 130), with the resume command.
    """
    from frbench.cli.output import command_line, terminal_width, to_json
    from frbench.workflows.summary import headline, run_summary
    from frbench.workflows.grid import load_grid, run_grid
    from frbench.workflows.reproduce import reproduce_run
    from frbench.workflows.run import run_benchmark

    if (config is None) == (from_manifest is None):
        raise click.UsageError("give either CONFIG or --from MANIFEST")
    if allow_differences and from_manifest is None:
        raise click.UsageError("--allow-differences applies to --from MANIFEST only")
    if offline:
        overrides = (*overrides, "offline=true")
    grid = load_grid(config, overrides) if config is not None else None
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    warn = lambda msg: click.echo(f"frbench: warning: {msg}", err=True)  # noqa: E731
    mismatches: list = []
    try:
        if grid is None:
            result, mismatches = reproduce_run(
                from_manifest, out_dir, overrides, data_root=data_root, progress=not quiet, workers=workers, log=log
            )
            for mismatch in mismatches:
                warn(f"reproduction: {mismatch}")
            if not mismatches:
                log("reproduction: versions, weights, dataset, config and result tables as recorded")
        elif grid.axes:
            ran = run_grid(grid, out_dir, data_root=data_root, progress=not quiet, workers=workers, log=log,
                           warn=warn)
            counts = {s: sum(o.status == s for o in ran.outcomes) for s in ("completed", "skipped", "duplicate")}
            log(f"grid {grid.name}: {counts['completed']} completed, {counts['skipped']} skipped, "
                f"{counts['duplicate']} not run (duplicates); see {ran.out_dir / 'grid.json'}")
            status = exit_codes.PARTIAL if ran.skipped else exit_codes.SUCCESS
            if as_json:
                cells = [
                    {"cell": o.cell.name, "status": o.status, "reason": o.reason,
                     "summary": run_summary(o.result) if o.result is not None else None}
                    for o in ran.outcomes
                ]
                click.echo(to_json({"grid": grid.name, "out_dir": str(ran.out_dir), "exit_status": status, "cells": cells}))
            else:
                click.echo(str(ran.out_dir))
            sys.exit(status)
        else:
            result = run_benchmark(grid.cells[0].config, out_dir=out_dir, data_root=data_root, progress=not quiet,
                                       workers=workers, log=log)
    except KeyboardInterrupt as exc:
        # EmbeddingInterrupted says how many images were saved and where; a bare Ctrl-C says nothing.
        saved = f"{exc}. " if str(exc) else "Embeddings finished so far are saved in the cache. "
        # The very command given: any other (a --set or -o dropped) would run a different pipeline elsewhere.
        again = command_line(ctx.meta.get(ARGV_KEY, ["run", *sys.argv[2:]]))
        how = "" if stopped_by() == "SIGINT" else f"stopped by {stopped_by()}. "
        click.echo(f"\nfrbench: {how}{saved}Resume with: {again}", err=True)
        sys.exit(stop_status())
    summary = run_summary(result)
    if not quiet:
        click.echo(result.embed_stats.summary(), err=True)
        click.echo(headline(summary, terminal_width()), err=True)
    if as_json:
        if grid is None:
            summary["reproduction"] = {"identical": not mismatches, "mismatches": [str(m) for m in mismatches]}
        click.echo(to_json(summary))
    else:
        click.echo(str(result.out_dir))
    if mismatches and not allow_differences:
        click.echo(f"frbench: error: reproduction: {len(mismatches)} difference(s) from the record (listed above; "
                   "--allow-differences accepts them)", err=True)
        sys.exit(exit_codes.DIFFERS)
