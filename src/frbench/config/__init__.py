"""The run configuration: schema, defaults, overrides and errors that name the field and file.

A config is a YAML mapping validated by pydantic with unknown keys forbidden, so a typo is an
error (with the closest valid key suggested) rather than a silently ignored setting.

* :mod:`frbench.config.schema`: the models and the constants they check against;
* :mod:`frbench.config.loading`: reading a file, validating, errors named by file and field;
* :mod:`frbench.config.overrides`: ``--set dotted.key=value``;
* :mod:`frbench.config.yaml_text`: YAML parsing that refuses repeated keys.

Every name is importable from ``frbench.config`` as before the split.
"""

from frbench.config.loading import (
    SHOWN_PROBLEMS,
    config_errors_named,
    load_config,
    read_config_mapping,
    validate_config,
)
from frbench.config.overrides import apply_override
from frbench.config.schema import (
    ALL_BEST,
    EXHAUSTIVE_METRICS,
    FAIL,
    FOLD_FORMATS,
    IMPORTED_SCORES,
    LARGEST,
    MAX_PIXELS,
    AnnotateConfig,
    CacheConfig,
    CompositionConfig,
    Config,
    DatasetConfig,
    ExecutionConfig,
    FpirPredictionConfig,
    GallerySizeConfig,
    IdentificationConfig,
    ModelConfig,
    PairsConfig,
    StatsConfig,
    ThresholdsConfig,
    deepface_names,
    safe_run_name,
)
from frbench.config.yaml_text import _ConfigLoader, parse_yaml

__all__ = [
    "ALL_BEST", "EXHAUSTIVE_METRICS", "FAIL", "FOLD_FORMATS", "IMPORTED_SCORES", "LARGEST", "MAX_PIXELS",
    "SHOWN_PROBLEMS", "AnnotateConfig", "CacheConfig", "CompositionConfig", "Config", "DatasetConfig",
    "ExecutionConfig", "FpirPredictionConfig", "GallerySizeConfig", "IdentificationConfig", "ModelConfig",
    "PairsConfig", "StatsConfig", "ThresholdsConfig", "_ConfigLoader", "apply_override", "config_errors_named",
    "deepface_names", "load_config", "parse_yaml", "read_config_mapping", "safe_run_name", "validate_config",
]
