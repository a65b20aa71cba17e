"""frbench: demographic error rates (FMR/FNMR per group) for face verification models."""

__version__ = "0.1.0"
