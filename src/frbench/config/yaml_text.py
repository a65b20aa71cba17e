"""YAML text to plain data, the safe way, refusing repeated keys: config files and ``--set`` values."""

from __future__ import annotations

from typing import Any

import yaml


class _ConfigLoader(yaml.SafeLoader):
    """yaml.SafeLoader (plain data only: no Python objects are built, nothing runs) refusing repeated keys.

    YAML 1.2 requires the keys of a mapping to be unique; PyYAML keeps the last silently, so a
    section written twice would lose the first one's settings without a word.
    """


def _unique_keys_mapping(loader: _ConfigLoader, node: yaml.MappingNode) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} repeated (first at line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
    yield from loader.construct_yaml_map(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:map", _unique_keys_mapping)


def parse_yaml(text: str) -> Any:
    """YAML text -> plain data (``yaml.safe_load`` semantics), refusing repeated keys.

    Raises yaml.YAMLError (with the line in ``problem_mark``) or RecursionError (nesting deeper
    than Python's recursion limit).
    """
    return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader subclass)
