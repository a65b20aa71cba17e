"""frbench: demographic error rates (FMR/FNMR per group) for face verification models.

The Python API (:mod:`frbench.api`)::

    import frbench
    result = frbench.run("configs/lfw-dlib-quick.yaml")     # a Result: DataFrames and figures
    result.per_group.head()

``run``, ``compare``, ``load_config``, ``Result``, ``Comparison`` and the error types are loaded on
first use, so that ``import frbench`` (and the command line's start) stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Comparison", "ConfigError", "DatasetError", "FrbenchError", "Result", "__version__", "compare",
           "load_config", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from frbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'frbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
