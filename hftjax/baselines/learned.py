"""The paper's Q-learning baselines (docs/method.md s.6; PPO is ``hftjax.baselines.ppo``), trained with the sub-agents' learner core,
host loop and budget, so the comparison is like for like:

- ``dqn``: a plain MLP Q-network (no adapter, no teacher), DQN target (the target network's
  own argmax), on every whole chunk of the training split, from a random start level;
- ``ddqn``: the same with the Double-DQN target (the online network's argmax);
- ``cdqnrp``: ``dqn`` with random perturbation: each episode window also starts up to
  ``window_jitter`` of a chunk late (never across a gap), besides the random start level.

Each keeps its best epoch by the mean validation return rate over every whole validation chunk,
from both start levels, as the sub-agents do. The learner settings (epochs, lr, gamma, tau,
epsilon schedule, batch, replay, updates) are the ``subagents`` section's, with the KL weight 0.
"""

from __future__ import annotations

import functools
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hftjax.baselines.config import BASELINES, DQN_FAMILY, SUBAGENT_STREAMS, BaselineConfig
from hftjax.env.config import EnvConfig
from hftjax.env.params import LEVELS
from hftjax.learner.config import LearnerConfig, traced_names
from hftjax.learner.layers import Linear
from hftjax.learner.population import PopulationTrainer, member_keys, population
from hftjax.sharding import Placement


class MLPQNet(nn.Module):
    """Q(s, .) from [single features, trend features, one-hot previous action] through two ReLU layers."""
    levels: int = LEVELS
    hidden: int = 64

    @nn.compact
    def __call__(self, single, trend, prev_action):
        x = jnp.concatenate([single, trend, jax.nn.one_hot(prev_action, self.levels)], axis=-1)
        x = nn.relu(Linear(self.hidden, name="hidden_1")(x))
        x = nn.relu(Linear(self.hidden, name="hidden_2")(x))
        return Linear(self.levels, name="q")(x)


def whole_chunks(labels: dict) -> np.ndarray:
    """Ids of the chunks that do not span a gap (every labelled chunk), in order."""
    return np.sort(np.concatenate([np.asarray(ids, np.int64) for ids in labels["slope"]["chunks"].values()]))


def build_baselines(cfg: BaselineConfig, learner: LearnerConfig, levels: int, train_labels: dict, valid_labels: dict):
    """(setup, spec, members) of the DQN-family algorithms x seeds: one population, one compile."""
    chunk_len = train_labels["chunk_len"]
    train_ids, valid_ids = whole_chunks(train_labels), whole_chunks(valid_labels)
    followed = np.isin(train_ids + 1, train_ids)  # a late window stays inside whole data
    late = int(cfg.window_jitter * chunk_len) * followed
    base = {k: getattr(learner, k) for k in traced_names(learner)}
    members, train, valid, jitter = [], [], [], []
    for algorithm in (a for a in cfg.algorithms if a in DQN_FAMILY):
        for seed in learner.seeds:
            # the sub-agents' options without their teacher-KL weight (alpha)
            members.append({"agent": algorithm, "seed": int(seed), **base, "alpha": 0.0,
                            "double": float(algorithm == "ddqn")})
            train.append(train_ids * chunk_len)
            valid.append(valid_ids * chunk_len)
            jitter.append(late if algorithm == "cdqnrp" else np.zeros_like(late))
    net = MLPQNet(levels=levels, hidden=cfg.hidden)
    setup, spec = population(learner, levels, net, members, train_labels, valid_labels, train, valid, jitter)
    return setup, spec, members


def baseline_keys(learner: LearnerConfig, members: list[dict]):
    return member_keys(members, BASELINES, traced_names(learner), offset=SUBAGENT_STREAMS)


def dqn_trainer(cfg: BaselineConfig, learner: LearnerConfig, env: EnvConfig, data_dir: str | Path,
                placement: Placement = Placement(), run_dir: str | Path | None = None) -> PopulationTrainer:
    return PopulationTrainer(env, data_dir, functools.partial(build_baselines, cfg, learner),
                             functools.partial(baseline_keys, learner), placement, run_dir)
