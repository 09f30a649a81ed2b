"""Options of the learned baselines (the ``baselines`` section of a run config).

The DQN family (``dqn``, ``ddqn``, ``cdqnrp``) takes its learner settings (epochs, lr, gamma,
tau, epsilon schedule, batch, replay, updates) from the ``subagents`` section, so it learns
exactly as the sub-agents do; PPO has its own (the ``ppo_*`` options) and shares the epochs,
gamma, seeds and gradient clipping.
"""

from __future__ import annotations

import dataclasses

from hftjax.options import HOST, TRACED, check_fields, option
from hftjax.strategies import LEARNED as BASELINES

DQN_FAMILY = ("dqn", "ddqn", "cdqnrp")
SUBAGENT_STREAMS = 6  # member key streams 0-5 are the six sub-agents'; the baselines' follow them


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    algorithms: tuple[str, ...] = option(BASELINES, HOST)  # which to train ([] for none)
    hidden: int = option(64)                               # width of the MLPs' two hidden layers
    window_jitter: float = option(0.5, HOST)               # cdqnrp: windows start up to this share of a chunk late
    # PPO (PureJaxRL style): ppo_envs episodes side by side, ppo_rollout steps each per update
    ppo_envs: int = option(64)
    ppo_rollout: int = option(128)
    ppo_passes: float = option(1.0, HOST)        # env steps per epoch, in passes over the training split
    ppo_update_epochs: int = option(4)           # passes over each rollout batch
    ppo_minibatches: int = option(4)
    ppo_lr: float = option(2.5e-4, TRACED)
    ppo_gae_lambda: float = option(0.95, TRACED)
    ppo_clip: float = option(0.2, TRACED)        # policy ratio and value clipping
    ppo_entropy: float = option(0.01, TRACED)    # entropy bonus weight
    ppo_value: float = option(0.5, TRACED)       # value loss weight

    def __post_init__(self):
        positive_int = (lambda v: v >= 1, "an integer >= 1")
        check_fields(self, {
            "algorithms": (lambda v: len(set(v)) == len(v) and set(v) <= set(BASELINES),
                           f"a list of distinct names from {', '.join(BASELINES)}"),
            "hidden": positive_int,
            "window_jitter": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
            "ppo_envs": positive_int, "ppo_rollout": positive_int, "ppo_update_epochs": positive_int,
            "ppo_minibatches": (lambda v: v >= 1 and (self.ppo_envs * self.ppo_rollout) % v == 0,
                                "an integer >= 1 dividing ppo_envs * ppo_rollout"),
            "ppo_passes": (lambda v: v > 0, "a number > 0"),
            "ppo_lr": (lambda v: v > 0, "a number > 0"),
            "ppo_gae_lambda": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
            "ppo_clip": (lambda v: v > 0, "a number > 0"),
            "ppo_entropy": (lambda v: v >= 0, "a number >= 0"),
            "ppo_value": (lambda v: v > 0, "a number > 0"),
        })

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
