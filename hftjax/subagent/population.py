"""Population members (agent x seed x sweep) as stacked pytrees: one compile trains them all.

Label chunk sets differ in size, so each member's episode list is padded to a common length
with a count of valid entries (no Python branching per member).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hftjax.env.market import MarketData
from hftjax.errors import ConfigError
from hftjax.replay import Replay, replay_init
from hftjax.subagent.config import AGENTS, HPARAMS, SubAgentConfig
from hftjax.rl import make_optimizer, set_learning_rate
from hftjax.subagent.learner import HParams, Transition
from hftjax.subagent.network import SubAgentNet


@struct.dataclass
class MemberSpec:
    train_starts: jax.Array  # (E,) int32 first rows of the member's training chunks (padded)
    num_train: jax.Array     # () int32
    valid_starts: jax.Array  # (V,) int32 first rows of same-label validation chunks (padded)
    num_valid: jax.Array     # () int32
    hp: HParams


@struct.dataclass
class MemberState:
    params: dict
    target_params: dict
    opt_state: tuple
    replay: Replay
    key: jax.Array
    epoch: jax.Array         # () int32 epochs completed
    best_params: dict
    best_score: jax.Array    # () float32 best validation mean return rate so far
    best_epoch: jax.Array    # () int32 (-1 before any validation)


@dataclasses.dataclass(frozen=True)
class Setup:
    """Static structure shared by all members (hashable: part of the compiled program)."""
    cfg: SubAgentConfig
    chunk_len: int
    max_train: int
    max_valid: int

    @property
    def net(self) -> SubAgentNet:
        return subagent_net(self.cfg)


def subagent_net(cfg: SubAgentConfig) -> SubAgentNet:
    return SubAgentNet(levels=cfg.levels, hidden=cfg.hidden, dueling_mean=cfg.dueling_mean, adapter=cfg.adapter)


def _chunk_starts(labels: dict, agent: str) -> np.ndarray:
    indicator, label = agent.split("_")
    return np.asarray(labels[indicator]["chunks"][label], np.int64) * labels["chunk_len"]


def _padded(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    width = max(1, max(len(v) for v in values))
    out = np.zeros((len(values), width), np.int32)
    for i, v in enumerate(values):
        out[i, : len(v)] = v
    return out, np.array([len(v) for v in values], np.int32), width


def build_population(cfg: SubAgentConfig, train_labels: dict, valid_labels: dict) -> tuple[Setup, MemberSpec, list[dict]]:
    members = cfg.members
    if train_labels["chunk_len"] != valid_labels["chunk_len"]:
        raise ConfigError("chunk_len", "train and valid splits were prepared with different chunk lengths")
    train = [_chunk_starts(train_labels, m["agent"]) for m in members]
    valid = [_chunk_starts(valid_labels, m["agent"]) for m in members]
    for m, starts in zip(members, train):
        if len(starts) == 0:
            raise ConfigError("agents", f"{m['agent']} has no training chunk: prepare more data or a shorter chunk_len")
    train_starts, num_train, max_train = _padded(train)
    valid_starts, num_valid, max_valid = _padded(valid)
    hp = HParams(**{k: jnp.asarray([m[k] for m in members], jnp.float32) for k in HPARAMS})
    spec = MemberSpec(train_starts=jnp.asarray(train_starts), num_train=jnp.asarray(num_train),
                      valid_starts=jnp.asarray(valid_starts), num_valid=jnp.asarray(num_valid), hp=hp)
    return Setup(structural(cfg), train_labels["chunk_len"], max_train, max_valid), spec, members


def structural(cfg: SubAgentConfig) -> SubAgentConfig:
    """The config with everything that is not compiled in (hyper-parameters, seeds, agents,
    epochs) set to fixed values, so that changing them reuses the compiled program."""
    host_only = [k for k in HPARAMS if k != "alpha"] + ["warn_loss_above"]
    return dataclasses.replace(cfg, epochs=1, agents=AGENTS[:1], seeds=(0,), sweep=(), alpha=None,
                               **{k: SubAgentConfig.__dataclass_fields__[k].default for k in host_only})


def member_keys(members: list[dict]) -> jax.Array:
    """Each member's stream depends on its seed, agent and sweep values, not on its position."""
    keys = []
    for m in members:
        key = jax.random.fold_in(jax.random.key(m["seed"]), AGENTS.index(m["agent"]))
        for name in HPARAMS:
            key = jax.random.fold_in(key, int(np.float32(m[name]).view(np.uint32)))
        keys.append(key)
    return jnp.stack(keys)


def init_member(setup: Setup, key: jax.Array, hp: HParams, market: MarketData) -> MemberState:
    k_net, k_run = jax.random.split(key)
    params = setup.net.init(k_net, market.single[:1], market.trend[:1], jnp.zeros((1,), jnp.int32))
    opt_state = set_learning_rate(make_optimizer(setup.cfg.grad_clip).init(params), hp.lr)
    example = Transition(row=jnp.int32(0), prev_action=jnp.int32(0), action=jnp.int32(0),
                         reward=jnp.float32(0), done=jnp.bool_(False))
    return MemberState(params=params, target_params=params, opt_state=opt_state,
                       replay=replay_init(example, setup.cfg.buffer_size), key=k_run,
                       epoch=jnp.int32(0), best_params=params, best_score=jnp.float32(-jnp.inf),
                       best_epoch=jnp.int32(-1))
