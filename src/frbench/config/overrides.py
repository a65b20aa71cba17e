"""``--set dotted.key=value`` overrides, applied to a config's raw mapping before validation."""

from __future__ import annotations

from typing import Any

import yaml

from frbench.config.yaml_text import parse_yaml
from frbench.errors import ConfigError


def apply_override(raw: dict[str, Any], item: str, source: str = "<config>") -> None:
    """Apply one ``dotted.key=value`` override to a raw config mapping in place."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{source}: --set {item!r}: expected dotted.key=value")
    parts = key.strip().split(".")
    node: dict[str, Any] = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: --set {item!r}: {part!r} is not a section")
        node = child
    try:
        node[parts[-1]] = parse_yaml(value) if value.strip() else None
    except RecursionError:
        raise ConfigError(f"{source}: --set {item[:80]!r}: value nested too deeply") from None
    except yaml.YAMLError:
        node[parts[-1]] = value
