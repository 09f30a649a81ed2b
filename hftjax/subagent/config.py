"""Sub-agent training configuration: static structure, per-member (traced) hyper-parameters and
host-loop options, each field's role declared with ``option`` (``hftjax.options``).

Defaults are the reference's (MACROHFT.md s.4). ``mode="faithful"`` runs one episode at a
time with 10 updates of batch 512 per 100 env steps; ``mode="fast"`` runs ``num_envs``
episodes in parallel and scales the update batch by the same factor, so each transition is
still sampled 51.2 times on average (the replay ratio) with far fewer sequential updates.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from hftjax.options import COMMON_RULES, HOST, TRACED, check, check_fields, option, read_options, role
from hftjax.subagent.network import DUELING_MEANS

AGENTS = ("slope_1", "slope_2", "slope_3", "vol_1", "vol_2", "vol_3")
REFERENCE_ALPHA = {"slope_1": 1.0, "slope_2": 4.0, "slope_3": 0.0, "vol_1": 4.0, "vol_2": 1.0, "vol_3": 1.0}
FAST_ENVS = 16
RULES = {
    **COMMON_RULES,
    "mode": (lambda v: v in ("faithful", "fast"), "'faithful' or 'fast'"),
    "num_envs": (lambda v: v >= 1, "an integer >= 1"),
    "dueling_mean": (lambda v: v in DUELING_MEANS, f"one of {', '.join(DUELING_MEANS)}"),
    "alpha": (lambda v: v is None or v >= 0, "null (the reference's per-agent values) or a number >= 0"),
    "agents": (lambda v: len(v) >= 1 and len(set(v)) == len(v) and set(v) <= set(AGENTS),
               f"a non-empty list of distinct agents from {', '.join(AGENTS)}"),
}


@dataclasses.dataclass(frozen=True)
class SubAgentConfig:
    mode: str = option("faithful")
    epochs: int = option(15, HOST)
    num_envs: int = option(1)                    # parallel episodes per member (fast mode: 16)
    steps_per_iteration: int = option(100)       # env steps per episode slot between update bursts
    updates_per_iteration: int = option(10)
    batch_size: int = option(512)                # fast mode: 512 * num_envs
    buffer_size: int = option(1_000_000)
    learning_starts: int = option(513)           # updates start once more transitions than this are stored
    hidden: int = option(64)
    dueling_mean: str = option("sample")         # "batch" reproduces the reference
    adapter: bool = option(True)                 # False: the paper's no-adapter ablation
    grad_clip: float = option(1.0)
    warn_loss_above: float = option(1e6, HOST)   # a mean epoch loss above this warns (non-finite stops training)
    # per-member hyper-parameters (pytree leaves: one compile covers a sweep)
    lr: float = option(1e-4, TRACED)
    gamma: float = option(0.99, TRACED)
    tau: float = option(0.005, TRACED)
    alpha: float | None = option(None, TRACED, leaf="kl_weight")  # None: REFERENCE_ALPHA per agent
    epsilon_start: float = option(0.5, TRACED)
    epsilon_end: float = option(0.1, TRACED)
    epsilon_decay_epochs: float = option(5.0, TRACED)
    # population
    agents: tuple[str, ...] = option(AGENTS, HOST)
    seeds: tuple[int, ...] = option((0,), HOST)
    sweep: tuple[tuple[str, tuple[float, ...]], ...] = option((), HOST)  # (("lr", (1e-4, 3e-4)), ...)

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


# the per-member hyper-parameters, in the order member keys fold them in
HPARAMS = tuple(f.name for f in dataclasses.fields(SubAgentConfig) if role(f) == TRACED)


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
