"""The paper's learned baselines (MACROHFT.md s.6), trained with the sub-agents' learner core,
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

import dataclasses
import functools
import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hftjax.checkpoint import restore_best
from hftjax.env.config import EnvConfig
from hftjax.nn import Linear
from hftjax.options import HOST, check_fields, option
from hftjax.subagent.config import AGENTS, HPARAMS, SubAgentConfig
from hftjax.subagent.population import member_keys, population
from hftjax.subagent.run import PopulationTrainer, train_population

BASELINES = ("dqn", "ddqn", "cdqnrp")


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    algorithms: tuple[str, ...] = option(BASELINES, HOST)  # which to train ([] for none)
    hidden: int = option(64)                               # width of the MLP's two hidden layers
    window_jitter: float = option(0.5, HOST)               # cdqnrp: windows start up to this share of a chunk late

    def __post_init__(self):
        check_fields(self, {
            "algorithms": (lambda v: len(set(v)) == len(v) and set(v) <= set(BASELINES),
                           f"a list of distinct names from {', '.join(BASELINES)}"),
            "hidden": (lambda v: v >= 1, "an integer >= 1"),
            "window_jitter": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
        })

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class MLPQNet(nn.Module):
    """Q(s, .) from [single features, trend features, one-hot previous action] through two ReLU layers."""
    levels: int = 2
    hidden: int = 64

    @nn.compact
    def __call__(self, single, trend, prev_action):
        x = jnp.concatenate([single, trend, jax.nn.one_hot(prev_action, self.levels)], axis=-1)
        x = nn.relu(Linear(self.hidden, name="hidden_1")(x))
        x = nn.relu(Linear(self.hidden, name="hidden_2")(x))
        return Linear(self.levels, name="q")(x)


def _whole_chunks(labels: dict) -> np.ndarray:
    """Ids of the chunks that do not span a gap (every labelled chunk), in order."""
    return np.sort(np.concatenate([np.asarray(ids, np.int64) for ids in labels["slope"]["chunks"].values()]))


def build_baselines(cfg: BaselineConfig, learner: SubAgentConfig, levels: int, train_labels: dict, valid_labels: dict):
    """(setup, spec, members) of algorithms x seeds: one population, one compile."""
    chunk_len = train_labels["chunk_len"]
    train_ids, valid_ids = _whole_chunks(train_labels), _whole_chunks(valid_labels)
    followed = np.isin(train_ids + 1, train_ids)  # a late window stays inside whole data
    late = int(cfg.window_jitter * chunk_len) * followed
    base = {k: getattr(learner, k) for k in HPARAMS}
    members, train, valid, jitter = [], [], [], []
    for algorithm in cfg.algorithms:
        for seed in learner.seeds:
            members.append({"agent": algorithm, "seed": int(seed), **base, "alpha": 0.0,
                            "double": float(algorithm == "ddqn")})
            train.append(train_ids * chunk_len)
            valid.append(valid_ids * chunk_len)
            jitter.append(late if algorithm == "cdqnrp" else np.zeros_like(late))
    net = MLPQNet(levels=levels, hidden=cfg.hidden)
    setup, spec = population(learner, levels, net, members, train_labels, valid_labels, train, valid, jitter)
    return setup, spec, members


def baseline_keys(members: list[dict]):
    return member_keys(members, BASELINES, offset=len(AGENTS))


def train_baselines(cfg: BaselineConfig, learner: SubAgentConfig, data_dir: str | Path, run_dir: str | Path, *,
                    env: EnvConfig = EnvConfig(), progress: bool = True):
    """Train (or resume) the learned baselines into ``run_dir`` (``baselines_*`` files)."""
    def trainer():
        return PopulationTrainer(env, data_dir, functools.partial(build_baselines, cfg, learner), baseline_keys)
    return train_population("baselines", "baseline", trainer, {"baselines": cfg.to_json(), "learner": learner.to_json()},
                            [{"agent": a, "seed": s} for a in cfg.algorithms for s in learner.seeds], learner, env,
                            data_dir, run_dir, progress=progress)


def load_baselines(run_dir: str | Path):
    """(MLP network, members, best params stacked over members) of a run's trained baselines,
    or None when the run has none."""
    run_dir = Path(run_dir)
    if not (run_dir / "baselines.json").exists():
        return None
    meta = json.loads((run_dir / "baselines.json").read_text())
    best = restore_best(run_dir / "baselines_best", f"hftjax train-baselines DATA_DIR --out {run_dir}")
    cfg = BaselineConfig(**meta["config"]["baselines"])
    net = MLPQNet(levels=EnvConfig(**meta["env"]).levels, hidden=cfg.hidden)
    return net, meta["members"], best["best_params"]
