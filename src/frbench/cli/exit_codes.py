"""Exit statuses of the ``frbench`` command, one per outcome a script may need to tell apart.

Documented in the README ("Exit statuses") and at the end of ``frbench --help``.
"""

from __future__ import annotations

SUCCESS = 0
# An exception frbench did not anticipate: a bug, reported with its traceback.
INTERNAL_ERROR = 1
# A problem with the input the user can fix: config, options, dataset files, missing weights
# offline, an output path that cannot be written (frbench.errors.FrbenchError).
INPUT_ERROR = 2
# The command finished but not everything ran, e.g. a grid cell was skipped (its reason is printed
# and recorded in grid.json).
PARTIAL = 3
# run --from: the repeated run differs from the record (outputs, weight hashes, versions, ...);
# every difference is printed. --allow-differences lists them and exits 0.
DIFFERS = 4
# Stopped by a signal: 128 + its number, the shell's convention. Ctrl-C (SIGINT), a hangup (SIGHUP,
# the terminal closed) and SIGTERM (timeout, kill, batch schedulers) stop a run the same way:
# finished embeddings are kept, workers are ended and the same command resumes.
HANGUP = 129
INTERRUPTED = 130
TERMINATED = 143


def for_signal(signum: int) -> int:
    """The exit status of a command stopped by signal ``signum``: 128 + its number."""
    return 128 + int(signum)


HELP = (
    "Exit status: 0 success; 1 internal error (a bug: please report the traceback); 2 input or config "
    "error (one line per problem on stderr); 3 partial success (a grid cell skipped, its "
    "reason printed and in grid.json); 4 run --from differs from the record (each difference printed; "
    "--allow-differences exits 0); 130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hangup "
    "(SIGHUP): finished work is kept, the same command resumes."
)
