"""Hyper-agent configuration (MACROHFT.md s.5 defaults) and its ablation switches."""

from __future__ import annotations

import dataclasses

from hftjax.options import COMMON_RULES, check, check_fields, read_options

RULES = {
    **COMMON_RULES,
    "top_k": (lambda v: v >= 1, "an integer >= 1"),
    "alpha_memory": (lambda v: v >= 0, "a number >= 0"),
    "beta": (lambda v: v >= 0, "a number >= 0"),
}


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
    warn_loss_above: float = 1e6      # a mean epoch loss above this warns (non-finite stops training)
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
        check_fields(self, RULES)
        check("buffer_size", self.buffer_size, lambda v: v >= self.batch_size, f"an integer >= batch_size ({self.batch_size})")
        check("memory_capacity", self.memory_capacity, lambda v: v >= self.top_k, f"an integer >= top_k ({self.top_k})")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def load_hyper_config(path=None, overrides=(), **preset) -> HyperConfig:
    """Defaults, then a preset, a JSON/TOML file and ``key=value`` overrides (as the sub-agents')."""
    return HyperConfig(**read_options(path, overrides, HyperConfig, preset))
