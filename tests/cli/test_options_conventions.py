"""One command-line convention (sqlite-utils and click's docs): every command's help, walked, shows the
shared options spelled and defaulted the same; -h works everywhere; usage errors are one documented line."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from frbench.cli import main
from frbench.cli.options import WORKERS_HELP


def _commands(group: click.Group = main, path: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


ALL = [" ".join(p) for p, _ in _commands()]
LEAVES = [" ".join(p) for p, c in _commands() if not isinstance(c, click.Group)]
# commands that print a result: each has -q/--quiet and --json. `label` is left out: skin-tone serves an
# interactive page, and agreement, sheets and record write files named by -o.
PRINTING = ["run", "compare", "export", "models", "models fetch", "data list", "data fetch", "data check",
            "annotate skin-tone"]
# commands that find a dataset by name: each has --data-root
READING = ["run", "data list", "data fetch", "data check", "annotate skin-tone", "label skin-tone", "label sheets"]
# commands that embed or estimate per image: each has --workers, with one default
WORKING = ["run", "annotate skin-tone"]


def _options(path: str) -> dict[str, click.Option]:
    command = main
    for part in path.split():
        command = command.commands[part]
    return {name: p for p in command.params if isinstance(p, click.Option) for name in p.opts}


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_lists_below_name_commands_that_exist():
    assert set(PRINTING + READING + WORKING) <= set(ALL)
    assert {"run", "compare", "export", "models", "data", "annotate", "label"} <= set(ALL)


@pytest.mark.parametrize("path", ["", *ALL])
def test_every_command_takes_h_and_help_alike(path):
    args = path.split()
    assert _help([*args, "-h"]) == _help([*args, "--help"])
    assert "-h, --help" in _help([*args, "-h"])


@pytest.mark.parametrize("path", PRINTING)
def test_printing_commands_have_quiet_and_json(path):
    options = _options(path)
    assert "-q" in options and "--quiet" in options and options["-q"] is options["--quiet"]
    assert "--json" in options and options["--json"].is_flag
    text = _help([*path.split(), "-h"])
    assert "-q, --quiet" in text and "--json" in text


@pytest.mark.parametrize("path", READING)
def test_dataset_reading_commands_take_data_root_with_one_help(path):
    option = _options(path)["--data-root"]
    assert option.help == _options("run")["--data-root"].help
    assert "$FRBENCH_DATA" in option.help


@pytest.mark.parametrize("path", WORKING)
def test_workers_has_one_default_everywhere(path):
    option = _options(path)["--workers"]
    assert option.default is None and option.help == WORKERS_HELP


def test_no_command_outside_the_lists_has_a_shared_option_spelled_differently():
    for path in LEAVES:
        opts = _options(path)
        for name in opts:
            assert name not in ("--worker", "--jobs", "-j", "--silent", "--data", "--root"), (path, name)
        if "--quiet" in opts:
            assert "-q" in opts, path


@pytest.mark.parametrize("args, message", [
    (["run", "--nope"], "frbench: error: No such option '--nope'. (see 'frbench run -h')"),
    (["nosuch"], "frbench: error: No such command 'nosuch'. (see 'frbench -h')"),
    (["export", "."], "frbench: error: Missing option '--format'. Choose from:"),
])
def test_usage_errors_are_one_line_in_the_documented_form(args, message):
    result = CliRunner().invoke(main, args, prog_name="frbench")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_data_fetch_of_an_unknown_dataset_suggests_no_option_fetch_lacks():
    result = CliRunner().invoke(main, ["data", "fetch", "nosuch"], prog_name="frbench")
    assert result.exit_code == 2
    assert "--format" not in result.stderr and "unknown dataset 'nosuch'" in result.stderr
