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
# Ctrl-C (SIGINT): 128 + 2, the shell's convention.
INTERRUPTED = 130

HELP = (
    "Exit status: 0 success; 1 internal error (a bug: please report the traceback); 2 input or config "
    "error (one line per problem on stderr); 3 partial success (a grid cell skipped, its "
    "reason printed and in grid.json); 130 interrupted (Ctrl-C; finished work is kept, the same command "
    "resumes)."
)
