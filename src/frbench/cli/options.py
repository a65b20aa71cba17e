"""Options several commands share, bundled once (as sqlite-utils does), so that they read and
behave the same everywhere: the config argument, --set, -o, --workers, --quiet, --json, --data-root.

tests/cli/test_options_conventions.py walks every command's help and checks that each has the shared
options it should, spelled and defaulted the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

# ctx.meta key: the command line as typed, for messages that tell the user what to run again.
ARGV_KEY = "frbench.argv"

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def config_argument(required: bool = True) -> Decorator:
    return click.argument("config", type=click.Path(path_type=Path), required=required)


def overrides_option(example: str = "") -> Decorator:
    return click.option(
        "--set", "overrides", multiple=True, metavar="KEY=VALUE",
        help="Override a config key" + (f", e.g. --set {example}" if example else "") + " (repeatable).",
    )


# One default everywhere: every core (None here; the command resolves it, the config's execution.workers first).
WORKERS_HELP = "Worker processes [execution.workers, else the number of cores]."


def workers_option() -> Decorator:
    return click.option("--workers", type=click.IntRange(min=1), default=None, help=WORKERS_HELP)


def data_root_option() -> Decorator:
    return click.option(
        "--data-root", type=click.Path(file_okay=False, path_type=Path),
        help="Folder holding one folder per dataset [$FRBENCH_DATA or ./data].",
    )


def quiet_option(help: str = "No progress bar; errors only.") -> Decorator:
    return click.option("-q", "--quiet", is_flag=True, help=help)


def json_option(help: str) -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


def output_option(dest: str, help: str, required: bool = False) -> Decorator:
    return click.option("-o", "--output", dest, type=click.Path(path_type=Path), required=required, help=help)
