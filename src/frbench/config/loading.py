"""Reading a config: the YAML file, ``--set`` overrides, validation, and errors that name the file,
the line (invalid YAML) or the field (with the closest valid key suggested)."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from frbench.config.overrides import apply_override
from frbench.config.schema import Config
from frbench.config.yaml_text import parse_yaml
from frbench.errors import ConfigError

# Problems of one config listed before the rest are only counted: enough to fix a file in one go,
# few enough that a config of the wrong kind does not flood the terminal.
SHOWN_PROBLEMS = 20


def _short_repr() -> reprlib.Repr:
    """A repr bounded in depth, items and length, so that a message quoting a huge or
    self-referencing YAML value (aliases can build both) stays one short line."""
    short = reprlib.Repr()
    short.maxlevel, short.maxdict, short.maxlist, short.maxstring, short.maxother = 2, 4, 4, 80, 80
    return short


_SHORT = _short_repr()


def read_config_mapping(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of a config file, ``name`` defaulting to the file's stem; not yet validated.

    Problems raise ConfigError naming the file, and the line for invalid YAML (a repeated key
    included).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        raw = parse_yaml(text)
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply to be a config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None:
            problem += f" ({context} at line {start.line + 1})"
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    return raw


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a YAML config.

    ``overrides`` are ``dotted.key=value`` strings; values are parsed as YAML, so
    ``thresholds.target_fmr=[1e-4]`` gives a list and ``offline=true`` a bool.
    Every problem raises ConfigError with the file and the field in its message.
    """
    raw = read_config_mapping(path)
    for item in overrides:
        apply_override(raw, item, source=str(path))
    return validate_config(raw, source=str(path), overrides=overrides)


def validate_config(raw: Mapping[str, Any], source: str = "<config>", overrides: Sequence[str] = ()) -> Config:
    """Validate a config mapping; raise ConfigError naming the first bad field.

    ``overrides``: the ``--set`` items applied to ``raw``; a bad field one of them set is
    reported as coming from it.
    """
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, overrides)) from None
    config._source = source
    return config


@contextmanager
def config_errors_named(source: str) -> Iterator[None]:
    """Start every line of a ConfigError raised inside with ``source`` (the config file), where it does not.

    Checks made while running (a group the dataset lacks, an option of a stage) raise
    ConfigError naming the field only; this makes each such message name the file too.
    """
    try:
        yield
    except ConfigError as exc:
        lines = str(exc).splitlines() or [""]
        if all(line.startswith(source) for line in lines):
            raise
        raise ConfigError("\n".join(line if line.startswith(source) else f"{source}: {line}" for line in lines)) from None


def _describe(exc: ValidationError, source: str, overrides: Sequence[str] = ()) -> str:
    """Every problem of a validation, one line each (at most ``SHOWN_PROBLEMS``), each naming the file."""
    errors = exc.errors()
    lines = [_describe_one(err, source, overrides) for err in errors[:SHOWN_PROBLEMS]]
    if len(errors) > SHOWN_PROBLEMS:
        lines.append(f"{source}: and {len(errors) - SHOWN_PROBLEMS} more problem(s)")
    return "\n".join(lines)


def _describe_one(err: Any, source: str, overrides: Sequence[str] = ()) -> str:
    loc = [str(p) for p in err["loc"]]
    field = ".".join(loc) or "<root>"
    for item in overrides:
        key = item.partition("=")[0].strip()
        # the item set this field, or one inside it (then an unknown key reads as its first part)
        if field == key or field.startswith(key + ".") or key.startswith(field + "."):
            source = f"{source} (--set {item!r})"
    # a YAML key may hold any character: quoted as Python would, the message stays one line
    quoted = f"'{field}'" if field.isprintable() else repr(field)
    if err["type"] == "extra_forbidden":
        hint = _closest_key(loc)
        return f"{source}: unknown key {quoted}{hint}"
    if err["type"] == "missing":
        return f"{source}: missing required key {quoted}"
    msg = " ".join(err["msg"].removeprefix("Value error, ").split())
    if not loc:  # a rule across fields names them in its message
        return f"{source}: {msg}"
    got = "" if "got" in msg else f" (got {_SHORT.repr(err.get('input'))})"
    return f"{source}: {quoted}: {msg}{got}"


def _closest_key(loc: list[str]) -> str:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    candidates = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean '{candidates[0]}'?" if candidates else ""
