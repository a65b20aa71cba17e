"""The ``frbench`` command line: click commands only, each a thin wrapper over a library function."""

from frbench.cli.app import main

__all__ = ["main"]
