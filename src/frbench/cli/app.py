"""The ``frbench`` command line: option parsing only; each command calls one library function."""

from __future__ import annotations

import sys
import traceback

import click

from frbench import __version__
from frbench.cli import exit_codes
from frbench.cli.options import ARGV_KEY
from frbench.cli.signals import stop_on_signals, stop_status, stopped_by
from frbench.errors import FrbenchError



def _usage_error(exc: click.UsageError) -> None:
    """A usage error as the one documented line (not click's usage, hint and error lines), status 2."""
    command = exc.ctx.command_path if exc.ctx is not None else "frbench"
    # click may break a message over lines (the choices of an option): one line, as documented
    message = " ".join(exc.format_message().split())
    click.echo(f"frbench: error: {message} (see '{command} -h')", err=True)
    sys.exit(exc.exit_code)


class _Group(click.Group):
    """frbench's exit statuses (frbench.cli.exit_codes): a FrbenchError is one line per problem on stderr
    and status 2, without a traceback; Ctrl-C is 130, SIGTERM 143 and SIGHUP 129 (frbench.cli.signals);
    any other exception is an internal error, 1, with its traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: object) -> click.Context:
        given = list(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            _usage_error(exc)
        # The command line as typed, for messages that tell the user what to run again.
        ctx.meta.setdefault(ARGV_KEY, given)
        return ctx

    def invoke(self, ctx: click.Context) -> object:
        try:
            with stop_on_signals():
                return super().invoke(ctx)
        except FrbenchError as exc:
            for line in str(exc).splitlines() or [""]:
                click.echo(f"frbench: error: {line}", err=True)
            sys.exit(exit_codes.INPUT_ERROR)
        except KeyboardInterrupt:
            click.echo(f"\nfrbench: interrupted ({stopped_by()})", err=True)
            sys.exit(stop_status())
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            _usage_error(exc)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception:
            click.echo(traceback.format_exc(), err=True, nl=False)
            click.echo("frbench: internal error (a bug in frbench: please report it with the traceback above)", err=True)
            sys.exit(exit_codes.INTERNAL_ERROR)


@click.group(cls=_Group, epilog=exit_codes.HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="frbench")
def main() -> None:
    """Measure face-recognition error rates (FMR, FNMR) per demographic group.

    \b
    frbench models                  which deepface models and detectors can run here
    frbench run CONFIG.yaml         one benchmark run (or a grid of runs); tables in runs/<name>/
    frbench compare RUN_DIR...      runs side by side, best values marked
    frbench export RUN_DIR          a run's scores as bob, pyeer or BFW files
    """


# Each command is a module of its own (thin: options, then one library call); imported at the end
# so that the group exists first.
from frbench.cli.annotate import annotate  # noqa: E402
from frbench.cli.compare import compare  # noqa: E402
from frbench.cli.data import data  # noqa: E402
from frbench.cli.export import export  # noqa: E402
from frbench.cli.label import label  # noqa: E402
from frbench.cli.models import models  # noqa: E402
from frbench.cli.run import run  # noqa: E402

for command in (run, models, compare, export, annotate, data, label):
    main.add_command(command)

if __name__ == "__main__":
    main()
