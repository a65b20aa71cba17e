"""Options several commands share, bundled once (as sqlite-utils does), so that they read and
behave the same everywhere: the config argument, --set, -o, --workers, --quiet, --json."""

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


def workers_option(default: int | None = None, help: str = "Worker processes.") -> Decorator:
    return click.option("--workers", type=click.IntRange(min=1), default=default, show_default=default is not None,
                        help=help)


def quiet_option(help: str = "No progress bar; errors only.") -> Decorator:
    return click.option("-q", "--quiet", is_flag=True, help=help)


def json_option(help: str) -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


def output_option(dest: str, help: str, required: bool = False) -> Decorator:
    return click.option("-o", "--output", dest, type=click.Path(path_type=Path), required=required, help=help)
