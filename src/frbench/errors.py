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
