"""``frbench label``: click commands only; the work is in :mod:`frbench.label`."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from frbench.cli.options import config_argument, data_root_option, overrides_option
from frbench.cli.signals import stop_status, stopped_by

# frbench.label.order.ORDERS (a test keeps them equal); importing it here would load numpy and
# pandas for every frbench command.
ORDERS = ("random", "uncertain-first")


@click.group("label")
def label() -> None:
    """Annotators' skin-tone labels: a local labelling page, agreement between annotators, consensus."""


@label.command("skin-tone")
@config_argument()
@click.option("--annotator", help="Your name (letters, digits, . _ -) [your login name].")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--order", type=click.Choice(ORDERS), default="random", show_default=True,
              help="random, or the estimate's most uncertain subjects first.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the order.")
@click.option("--probabilities", type=click.Path(path_type=Path), metavar="CSV",
              help="uncertain-first: P(darker) per subject (subject_id,p_darker) instead of today's ITA estimate.")
@click.option("-o", "--output", "out_file", type=click.Path(path_type=Path),
              help="Your label file [labels/<dataset>-skin-tone/annotator-<NAME>.csv].")
@click.option("--photos", type=click.IntRange(min=1), default=4, show_default=True, help="Photos shown per subject, at most.")
@overrides_option()
@data_root_option()
def skin_tone(
    config: Path, annotator: str | None, port: int, order: str, seed: int, probabilities: Path | None,
    out_file: Path | None, photos: int, overrides: tuple[str, ...], data_root: Path | None,
) -> None:
    """Label perceived skin tone of the subjects of CONFIG's dataset on a page at http://127.0.0.1:PORT/.

    One key per answer: L lighter, D darker, U unsure, optionally a Monk tone first (1-9, 0 for
    10); Z or Backspace undoes. Each answer is saved to your label file at once, and running the
    command again resumes where you stopped. Subject names are not shown. Ctrl-C stops the page
    (exit status 130; SIGTERM 143), saying how many answers the file holds.
    """
    from frbench.config import load_config
    from frbench.datasets import load_dataset
    from frbench.datasets.registry import resolve_data_root
    from frbench.label.files import check_annotator_name
    from frbench.label.order import labelling_order, read_probabilities, uncertainty_from_ita, uncertainty_from_p_darker
    from frbench.label.server import LabelSession, make_server

    if probabilities is not None and order != "uncertain-first":
        raise click.UsageError("--probabilities is for --order uncertain-first")
    name = check_annotator_name(annotator or getpass.getuser())
    cfg = load_config(config, overrides)
    images = load_dataset(cfg.dataset, resolve_data_root(data_root)).images
    subjects = sorted(images["subject_id"].astype(str).unique())
    uncertainty = None
    if order == "uncertain-first":
        if probabilities is not None:
            uncertainty = uncertainty_from_p_darker(read_probabilities(probabilities, subjects).reindex(subjects))
        else:
            uncertainty = uncertainty_from_ita(_subject_ita(cfg, images, subjects))
    ordered = labelling_order(subjects, seed=seed, order=order, uncertainty=uncertainty)
    out = out_file or Path("labels") / f"{cfg.dataset.name}-skin-tone" / f"annotator-{name}.csv"
    session = LabelSession(images, ordered, out, name, photos=photos, max_pixels=cfg.dataset.max_pixels)
    server = make_server(session, port)
    state = session.state()
    try:
        # in the try: a Ctrl-C as soon as the URL is out is a stop like any other
        click.echo(
            f"frbench label: {state['total']} subjects of {cfg.dataset.name}, {state['done']} answered by {name}; "
            f"answers go to {out}",
            err=True,
        )
        click.echo(f"open {server.url}  (Ctrl-C stops; every answer is already saved)", err=True)
        click.echo(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        done = len(session.answered())
        if out.is_file():
            saved = f"{done} of {state['total']} answered, saved in {out}"
        else:
            saved = f"no answer given, so no label file was written ({out})"
        click.echo(f"\nfrbench label: stopped by {stopped_by()}; {saved}", err=True)
        # the status of any stop (frbench.cli.exit_codes): the same command resumes
        sys.exit(stop_status())
    finally:
        server.server_close()


def _subject_ita(cfg, images, subjects: list[str]):
    """Today's ITA estimate per subject, NaN where it has none (cached per image content)."""
    from frbench.annotate.apply import skin_tone_tables
    from frbench.embed.cache import resolve_cache_dir

    cache_dir = resolve_cache_dir(cfg.cache.dir)
    click.echo("frbench label: estimating ITA to order subjects by uncertainty", err=True)
    _, per_subject = skin_tone_tables(images, cfg.annotate, cache_dir, progress=True, max_pixels=cfg.dataset.max_pixels)
    return per_subject.set_index("subject_id")["ita"].reindex(subjects).to_numpy(dtype=float)


@label.command("agreement")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write agreement.csv, confusion.csv, disagreements.csv and consensus.csv here.")
@click.option("--replicates", type=click.IntRange(min=1), default=1000, show_default=True, help="Bootstrap replicates (subjects resampled).")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--unsure", type=click.Choice(["missing", "category"]), default="missing", show_default=True,
              help="For kappa and alpha: 'unsure' as no answer, or as a third category.")
