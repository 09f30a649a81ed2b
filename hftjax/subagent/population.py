"""Population members (agent x seed x sweep) as stacked pytrees: one compile trains them all.

Label chunk sets differ in size, so each member's episode list is padded to a common length
with a count of valid entries (no Python branching per member).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hftjax.learner.dqn import HParams, LearnerState, Transition, hparams, init_learner
from hftjax.env.market import MarketData
from hftjax.errors import ConfigError
from hftjax.options import compiled_part
from hftjax.subagent.config import AGENTS, HPARAMS, SubAgentConfig
from hftjax.subagent.network import SubAgentNet


@struct.dataclass
class MemberSpec:
    train_starts: jax.Array  # (E,) int32 first rows of the member's training chunks (padded)
    num_train: jax.Array     # () int32
    valid_starts: jax.Array  # (V,) int32 first rows of same-label validation chunks (padded)
    num_valid: jax.Array     # () int32
    hp: HParams
    train_jitter: jax.Array  # (E,) int32 most rows an episode may start late (CDQNRP's windows; 0: none)


@dataclasses.dataclass(frozen=True)
class Setup:
    """Static structure shared by all members (hashable: part of the compiled program)."""
    cfg: SubAgentConfig      # its compiled part only (traced and host fields at their defaults)
    levels: int
    chunk_len: int
    max_train: int
    max_valid: int
    net: nn.Module           # the sub-agent network, or a baseline's

    def q_fn(self, params, obs):
        """Q (N, K) of observations (``hftjax.env.observe_rows``)."""
        return self.net.apply(params, obs.single, obs.trend, obs.prev_action)


def subagent_net(cfg: SubAgentConfig, levels: int) -> SubAgentNet:
    return SubAgentNet(levels=levels, hidden=cfg.hidden, dueling_mean=cfg.dueling_mean, adapter=cfg.adapter)


def _chunk_starts(labels: dict, agent: str) -> np.ndarray:
    indicator, label = agent.split("_")
    return np.asarray(labels[indicator]["chunks"][label], np.int64) * labels["chunk_len"]


def padded(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    width = max(1, max(len(v) for v in values))
    out = np.zeros((len(values), width), np.int32)
    for i, v in enumerate(values):
        out[i, : len(v)] = v
    return out, np.array([len(v) for v in values], np.int32), width


def member_hparams(members: list[dict]) -> HParams:
    """(M,) stacked hyper-parameters; a member's ``alpha`` is the learner's KL weight, and a
    member may set other learner leaves (the baselines' ``double``)."""
    leaf = {f.name: f.metadata["leaf"] or f.name for f in dataclasses.fields(SubAgentConfig) if f.name in HPARAMS}
    extra = [k for k in HParams.__dataclass_fields__ if k in members[0]]
    return hparams({**{leaf[k]: [m[k] for m in members] for k in HPARAMS}, **{k: [m[k] for m in members] for k in extra}})


def build_population(cfg: SubAgentConfig, levels: int, train_labels: dict,
                     valid_labels: dict) -> tuple[Setup, MemberSpec, list[dict]]:
    """The six agents (x seeds x sweep), each on the chunks of its label."""
    members = cfg.members
    train = [_chunk_starts(train_labels, m["agent"]) for m in members]
    valid = [_chunk_starts(valid_labels, m["agent"]) for m in members]
    setup, spec = population(cfg, levels, subagent_net(cfg, levels), members, train_labels, valid_labels, train, valid)
    return setup, spec, members


def population(cfg: SubAgentConfig, levels: int, net: nn.Module, members: list[dict], train_labels: dict,
               valid_labels: dict, train: list, valid: list, jitter: list | None = None) -> tuple[Setup, MemberSpec]:
    """Setup and stacked spec of ``members`` with their training and validation chunk starts
    (and per-chunk start jitter)."""
    if train_labels["chunk_len"] != valid_labels["chunk_len"]:
        raise ConfigError("chunk_len", "train and valid splits were prepared with different chunk lengths")
    for m, starts in zip(members, train):
        if len(starts) == 0:
            raise ConfigError("agents", f"{m['agent']} has no training chunk: prepare more data or a shorter chunk_len")
    train_starts, num_train, max_train = padded(train)
    valid_starts, num_valid, max_valid = padded(valid)
    train_jitter, _, _ = padded(jitter or [np.zeros(len(t), np.int64) for t in train])
    spec = MemberSpec(train_starts=jnp.asarray(train_starts), num_train=jnp.asarray(num_train),
                      valid_starts=jnp.asarray(valid_starts), num_valid=jnp.asarray(num_valid),
                      hp=member_hparams(members), train_jitter=jnp.asarray(train_jitter))
    return Setup(compiled_part(cfg), levels, train_labels["chunk_len"], max_train, max_valid, net), spec


def member_keys(members: list[dict], names: tuple[str, ...] = AGENTS, offset: int = 0) -> jax.Array:
    """Each member's stream depends on its seed, agent (its index in ``names``, plus
    ``offset``) and sweep values, not on its position."""
    keys = []
    for m in members:
        key = jax.random.fold_in(jax.random.key(m["seed"]), offset + names.index(m["agent"]))
        for name in HPARAMS:
            key = jax.random.fold_in(key, int(np.float32(m[name]).view(np.uint32)))
        keys.append(key)
    return jnp.stack(keys)


def init_member(setup: Setup, key: jax.Array, hp: HParams, market: MarketData) -> LearnerState:
    k_net, k_run = jax.random.split(key)
    params = setup.net.init(k_net, market.single[:1], market.trend[:1], jnp.zeros((1,), jnp.int32))
    example = Transition(row=jnp.int32(0), prev_action=jnp.int32(0), action=jnp.int32(0),
                         reward=jnp.float32(0), done=jnp.bool_(False))
    return init_learner(params, hp, setup.cfg.grad_clip, example, setup.cfg.buffer_size, k_run)
