"""Hyper-agent configuration (MACROHFT.md s.5 defaults) and its ablation switches."""

from __future__ import annotations

import dataclasses

from hftjax.errors import ConfigError
from hftjax.options import read_options


@dataclasses.dataclass(frozen=True)
class HyperConfig:
    epochs: int = 15
    steps_per_iteration: int = 512    # env steps between update bursts (and memory re-encodings)
    updates_per_iteration: int = 10
    batch_size: int = 512
    buffer_size: int = 1_000_000
    learning_starts: int = 512
    hidden: int = 32
    memory: bool = True               # False: the no-memory ablation (alpha_memory term dropped)
    context: bool = True              # False: the no-context-conditioning ablation
    memory_capacity: int = 4320
    top_k: int = 5
    grad_clip: float = 1.0
    lr: float = 1e-4
    gamma: float = 0.99
    tau: float = 0.005
    alpha_memory: float = 0.5
    beta: float = 5.0                 # KL-to-teacher weight (paper: 1 for DOT)
    epsilon_start: float = 0.7
    epsilon_end: float = 0.3
    epsilon_decay_epochs: float = 5.0
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self):
        checks = {"epochs": self.epochs >= 1, "steps_per_iteration": self.steps_per_iteration >= 1,
                  "batch_size": self.batch_size >= 1, "buffer_size": self.buffer_size >= self.batch_size,
                  "memory_capacity": self.memory_capacity >= self.top_k >= 1, "seeds": bool(self.seeds)}
        for option, ok in checks.items():
            if not ok:
                raise ConfigError(option, f"invalid value {getattr(self, option)!r}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def load_hyper_config(path=None, overrides=(), **preset) -> HyperConfig:
    """Defaults, then a preset, a JSON/TOML file and ``key=value`` overrides (as the sub-agents')."""
    values = read_options(path, overrides, HyperConfig, preset)
    if "seeds" in values:
        values["seeds"] = tuple(values["seeds"])
    return HyperConfig(**values)