def agreement_command(files: tuple[Path, ...], out_dir: Path | None, replicates: int, seed: int, unsure: str) -> None:
    """Agreement between annotators' label FILES: Cohen's kappa, Krippendorff's alpha, consensus.

    Kappa for each pair of annotators and alpha over all (nominal for lighter/darker, ordinal for
    Monk), with 95% bootstrap intervals over subjects; with -o also the confusion tables, the
    subjects they disagree on and a consensus label file (majority answer, ties unsure, median Monk).
    """
    from tabulate import tabulate

    from frbench.label.agreement import agreement
    from frbench.label.files import CONSENSUS_COLUMNS, read_annotator_files, write_label_file
    from frbench.io.spreadsheet import write_csv

    answers = read_annotator_files(list(files))
    result = agreement(answers, replicates=replicates, seed=seed, unsure=unsure)
    per_subject = answers.groupby("subject_id")["annotator"].nunique()
    click.echo(
        f"{answers['annotator'].nunique()} annotators, {len(per_subject)} subjects, "
        f"{int((per_subject >= 2).sum())} with two or more answers, {len(result.disagreements)} disagreements"
    )
    click.echo(tabulate(result.statistics, headers="keys", tablefmt="github", showindex=False, floatfmt=".3f"))
    if answers["annotator"].nunique() < 2:
        click.echo("frbench: note: one annotator: agreement needs two or more", err=True)
    if out_dir is not None:
        write_csv(out_dir / "agreement.csv", result.statistics)
        write_csv(out_dir / "confusion.csv", result.confusion)
        write_csv(out_dir / "disagreements.csv", result.disagreements)
        write_label_file(out_dir / "consensus.csv", result.consensus.to_dict("records"), CONSENSUS_COLUMNS)
        click.echo(str(out_dir))


@label.command("sheets")
@config_argument()
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for sheet_NNN.png, its key sheet_NNN.csv and sheets.json (keep it out of the repository: the crops are the dataset's).")
@click.option("--subjects", "subjects_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A file of subject ids, one a line [every subject of the dataset].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the order and of the photos chosen.")
@click.option("--per-sheet", type=click.IntRange(1, 60), default=30, show_default=True, help="Subjects per sheet.")
@click.option("--photos", type=click.IntRange(1, 4), default=4, show_default=True, help="Photos per subject, at most.")
@overrides_option()
@data_root_option()
def sheets(config: Path, out_dir: Path, subjects_file: Path | None, seed: int, per_sheet: int, photos: int,
           overrides: tuple[str, ...], data_root: Path | None) -> None:
    """Numbered montage sheets of CONFIG's subjects, for labelling many at once (answers: `label record`).

    Each tile shows up to PHOTOS face crops of one subject, under a strip of the Monk swatches;
    names are hidden and the order is a seeded shuffle.
    """
    from frbench.config import load_config
    from frbench.datasets import load_dataset
    from frbench.datasets.registry import resolve_data_root
    from frbench.errors import DatasetError
    from frbench.label.montage import write_sheets

    cfg = load_config(config, overrides)
    dataset = load_dataset(cfg.dataset, resolve_data_root(data_root))
    images = dataset.images
    known = sorted(images["subject_id"].astype(str).unique())
    if subjects_file is None:
        subjects = known
    else:
        subjects = [s.strip() for s in subjects_file.read_text(encoding="utf-8").splitlines() if s.strip()]
        unknown = sorted(set(subjects) - set(known))
        if unknown:
            raise DatasetError(f"{subjects_file}: {len(unknown)} subjects not in {cfg.dataset.name}, e.g. {unknown[0]!r}")
    written = write_sheets(images, subjects, out_dir, seed, per_sheet, photos)
    click.echo(f"frbench label: {len(subjects)} subjects on {len(written)} sheets in {out_dir}", err=True)
    click.echo(str(out_dir))


@label.command("record")
@click.argument("key", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--annotator", required=True, help="The annotator's name (letters, digits, . _ -).")
@click.option("--kind", required=True,
              help="What the annotator is, as a report should say it: 'a person', or 'an AI model (which, how it saw the sheets)'.")
@click.option("--answers", "answers_file", type=click.File("r"), default="-", show_default=True,
              help="Answer lines 'TILE L|D|U [MONK|-]', one per tile ('-': standard input).")
@click.option("-o", "--output", "out_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The annotator's label file (answers are appended; annotator-NAME.json beside it says who they are).")
def record(key: Path, annotator: str, kind: str, answers_file, out_file: Path) -> None:
    """Record one sheet's answers (KEY is its sheet_NNN.csv) in the annotator's label file."""
    from frbench.label.montage import describe_annotator, record_answers

    text = answers_file.read()
    describe_annotator(out_file, annotator, kind, "numbered montage sheets (frbench label sheets): up to 4 face crops per subject, names hidden")
    added = record_answers(key, text, annotator, out_file, where=getattr(answers_file, "name", "answers"))
    click.echo(f"frbench label: {added} answers from {key.stem} recorded in {out_file}", err=True)
