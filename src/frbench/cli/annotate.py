"""``frbench annotate``: labels a dataset lacks, estimated (the work is in :mod:`frbench.annotate`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from frbench.cli.options import (
    config_argument, data_root_option, json_option, output_option, overrides_option, quiet_option, workers_option,
)


@click.group()
def annotate() -> None:
    """Derive labels a dataset lacks, e.g. skin tone from skin pixels."""


@annotate.command("skin-tone")
@config_argument()
@output_option("out_file", "Per-image CSV; the per-subject table goes beside it as <name>.subjects.csv.", required=True)
@overrides_option()
@workers_option()
@data_root_option()
@quiet_option("No progress bar (the summary line stays, on stderr).")
@json_option("Print the counts and the files written as JSON on stdout.")
def annotate_skin_tone(config: Path, out_file: Path, overrides: tuple[str, ...], workers: int | None,
                       data_root: Path | None, quiet: bool, as_json: bool) -> None:
    """Skin tone of every subject of the dataset CONFIG names, by the policy runs use.

    The annotators' perceived labels (annotate.skin_tone_labels) first, else the estimate (skin_tone:
    ita or estimator; cached by image content), else unknown. The subjects table gives each
    subject's tone, source, P(darker) where estimated, and annotators and agreement where labelled.
    """
    from frbench.annotate.apply import skin_tone_of_dataset
    from frbench.config import config_errors_named, load_config
    from frbench.report.output_dir import check_output_file
    from frbench.io.spreadsheet import write_csv

    cfg = load_config(config, overrides)
    check_output_file(out_file)
    with config_errors_named(cfg.source):
        n_workers = workers or cfg.execution.workers or os.cpu_count() or 1
        per_image, per_subject = skin_tone_of_dataset(cfg, data_root=data_root, workers=n_workers, progress=not quiet)
    subjects_file = out_file.with_name(out_file.stem + ".subjects.csv")
    write_csv(out_file, per_image)
    write_csv(subjects_file, per_subject)
    failed = per_image["status"] != "ok"
    sources = per_subject["skin_tone_source"].value_counts().sort_index()
    unknown = int(per_subject["skin_tone"].isin(["unknown", "uncertain"]).sum())
    if as_json:
        click.echo(json.dumps({"images": len(per_image), "images_without_estimate": int(failed.sum()),
                               "subjects": len(per_subject), "subjects_unknown_or_uncertain": unknown,
                               "subjects_by_source": {str(k): int(v) for k, v in sources.items()},
                               "files": [str(out_file), str(subjects_file)]}))
        return
    click.echo(
        f"{len(per_image)} images ({int(failed.sum())} without an estimate), {len(per_subject)} subjects "
        f"({int(per_subject['skin_tone'].isin(['unknown', 'uncertain']).sum())} unknown or uncertain; by source: "
        + ", ".join(f"{k} {v}" for k, v in sources.items()) + f"): {out_file}, {subjects_file}",
        err=True,
    )
