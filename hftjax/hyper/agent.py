"""Hyper-agent training on one whole split as one long episode: the shared learner's
collect-then-learn, specialised.

Per step: mix the frozen sub-agents' Q-values with the hyper-agent's softmax weights, act
epsilon-greedily, compute the step's own target q = r + gamma (1 - done) max_a Q_mix(s', a)
with the online network, query-then-add the episodic memory, and store the transition with the
memory's q (so it goes stale, as in the reference). Every ``steps_per_iteration`` steps:
re-encode all memory keys once the memory is full, then ``updates_per_iteration`` updates of
TD (double DQN on Q_mix) + alpha_memory * MSE(Q_mix(s, a), q_memory) + beta * KL to the teacher.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from hftjax.env.core import Observation, accounts, observe_rows, start_state, transition, tree_select
from hftjax.env.market import MarketData
from hftjax.env.params import EnvParams, TradingSettings, split_params
from hftjax.hyper.config import HyperConfig
from hftjax.hyper.memory import memory_flush, memory_full, memory_init, memory_reencode, memory_step
from hftjax.hyper.network import HyperAgentNet, mix_q
from hftjax.learner.dqn import (HParams, LearnerState, Schedule, Transition, collect_then_learn, ddqn_loss,
                                epsilon, epsilon_greedy, hparams, init_learner)
from hftjax.learner.replay import replay_add
from hftjax.options import traced_leaves
from hftjax.subagent import AGENTS

EXPERTS = ("flat", "long")  # the constant experts ``constant_experts`` adds after the sub-agents


@dataclasses.dataclass(frozen=True)
class HyperSetup:
    """Static structure (hashable: part of the compiled program)."""
    cfg: HyperConfig        # its compiled part only (traced and host fields at their defaults)
    levels: int

    @property
    def members(self) -> tuple[str, ...]:
        """What the mixing weights weigh, in order."""
        return AGENTS + (EXPERTS if self.cfg.constant_experts else ())

    @property
    def net(self) -> HyperAgentNet:
        return HyperAgentNet(levels=self.levels, hidden=self.cfg.hidden, num_agents=len(self.members),
                             context=self.cfg.context)

    def env(self, market: MarketData, trading: TradingSettings) -> EnvParams:
        """The whole split as one episode."""
        return split_params(market, trading, self.levels)


def seed_hparams(cfg: HyperConfig) -> HParams:
    """(S,) hyper-parameters, one row per seed (the same values: a sweep would differ)."""
    return jax.tree.map(lambda x: jnp.tile(x, len(cfg.seeds)), hparams(traced_leaves(cfg)))


def with_experts(sub_q):
    """(N, A, K) sub-agent Q-values -> (N, A + 2, K), plus a constant flat and a constant long
    expert (``EXPERTS``). Each spans the sub-agents' own value range on that row: its preferred
    level at the highest Q any sub-agent gives there, the opposite end at the lowest, linear
    between. So the experts are on the sub-agents' scale on every market, and a weight of 1/2
    on one overrules sub-agents that all agree against it."""
    high = sub_q.max(axis=(1, 2))[:, None]
    low = sub_q.min(axis=(1, 2))[:, None]
    up = jnp.linspace(0.0, 1.0, sub_q.shape[-1])  # 0 at flat, 1 at the top level
    flat, long = high - (high - low) * up, low + (high - low) * up
    return jnp.concatenate([sub_q, flat[:, None], long[:, None]], axis=1)


def q_mix(setup: HyperSetup, params, obs: Observation, table, hard: bool = False):
    """(Q_mix (N, K), memory keys (N, 2H)) of observations; ``table`` is the frozen sub-agents'
    (T, K, A, K) Q table. ``hard``: the Q of the highest-weight member alone (hard routing)."""
    weights, keys = setup.net.apply(params, obs.single, obs.trend, obs.context, obs.prev_action)
    sub_q = table[obs.row, obs.prev_action]
    if setup.cfg.constant_experts:
        sub_q = with_experts(sub_q)
    if hard:
        weights = jax.nn.one_hot(jnp.argmax(weights, axis=-1), weights.shape[-1])
    return mix_q(weights, jnp.swapaxes(sub_q, 0, 1)), keys


def q_mix_grid(setup: HyperSetup, params, market: MarketData, rows, table, hard: bool = False):
    """(Q_mix (N, K, K), memory keys (N, K, 2H)) of ``rows`` (N,) from every previous action, in
    one batched call: while the params are fixed, steps gather from it instead of running the
    network at batch 1."""
    levels, n = table.shape[1], rows.shape[0]
    obs = observe_rows(market, jnp.repeat(rows, levels), jnp.tile(jnp.arange(levels, dtype=jnp.int32), n))
    q, keys = q_mix(setup, params, obs, table, hard)
    return q.reshape(n, levels, levels), keys.reshape(n, levels, -1)


def init_hyper(setup: HyperSetup, key, hp: HParams, market: MarketData) -> LearnerState:
    k_net, k_run = jax.random.split(key)
    c = setup.cfg
    params = setup.net.init(k_net, market.single[:1], market.trend[:1], market.context[:1], jnp.zeros((1,), jnp.int32))
    example = Transition(jnp.int32(0), jnp.int32(0), jnp.int32(0), jnp.float32(0), jnp.bool_(False), jnp.float32(0))
    return init_learner(params, hp, c.grad_clip, example, c.buffer_size, k_run,
                        memory=memory_init(c.memory_capacity, 2 * c.hidden))


def schedule(setup: HyperSetup, market: MarketData) -> Schedule:
    c = setup.cfg
    return Schedule(iterations=-(-(market.num_rows - 1) // c.steps_per_iteration),
                    steps_per_iteration=c.steps_per_iteration, updates_per_iteration=c.updates_per_iteration,
                    batch_size=c.batch_size, learning_starts=c.learning_starts, grad_clip=c.grad_clip)


def hyper_epoch(setup: HyperSetup, state: LearnerState, hp: HParams, table, market: MarketData,
                trading: TradingSettings):
    """One pass over the whole split from a random start level."""
    c, net, levels = setup.cfg, setup.net, setup.levels
    env = setup.env(market, trading)
    steps = market.num_rows - 1
    eps = epsilon(hp, state.epoch)
    key, k_start, k_run = jax.random.split(state.key, 3)
    envs = start_state(jnp.int32(0), jax.random.randint(k_start, (), 0, levels), env)

    def q_fn(params, obs):
        return q_mix(setup, params, obs, table)[0]

    def collect(params, first):
        # the params stay fixed while collecting, and the episode's step t is at row t: Q_mix and
        # the keys of this collection's rows and the next one's first
        rows = jnp.minimum(first + jnp.arange(c.steps_per_iteration + 1), market.num_rows - 1)
        q_all, keys_all = q_mix_grid(setup, params, market, rows, table)

        def one_step(carry, t):
            (envs, memory), replay, key = carry
            key, k_explore, k_action = jax.random.split(key, 3)
            active = t < steps
            here = jnp.clip(envs.row - first, 0, c.steps_per_iteration)
            q, keys = q_all[here, envs.prev_action][None], keys_all[here, envs.prev_action][None]
            action = epsilon_greedy(k_explore, k_action, q, eps, levels)[0]
            after, reward, done, _ = transition(envs, action, env)
            own_q = reward + hp.gamma * (1.0 - done) * q_all[jnp.minimum(here + 1, c.steps_per_iteration), action].max()
            if c.memory:
                q_memory, memory = memory_step(memory, keys[0], action, own_q, envs.row, envs.prev_action, k=c.top_k,
                                               active=active)
            else:
                q_memory = own_q
            item = Transition(envs.row, envs.prev_action, action, reward, done, q_memory)
            replay = replay_add(replay, jax.tree.map(lambda x: x[None], item), active[None])
            envs = tree_select(active, after, envs)
            return ((envs, memory), replay, key), {"reward": reward * active, "collected": active}
        return one_step

    def refresh(params, carry):
        """The reference re-encodes every key once the memory is full."""
        envs, memory = carry

        def encode(row, prev_action):
            obs = observe_rows(market, row, prev_action)
            return net.apply(params, obs.single, obs.trend, obs.prev_action, method=HyperAgentNet.encode)
        memory = memory_flush(memory)
        return envs, tree_select(memory_full(memory), memory_reencode(memory, encode), memory)

    def loss_fn(params, target, batch):
        loss, parts = ddqn_loss(params, target, q_fn, market, batch, hp, memory_term=c.memory)
        # a diagnostic, not a divergence (Q_mix is a convex mix, bounded whatever the params): the
        # share of updates whose batch has a state where some weight underflowed to 0
        obs = observe_rows(market, batch.row, batch.prev_action)
        weights, _ = net.apply(params, obs.single, obs.trend, obs.context, obs.prev_action)
        return loss, {**parts, "saturated": jnp.any(weights == 0).astype(jnp.float32)}

    (envs, memory), state, metrics = collect_then_learn(schedule(setup, market), loss_fn, hp, collect,
                                                        (envs, state.memory), state, k_run,
                                                        refresh=refresh if c.memory else None)
    metrics["train_return_rate"] = accounts(envs)["return_rate"]
    return state.replace(key=key, memory=memory), metrics
