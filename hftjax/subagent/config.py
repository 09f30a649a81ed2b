"""Sub-agent training configuration: static structure, per-member (traced) hyper-parameters and
host-loop options, each field's role declared with ``option`` (``hftjax.options``).

Defaults are the reference's (docs/method.md s.4). ``mode="faithful"`` runs one episode at a
time with 10 updates of batch 512 per 100 env steps; ``mode="fast"`` runs ``num_envs``
episodes in parallel and scales the update batch by the same factor, so each transition is
still sampled 51.2 times on average (the replay ratio) with far fewer sequential updates.

``flat_cost`` (a lever against sub-agents that learn to stay out, issue 20): each minute the
learning reward is charged ``flat_cost`` times the value of the unheld part of the top level, so
at 2e-6 a hundred flat minutes cost one trading fee (2e-4). 0 is the reference. It changes what is
learned only, never a score (``hftjax.learner.chunk_epoch``); the DQN baselines, which take these
options, learn under it too.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from hftjax.learner.config import LEARNER_RULES, LearnerConfig, traced_names
from hftjax.options import HOST, TRACED, check, option, read_options
from hftjax.subagent.network import DUELING_MEANS

AGENTS = ("slope_1", "slope_2", "slope_3", "vol_1", "vol_2", "vol_3")
REFERENCE_ALPHA = {"slope_1": 1.0, "slope_2": 4.0, "slope_3": 0.0, "vol_1": 4.0, "vol_2": 1.0, "vol_3": 1.0}
FAST_ENVS = 16
RULES = {
    **LEARNER_RULES,
    "mode": (lambda v: v in ("faithful", "fast"), "'faithful' or 'fast'"),
    "num_envs": (lambda v: v >= 1, "an integer >= 1"),
    "dueling_mean": (lambda v: v in DUELING_MEANS, f"one of {', '.join(DUELING_MEANS)}"),
    "alpha": (lambda v: v is None or v >= 0, "null (the reference's per-agent values) or a number >= 0"),
    "flat_cost": (lambda v: 0 <= v < 1, "a number in [0, 1) (per minute, of the unheld part of the top level)"),
    "agents": (lambda v: len(v) >= 1 and len(set(v)) == len(v) and set(v) <= set(AGENTS),
               f"a non-empty list of distinct agents from {', '.join(AGENTS)}"),
}


@dataclasses.dataclass(frozen=True)
class SubAgentConfig(LearnerConfig):
    mode: str = option("faithful")
    num_envs: int = option(1)                    # parallel episodes per member (fast mode: 16)
    dueling_mean: str = option("sample")         # "batch" reproduces the reference
    adapter: bool = option(True)                 # False: the paper's no-adapter ablation
    flat_cost: float = option(0.0)               # learning reward's per-minute charge on the unheld position
    alpha: float | None = option(None, TRACED, leaf="kl_weight")  # None: REFERENCE_ALPHA per agent
    epsilon_start: float = option(0.5, TRACED)
    epsilon_end: float = option(0.1, TRACED)
    epsilon_decay_epochs: float = option(5.0, TRACED)
    # population
    agents: tuple[str, ...] = option(AGENTS, HOST)
    sweep: tuple[tuple[str, tuple[float, ...]], ...] = option((), HOST)  # (("lr", (1e-4, 3e-4)), ...)

    def __post_init__(self):
        self.check(RULES)
        check("num_envs", self.num_envs, lambda v: self.mode == "fast" or v == 1, "1 unless mode=fast")
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


# the per-member hyper-parameters, in the order member keys fold them in
HPARAMS = traced_names(SubAgentConfig)


def load_config(path: str | Path | None = None, overrides: list[str] = (), **preset) -> SubAgentConfig:
    """Config from defaults, the fast-mode preset, a JSON/TOML file, then ``key=value`` overrides."""
    return SubAgentConfig(**with_mode_defaults(read_options(path, overrides, SubAgentConfig, preset)))


def with_mode_defaults(values: dict) -> dict:
    """Option values with fast mode's defaults filled in (``num_envs`` episodes and an update
    batch ``num_envs`` times larger), and a ``{"lr": [...]}`` sweep as pairs."""
    values = dict(values)
    if values.get("mode") == "fast":
        values.setdefault("num_envs", FAST_ENVS)
        if isinstance(values["num_envs"], int):
            values.setdefault("batch_size", 512 * values["num_envs"])
    if isinstance(values.get("sweep"), dict):  # {"lr": [1e-4, 3e-4]} reads as (("lr", (1e-4, 3e-4)),)
        values["sweep"] = tuple(values["sweep"].items())
    return values
