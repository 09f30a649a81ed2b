"""Reading and checking the options of a config dataclass.

Values come from a preset, then a JSON/TOML/YAML file, then ``key=value`` overrides. Every field is
then checked where the config is built (``check_fields`` in ``__post_init__``): first its type,
from the dataclass annotation, then its allowed range. Each failure is a :class:`ConfigError`
that names the key and the allowed values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Callable

import yaml

from hftjax.errors import ConfigError

# What each config field is, declared once per field (rejax-style):
# - static: part of the compiled program (shapes, network sizes, switches); a change recompiles;
# - traced: a pytree leaf of the compiled program (learning rate, fee, ...); a change does not;
# - host: read only by the host loop or the data loading (epochs, seeds, logging bounds).
STATIC, TRACED, HOST = "static", "traced", "host"


def option(default, role: str = STATIC, leaf: str | None = None):
    """A config field with its role; ``leaf`` renames a traced field in the learner's
    hyper-parameters (the sub-agents' ``alpha`` and the hyper-agent's ``beta`` are both the
    KL weight)."""
    return dataclasses.field(default=default, metadata={"role": role, "leaf": leaf})


def role(field: dataclasses.Field) -> str:
    return field.metadata.get("role", STATIC)


def compiled_part(config):
    """``config`` with every traced and host field at its default: equal for two configs
    exactly when one compiled program serves both."""
    return dataclasses.replace(config, **{f.name: f.default for f in dataclasses.fields(config) if role(f) != STATIC})


def traced_leaves(config) -> dict:
    """The traced fields, under their learner names."""
    return {f.metadata["leaf"] or f.name: getattr(config, f.name)
            for f in dataclasses.fields(config) if role(f) == TRACED}


# (predicate on the value, what is allowed)
Rule = tuple[Callable[[Any], bool], str]


def read_options(path, overrides, config_class, preset: dict) -> dict:
    """Option values from a preset, then a JSON/TOML file, then ``key=value`` overrides,
    each name checked against the fields of ``config_class``."""
    values: dict = dict(preset)
    if path is not None:
        values.update(read_config_file(path))
    for item in overrides:
        key, value = parse_override(item)
        values[key] = value
    fields = {f.name for f in dataclasses.fields(config_class)}
    for key in values:
        if key not in fields:
            raise ConfigError(key, f"unknown option; known: {', '.join(sorted(fields))}")
    return values


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON when it parses (numbers, true, [0,1]), else as text."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(item, "overrides are key=value, e.g. lr=3e-4")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


class YamlLoader(yaml.SafeLoader):
    """YAML with YAML 1.2's numbers: PyYAML follows YAML 1.1, where ``3e-4`` (no dot) is text."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"  # with a dot
               r"|^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"  # an exponent without a dot: 3e-4
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def read_config_file(path) -> dict:
    """A JSON, TOML (``.toml``) or YAML (``.yaml``, ``.yml``) file of options, as a dict."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("--config", f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("--config", f"cannot read {path}: {e}") from None
    try:
        if path.suffix == ".toml":
            values = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            values = yaml.load(text, YamlLoader)
        else:
            values = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError("--config", f"{path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("--config", f"{path} is not valid TOML: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError("--config", f"{path} is not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(values, dict):
        raise ConfigError("--config", f"{path} must hold an object of options, got {type(values).__name__}")
    return values


def check_fields(config, rules: dict[str, Rule]) -> None:
    """Coerce every field of a frozen config dataclass to its annotated type (lists become
    tuples, integers become floats where a float is expected), then apply ``rules``."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        try:
            object.__setattr__(config, f.name, coerce(f.name, value, hints[f.name]))
        except ConfigError:
            if f.name not in rules:
                raise
            raise ConfigError(f.name, f"must be {rules[f.name][1]}, got {value!r}") from None
    for name, (ok, allowed) in rules.items():
        check(name, getattr(config, name), ok, allowed)


def check(name: str, value, ok: Callable[[Any], bool], allowed: str) -> None:
    if not ok(value):
        raise ConfigError(name, f"must be {allowed}, got {value!r}")


def coerce(name: str, value, hint):
    """``value`` as type ``hint`` (bool, int, float, str, X | Y | None, tuple[X, ...], tuple[X, Y])."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        *first, last = [a for a in args if a is not type(None)]
        for inner in first:  # the first type that takes the value (float | str: a number or a name)
            try:
                return coerce(name, value, inner)
            except ConfigError:
                pass
        return coerce(name, value, last)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(name, f"must be a list, e.g. {name}=[0,1,2], got {value!r}")
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            raise ConfigError(name, f"must be a list of {len(items)} items, got {value!r}")
        return tuple(coerce(name, v, a) for v, a in zip(value, items))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, f"must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(name, f"must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(name, f"must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"must be a string, got {value!r}")
        return value
    raise TypeError(f"option {name!r}: unsupported annotation {hint!r}")  # a programming error
