"""Hyper-agent configuration (docs/method.md s.5 defaults) and its ablation switches."""

from __future__ import annotations

import dataclasses

from hftjax.hyper.memory import CAPACITY, TOP_K
from hftjax.learner.config import LEARNER_RULES, LearnerConfig
from hftjax.options import HOST, TRACED, check, option, read_options

RULES = {
    **LEARNER_RULES,
    "top_k": (lambda v: v >= 1, "an integer >= 1"),
    "alpha_memory": (lambda v: v >= 0, "a number >= 0"),
    "beta": (lambda v: v >= 0, "a number >= 0"),
    "select_on": (lambda v: v in ("return", "sharpe"), "'return' or 'sharpe'"),
    "routing": (lambda v: v in ("soft", "hard"), "'soft' or 'hard'"),
    "decision_interval": (lambda v: v >= 1, "an integer >= 1"),
}


@dataclasses.dataclass(frozen=True)
class HyperConfig(LearnerConfig):
    steps_per_iteration: int = option(512)       # env steps between update bursts (and memory re-encodings)
    learning_starts: int = option(512)
    hidden: int = option(32)
    memory: bool = option(True)                  # False: the no-memory ablation (alpha_memory term dropped)
    context: bool = option(True)                 # False: the no-context-conditioning ablation
    memory_capacity: int = option(CAPACITY)
    top_k: int = option(TOP_K)
    # which epoch is kept: the best validation return rate (the reference), or the best validation
    # ASR (Sharpe): risk-adjusted, and a losing policy no longer beats only by trading less
    select_on: str = option("return")
    # levers against sub-agents that agree to keep their position (benchmarks/experiments/levers.py measures them):
    constant_experts: bool = option(False)       # add a constant flat and long expert to the mixture
    routing: str = option("soft")                # acting greedily: "hard" follows the highest-weight member alone (trained soft)
    decision_interval: int = option(1)           # acting greedily: change position only at rows divisible by this
    seed_vote: bool = option(False, HOST)        # evaluating: every seed follows the seeds' majority (ties keep the position)
    # per-seed hyper-parameters beside the shared lr, gamma and tau
    alpha_memory: float = option(0.5, TRACED, leaf="memory_weight")
    beta: float = option(5.0, TRACED, leaf="kl_weight")  # KL-to-teacher weight (paper: 1 for DOT)
    epsilon_start: float = option(0.7, TRACED)
    epsilon_end: float = option(0.3, TRACED)
    epsilon_decay_epochs: float = option(5.0, TRACED)

    def __post_init__(self):
        self.check(RULES)
        check("memory_capacity", self.memory_capacity, lambda v: v >= self.top_k, f"an integer >= top_k ({self.top_k})")


def load_hyper_config(path=None, overrides=(), **preset) -> HyperConfig:
    """Defaults, then a preset, a JSON/TOML file and ``key=value`` overrides (as the sub-agents')."""
    return HyperConfig(**read_options(path, overrides, HyperConfig, preset))
