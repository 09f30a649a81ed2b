"""Sub-agent training configuration: static structure plus per-member hyper-parameters.

Defaults are the reference's (MACROHFT.md s.4). ``mode="faithful"`` runs one episode at a
time with 10 updates of batch 512 per 100 env steps; ``mode="fast"`` runs ``num_envs``
episodes in parallel and scales the update batch by the same factor, so each transition is
still sampled 51.2 times on average (the replay ratio) with far fewer sequential updates.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from hftjax.options import COMMON_RULES, check, check_fields, read_options
from hftjax.subagent.network import DUELING_MEANS

AGENTS = ("slope_1", "slope_2", "slope_3", "vol_1", "vol_2", "vol_3")
REFERENCE_ALPHA = {"slope_1": 1.0, "slope_2": 4.0, "slope_3": 0.0, "vol_1": 4.0, "vol_2": 1.0, "vol_3": 1.0}
HPARAMS = ("lr", "gamma", "tau", "alpha", "epsilon_start", "epsilon_end", "epsilon_decay_epochs")
FAST_ENVS = 16
RULES = {
    **COMMON_RULES,
    "mode": (lambda v: v in ("faithful", "fast"), "'faithful' or 'fast'"),
    "num_envs": (lambda v: v >= 1, "an integer >= 1"),
    "dueling_mean": (lambda v: v in DUELING_MEANS, f"one of {', '.join(DUELING_MEANS)}"),
    "levels": (lambda v: v >= 2, "an integer >= 2"),
    "fee": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "teacher_fee": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "max_holding": (lambda v: v > 0, "a number > 0"),
    "alpha": (lambda v: v is None or v >= 0, "null (the reference's per-agent values) or a number >= 0"),
    "agents": (lambda v: len(v) >= 1 and len(set(v)) == len(v) and set(v) <= set(AGENTS),
               f"a non-empty list of distinct agents from {', '.join(AGENTS)}"),
}


@dataclasses.dataclass(frozen=True)
class SubAgentConfig:
    mode: str = "faithful"
    epochs: int = 15
    num_envs: int = 1                 # parallel episodes per member (fast mode: 16)
    steps_per_iteration: int = 100    # env steps per episode slot between update bursts
    updates_per_iteration: int = 10
    batch_size: int = 512             # fast mode: 512 * num_envs
    buffer_size: int = 1_000_000
    learning_starts: int = 513        # updates start once more transitions than this are stored
    hidden: int = 64
    dueling_mean: str = "sample"      # "batch" reproduces the reference
    adapter: bool = True              # False: the paper's no-adapter ablation
    levels: int = 2
    fee: float = 2e-4
    max_holding: float = 0.2
    teacher_fee: float = 1e-3
    grad_clip: float = 1.0
    warn_loss_above: float = 1e6      # a mean epoch loss above this warns (non-finite stops training)
    # per-member hyper-parameters (pytree leaves: one compile covers a sweep)
    lr: float = 1e-4
    gamma: float = 0.99
    tau: float = 0.005
    alpha: float | None = None        # None: the reference's per-agent values (REFERENCE_ALPHA)
    epsilon_start: float = 0.5
    epsilon_end: float = 0.1
    epsilon_decay_epochs: float = 5.0
    # population
    agents: tuple[str, ...] = AGENTS
    seeds: tuple[int, ...] = (0,)
    sweep: tuple[tuple[str, tuple[float, ...]], ...] = ()  # (("lr", (1e-4, 3e-4)), ...)

    def __post_init__(self):
        check_fields(self, RULES)
        check("num_envs", self.num_envs, lambda v: self.mode == "fast" or v == 1, "1 unless mode=fast")
        check("buffer_size", self.buffer_size, lambda v: v >= self.batch_size, f"an integer >= batch_size ({self.batch_size})")
        for name, values in self.sweep:
            check("sweep", name, lambda k: k in HPARAMS, f"one of {', '.join(HPARAMS)}")
            check(f"sweep.{name}", values, bool, "a non-empty list")
            for v in values:
                check(f"sweep.{name}", v, *RULES[name])

    @property
    def members(self) -> list[dict]:
        """One dict per population member: agent, seed and every hyper-parameter value."""
        names = [k for k, _ in self.sweep]
        grid = list(itertools.product(*[v for _, v in self.sweep])) or [()]
        out = []
        for agent, seed, values in itertools.product(self.agents, self.seeds, grid):
            hp = {k: getattr(self, k) for k in HPARAMS}
            hp["alpha"] = REFERENCE_ALPHA[agent] if self.alpha is None else self.alpha
            hp.update(zip(names, values))
            out.append({"agent": agent, "seed": int(seed), **{k: float(v) for k, v in hp.items()}})
        return out

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: list[str] = (), **preset) -> SubAgentConfig:
    """Config from defaults, the fast-mode preset, a JSON/TOML file, then ``key=value`` overrides."""
    values = read_options(path, overrides, SubAgentConfig, preset)
    if values.get("mode") == "fast":
        values.setdefault("num_envs", FAST_ENVS)
        if isinstance(values["num_envs"], int):
            values.setdefault("batch_size", 512 * values["num_envs"])
    if isinstance(values.get("sweep"), dict):  # {"lr": [1e-4, 3e-4]} reads as (("lr", (1e-4, 3e-4)),)
        values["sweep"] = tuple(values["sweep"].items())
    return SubAgentConfig(**values)
