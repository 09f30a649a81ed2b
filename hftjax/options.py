"""Reading options for a config dataclass: preset, then a JSON/TOML file, then ``key=value``."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

from hftjax.errors import ConfigError


def read_options(path, overrides, config_class, preset: dict) -> dict:
    """Option values from a preset, then a JSON/TOML file, then ``key=value`` overrides,
    each name checked against the fields of ``config_class``."""
    values: dict = dict(preset)
    if path is not None:
        text = Path(path).read_text()
        values.update(tomllib.loads(text) if str(path).endswith(".toml") else json.loads(text))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(item, "overrides are key=value")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    fields = {f.name for f in dataclasses.fields(config_class)}
    for key in values:
        if key not in fields:
            raise ConfigError(key, f"unknown option; known: {', '.join(sorted(fields))}")
    return values
