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

from hftjax.errors import ConfigError
from hftjax.options import read_options
from hftjax.subagent.network import DUELING_MEANS

AGENTS = ("slope_1", "slope_2", "slope_3", "vol_1", "vol_2", "vol_3")
REFERENCE_ALPHA = {"slope_1": 1.0, "slope_2": 4.0, "slope_3": 0.0, "vol_1": 4.0, "vol_2": 1.0, "vol_3": 1.0}
HPARAMS = ("lr", "gamma", "tau", "alpha", "epsilon_start", "epsilon_end", "epsilon_decay_epochs")
FAST_ENVS = 16


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
        checks = {
            "mode": self.mode in ("faithful", "fast"),
            "dueling_mean": self.dueling_mean in DUELING_MEANS,
            "levels": self.levels >= 2,
            "epochs": self.epochs >= 1,
            "num_envs": self.num_envs >= 1 and (self.mode == "fast" or self.num_envs == 1),
            "steps_per_iteration": self.steps_per_iteration >= 1,
            "updates_per_iteration": self.updates_per_iteration >= 0,
            "batch_size": self.batch_size >= 1,
            "buffer_size": self.buffer_size >= self.batch_size,
            "agents": bool(self.agents) and all(a in AGENTS for a in self.agents),
            "seeds": bool(self.seeds),
            "sweep": all(k in HPARAMS and len(v) >= 1 for k, v in self.sweep),
            "max_holding": self.max_holding > 0,
            "fee": self.fee >= 0,
        }
        for option, ok in checks.items():
            if not ok:
                raise ConfigError(option, f"invalid value {getattr(self, option)!r}")

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
        values.setdefault("batch_size", 512 * values["num_envs"])
    for key in ("agents", "seeds"):
        if key in values:
            values[key] = tuple(values[key])
    if "sweep" in values:
        sweep = values["sweep"]
        values["sweep"] = tuple((k, tuple(v)) for k, v in (sweep.items() if isinstance(sweep, dict) else sweep))
    return SubAgentConfig(**values)
