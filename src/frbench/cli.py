"""The ``frbench`` command line: option parsing only; each command calls one library function."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from frbench import __version__
from frbench.errors import FrbenchError


class _Group(click.Group):
    """Turn frbench's own errors into one line on stderr and exit status 2, without a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FrbenchError as exc:
            click.echo(f"frbench: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or log lines; errors only.")
def run(
    config: Path | None, from_manifest: Path | None, out_dir: Path | None, overrides: tuple[str, ...],
    offline: bool, workers: int | None, quiet: bool,
) -> None:
    """Run the benchmark described by CONFIG and write per_group.csv, scores.csv, report.md and manifest.json.

    Datasets are looked up by name under $FRBENCH_DATA (default ./data). Lists under `model`
    (e.g. `detector: [opencv, dlib]`) make a grid: one run per combination and a grid.json; the
    exit status is 1 when a cell was skipped (its reason is printed). --from MANIFEST repeats a
    recorded run and warns about every difference from the record.
    """
    from frbench.grid import load_grid, run_grid
    from frbench.reproduce import reproduce_run
    from frbench.run import run_benchmark

    if (config is None) == (from_manifest is None):
        raise click.UsageError("give either CONFIG or --from MANIFEST")
    if offline:
        overrides = (*overrides, "offline=true")
    grid = load_grid(config, overrides) if config is not None else None
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    warn = lambda msg: click.echo(f"frbench: warning: {msg}", err=True)  # noqa: E731
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
            click.echo(str(ran.out_dir))
            sys.exit(1 if ran.skipped else 0)
        else:
            result = run_benchmark(grid.cells[0].config, out_dir=out_dir, progress=not quiet, workers=workers, log=log)
    except KeyboardInterrupt as exc:
        again = f"--from {from_manifest}" if config is None else str(config)
        # EmbeddingInterrupted says how many images were saved and where; a bare Ctrl-C says nothing.
        saved = f"{exc}. " if str(exc) else "Embeddings finished so far are saved in the cache. "
        click.echo(f"\nfrbench: {saved}Resume with: frbench run {again}", err=True)
        sys.exit(130)
    stats = result.embed_stats
    if not quiet:
        click.echo(stats.summary(), err=True)
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
    from frbench.annotate.apply import skin_tone_tables
    from frbench.config import load_config
    from frbench.datasets import load_dataset
    from frbench.report.files import write_csv
    from frbench.datasets.registry import default_data_root
    from frbench.run import default_cache_dir

    cfg = load_config(config, overrides)
    images = load_dataset(cfg.dataset, default_data_root()).images
    cache_dir = Path(cfg.cache.dir) if cfg.cache.dir is not None else default_cache_dir()
    per_image, per_subject = skin_tone_tables(
        images, cfg.annotate, cache_dir, workers=workers, progress=not quiet, max_pixels=cfg.dataset.max_pixels
    )
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
    from frbench.compare import compare_runs_with_notes, render_comparison, write_comparison

    tables, notes = compare_runs_with_notes(run_dirs, allow_different_datasets=allow_different_datasets)
    for note in notes:
        click.echo(f"frbench: note: {note}", err=True)
    if out_dir is None:
        click.echo(render_comparison(tables, notes))
    else:
        write_comparison(tables, out_dir, notes)
        click.echo(str(out_dir))


@main.command()
def models() -> None:
    """List every deepface recognition model and detector with the status of its weights.

    Weight files shipped by an installed package (Dlib's, from face_recognition_models) are first
    linked into $DEEPFACE_HOME/.deepface/weights, so they show as ready.
    """
    from tabulate import tabulate

    from frbench.embed.weights import provision_packaged_weights, weight_statuses

    provision_packaged_weights()
    table = weight_statuses()
    cols = [c for c in ("kind", "name", "status", "files", "target", "urls") if c in table]
    click.echo(tabulate(table[cols], headers="keys", tablefmt="simple", showindex=False, maxcolwidths=60))


from frbench.cli_data import data  # noqa: E402  (a command group of its own module)

main.add_command(data)

if __name__ == "__main__":
    main()
