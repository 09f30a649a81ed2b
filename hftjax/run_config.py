"""One typed configuration for a whole run: data, env, sub-agents, learned baselines,
hyper-agent, evaluation and devices sections.

Values come from defaults, then a preset (``hftjax.presets``), then a JSON/TOML/YAML file, then
``key=value`` overrides with dotted keys (``hyper.lr=3e-4``; a sub-command may name a default
section, so ``train-hyper RUN lr=3e-4`` means ``hyper.lr``). Unknown sections or keys and bad
values get a ``ConfigError`` naming the dotted key and what is allowed. ``hftjax run`` stores the
resolved config as ``RUN_DIR/config.json``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hftjax.baselines.config import BaselineConfig
from hftjax.env.config import EnvConfig
from hftjax.errors import ConfigError
from hftjax.features.normalize import NORMALIZE
from hftjax.hyper.config import HyperConfig
from hftjax.options import HOST, check, check_fields, option, parse_override, read_config_file
from hftjax.prepare import CHUNK_LEN
from hftjax.presets import PRESETS
from hftjax.sharding import Placement
from hftjax.splits import parse_splits
from hftjax.subagent.config import SubAgentConfig, with_mode_defaults


@dataclasses.dataclass(frozen=True)
class DataConfig:
    inputs: tuple[str, ...] = option((), HOST)   # market files; empty: the embedded synthetic market
    require_inputs: bool = option(False, HOST)   # the paper presets run on real data only
    synthetic_rows: int = option(60_000, HOST)
    synthetic_seed: int = option(0, HOST)
    features: str = option("auto", HOST)         # auto, lob or ohlcv
    chunk_len: int = option(CHUNK_LEN, HOST)     # rows per chunk
    splits: tuple[str, ...] = option((), HOST)   # NAME=START:END (UTC, END exclusive); empty: 70/15/15
    gap_policy: str = option("split", HOST)
    max_ffill: int = option(0, HOST)             # forward-fill gaps of at most this many bars
    normalize: str = option("none", HOST)        # none (the reference: raw features) or zscore (training-split statistics)

    def __post_init__(self):
        check_fields(self, {
            "synthetic_rows": (lambda v: v >= 1000, "an integer >= 1000"),
            "synthetic_seed": (lambda v: v >= 0, "an integer >= 0"),
            "features": (lambda v: v in ("auto", "lob", "ohlcv"), "auto, lob or ohlcv"),
            "chunk_len": (lambda v: v >= 16, "an integer >= 16"),
            "gap_policy": (lambda v: v in ("split", "error"), "split or error"),
            "max_ffill": (lambda v: v >= 0, "an integer >= 0"),
            "normalize": (lambda v: v in NORMALIZE, " or ".join(NORMALIZE)),
        })
        if self.splits:
            try:
                parse_splits(list(self.splits))
            except ConfigError as e:
                raise ConfigError("splits", e.reason) from None
        check("inputs", self.inputs, lambda v: bool(v) or not self.require_inputs,
              "market files (--data FILE...): this preset reproduces the paper on real 1-minute data with a 5-level book")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    splits: tuple[str, ...] = option(("valid", "test"), HOST)  # the splits evaluated after training

    def __post_init__(self):
        check_fields(self, {"splits": (lambda v: len(v) >= 1, "a non-empty list of split names")})


@dataclasses.dataclass(frozen=True)
class DevicesConfig:
    platform: str = option("", HOST)  # "": JAX's default; cpu, cuda, rocm or tpu
    count: int = option(1, HOST)      # devices the populations spread over: 1, N, or 0 for all (hftjax.sharding)

    def __post_init__(self):
        check_fields(self, {"platform": (lambda v: v in ("", "cpu", "cuda", "rocm", "tpu"), "'', cpu, cuda, rocm or tpu"),
                            "count": (lambda v: v >= 0, "an integer >= 0 (0: every device)")})

    def placement(self) -> Placement:
        return Placement.over(self.count)

    def select_platform(self) -> None:
        """Make ``platform`` JAX's (before anything else touches a device); refuse one this
        machine does not have."""
        if not self.platform:
            return
        import jax

        jax.config.update("jax_platforms", self.platform)
        try:
            jax.devices()
        except Exception as e:  # jax raises RuntimeError or a bare AssertionError for a missing backend
            jax.config.update("jax_platforms", None)
            reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else "no such backend"
            raise ConfigError("devices.platform", f"JAX cannot use {self.platform} on this machine ({reason}); "
                                                  "leave it empty for JAX's default") from None


SECTIONS = {"data": DataConfig, "env": EnvConfig, "subagents": SubAgentConfig, "baselines": BaselineConfig,
            "hyper": HyperConfig, "evaluation": EvaluationConfig, "devices": DevicesConfig}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    data: DataConfig = DataConfig()
    env: EnvConfig = EnvConfig()
    subagents: SubAgentConfig = SubAgentConfig()
    baselines: BaselineConfig = BaselineConfig()
    hyper: HyperConfig = HyperConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    devices: DevicesConfig = DevicesConfig()

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """Sections from a nested dict, each checked; errors name the dotted key."""
        for name in values:
            if name not in SECTIONS:
                raise ConfigError(name, f"unknown section; known: {', '.join(SECTIONS)}")
        sections = {}
        for name, section in SECTIONS.items():
            if not isinstance(values.get(name) or {}, dict):
                raise ConfigError(name, "must be a mapping of options")
            given = dict(values.get(name) or {})
            fields = {f.name for f in dataclasses.fields(section)}
            for key in given:
                if key not in fields:
                    raise ConfigError(f"{name}.{key}", f"unknown option; known: {', '.join(sorted(fields))}")
            if section is SubAgentConfig:
                given = with_mode_defaults(given)
            try:
                sections[name] = section(**given)
            except ConfigError as e:
                raise ConfigError(f"{name}.{e.option}", e.reason) from None
        return cls(**sections)


def merge(base: dict, update: dict) -> dict:
    """Section-wise merge: ``update``'s options replace ``base``'s, section by section."""
    out = {k: dict(v) for k, v in base.items()}
    for name, values in update.items():
        if not isinstance(values, dict):
            raise ConfigError(name, "must be a mapping of options (a config file holds sections)")
        out.setdefault(name, {}).update(values)
    return out


def load_run_config(preset: str | None = None, path: str | Path | None = None, overrides=(), *,
                    base: dict | None = None, default_section: str | None = None,
                    only: tuple[str, ...] | None = None) -> RunConfig:
    """Defaults <- ``base`` (e.g. a run's stored config) <- preset <- file <- overrides.
    With a ``default_section``, undotted keys and a file of plain options belong to it; ``only``
    limits the sections a command accepts options for."""
    values, from_file = merge({}, base or {}), set()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError("--preset", f"must be one of {', '.join(PRESETS)}, got {preset!r}")
        values = merge(values, PRESETS[preset])
    if path is not None:
        given = read_config_file(path)
        if default_section is not None and not set(given) <= set(SECTIONS):
            given = {default_section: given}
        values = merge(values, given)
        _check_only(given, only, "--config")
        from_file = {f"{section}.{key}" for section, options in given.items() for key in options}
    for item in overrides:
        key, value = parse_override(item)
        section, dot, name = key.partition(".")
        if not dot:
            if default_section is None:
                raise ConfigError(key, f"give the section too, e.g. hyper.{key}=... (sections: {', '.join(SECTIONS)})")
            section, name = default_section, key
        _check_only({section: {}}, only, f"{section}.{name}")
        values.setdefault(section, {})[name] = value
        from_file.discard(f"{section}.{name}")
    try:
        return RunConfig.from_dict(values)
    except ConfigError as e:  # a value the file set: name the file
        if e.option in from_file:
            raise ConfigError(e.option, f"{e.reason} (set in {path})") from None
        raise


def _check_only(values: dict, only: tuple[str, ...] | None, option: str) -> None:
    for section in values:
        if only is not None and section not in only:
            raise ConfigError(option, f"this command takes options of {', '.join(only)} only, not of {section!r}")
