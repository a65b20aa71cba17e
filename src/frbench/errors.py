"""Exceptions whose message is shown to the user as one line."""


class FrbenchError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class ConfigError(FrbenchError):
    """The config file or an override is invalid; the message names the field and the file."""


class DatasetError(FrbenchError):
    """A dataset, label file or pairs file is missing or malformed; the message names file and line."""


class WeightsMissingError(FrbenchError):
    """Model weights are absent and may not be downloaded; the message names file, URL and target."""


class OutputError(FrbenchError):
    """An output path (``-o``, a run or comparison directory) cannot be created or written."""


# At most this many problems are listed, one line each, then how many more there are.
SHOWN_PROBLEMS = 20


def problems_error(problems: list[str], error: type[FrbenchError] = FrbenchError, source: str = "",
                   shown: int = SHOWN_PROBLEMS) -> FrbenchError:
    """One error listing ``problems`` one per line, the first ``shown`` of them, then ``<source>: and N more
    problem(s)`` (every line names the file, as config errors do)."""
    lines = list(problems[:shown])
    if len(problems) > shown:
        lines.append(f"{source}: and {len(problems) - shown} more problem(s)" if source
                     else f"and {len(problems) - shown} more problem(s)")
    return error("\n".join(lines))
