"""``frbench data``: which datasets frbench knows, downloading LFW, checking a dataset on disk.

Registered on the main group with ``main.add_command(data)``, whose error handling turns a
FrbenchError into one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import click

from frbench.cli.options import data_root_option, json_option, overrides_option, quiet_option
from pydantic import ValidationError

from frbench.config import DatasetConfig
from frbench.errors import DatasetError

# the values a config's dataset.format takes
DATASET_FORMATS = typing.get_args(DatasetConfig.model_fields["format"].annotation)

SHOWN_PROBLEMS = 20

_data_root = data_root_option()


@click.group()
def data() -> None:
    """Datasets under $FRBENCH_DATA: list them, download LFW, check one on disk.

    \b
    frbench data list               known datasets and whether each is complete here
    frbench data fetch lfw          download, verify and unpack LFW and its label files
    frbench data check NAME         verify a dataset on disk (files, counts, hashes, loading)
    frbench data check CONFIG.yaml  verify the dataset a config names, as the run would load it
    """


@data.command("list")
@_data_root
@quiet_option("Print only the names of the complete datasets.")
@json_option("Print every row as JSON on stdout.")
def list_datasets(data_root: Path | None, quiet: bool, as_json: bool) -> None:
    """List the datasets frbench knows, where each is expected and whether it is complete."""
    from tabulate import tabulate

    from frbench.datasets.registry import DATASETS, dataset_status, resolve_data_root

    root = resolve_data_root(data_root)
    rows = []
    for info in DATASETS.values():
        folder = root / info.folder
        status = dataset_status(info, folder)
        rows.append(
            {
                "name": info.name,
                "format": info.format,
                "folder": str(folder),
                "status": "complete" if status.complete else "incomplete" if status.present else "absent",
                "get it": f"frbench data fetch {info.name}" if info.files else info.sources[0],
            }
        )
    if as_json:
        click.echo(json.dumps(rows))
    elif quiet:
        for row in rows:
            if row["status"] == "complete":
                click.echo(row["name"])
    else:
        click.echo(tabulate(rows, headers="keys", tablefmt="simple"))


@data.command()
@click.argument("name")
@_data_root
@click.option(
    "--from",
    "local",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of files already downloaded by hand, under their published names; tried before the URLs "
    "and verified the same way.",
)
@click.option(
    "--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True, help="Seconds per connection."
)
@quiet_option("No progress lines; errors only.")
@json_option("Print the result (dataset, folder, problems) as JSON on stdout.")
def fetch(name: str, data_root: Path | None, local: Path | None, timeout: float, quiet: bool, as_json: bool) -> None:
    """Download NAME into $FRBENCH_DATA/<folder>, verify every file, unpack archives, then check it.

    An interrupted fetch resumes where it stopped when run again.
    """
    from frbench.datasets.fetch import check_dataset, fetch_dataset
    from frbench.datasets.registry import resolve_data_root, get_dataset

    info = get_dataset(name)
    folder = resolve_data_root(data_root) / info.folder
    log = (lambda msg: None) if quiet or as_json else (lambda msg: click.echo(msg, err=True))
    fetch_dataset(info, folder, local=local, timeout=timeout, log=log)
    _report(name, folder, check_dataset(info, folder), quiet, as_json)


@data.command()
@click.argument("name")
@_data_root
@click.option("--format", "dataset_format", type=click.Choice(DATASET_FORMATS),
              help="Check the folder NAME under the data root as this format (a dataset frbench does not know by name).")
@overrides_option()
@quiet_option("Print nothing when the dataset is complete; problems and errors only.")
@json_option("Print the result (dataset, folder, problems) as JSON on stdout.")
def check(name: str, data_root: Path | None, dataset_format: str | None, overrides: tuple[str, ...], quiet: bool,
          as_json: bool) -> None:
    """Verify a dataset on disk. NAME is a dataset frbench knows (required files, image counts,
    hashes, readable images, loading), a folder under the data root with --format, or a config
    file (CONFIG.yaml): its dataset is loaded as the run would load it and every image is checked.
    """
    from frbench.config import load_config
    from frbench.datasets.fetch import check_configured_dataset, check_dataset
    from frbench.datasets.registry import resolve_data_root, get_dataset

    root = resolve_data_root(data_root)
    if Path(name).suffix in (".yaml", ".yml") or Path(name).is_file():
        dataset = load_config(name, overrides).dataset
        if dataset_format is not None and dataset_format != dataset.format:
            raise click.UsageError(f"--format {dataset_format} contradicts the config's dataset.format {dataset.format}")
    elif overrides:
        raise click.UsageError("--set applies to a CONFIG file")
    elif dataset_format is not None:
        try:
            dataset = DatasetConfig(name=name, format=dataset_format)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise click.UsageError(f"--format {dataset_format}: {problem}; give a config file instead") from None
    else:
        try:
            info = get_dataset(name)
        except DatasetError as exc:
            raise DatasetError(f"{exc} (for another folder give its format with --format, or a config file "
                               "naming it)") from None
        folder = root / info.folder
        _report(info.name, folder, check_dataset(info, folder), quiet, as_json)
        return
    folder, problems = check_configured_dataset(dataset, root)
    _report(dataset.name, folder, problems, quiet, as_json)


def _report(name: str, folder: Path, problems: list[str], quiet: bool = False, as_json: bool = False) -> None:
    """Print the first problems and fail, or say the dataset is complete (JSON: all of them, on stdout)."""
    if as_json:
        click.echo(json.dumps({"dataset": name, "folder": str(folder), "complete": not problems, "problems": problems}))
        if problems:
            raise DatasetError(f"{name}: {len(problems)} problem(s) in {folder}")
        return
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(problem)
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"... and {len(problems) - SHOWN_PROBLEMS} more")
    if problems:
        raise DatasetError(f"{name}: {len(problems)} problem(s) in {folder}")
    if not quiet:
        click.echo(f"{name}: complete ({folder})")
