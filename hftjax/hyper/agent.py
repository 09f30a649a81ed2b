"""Hyper-agent training on one whole split as one long episode, entirely on device.

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
from flax import struct

from hftjax.env.core import accounts, start_state, transition
from hftjax.env.market import MarketData
from hftjax.env.params import EnvParams
from hftjax.hyper.config import HyperConfig
from hftjax.hyper.memory import Memory, memory_init, memory_reencode, memory_step
from hftjax.hyper.network import HyperAgentNet, mix_q
from hftjax.replay import Replay, replay_add, replay_init, replay_sample
from hftjax.rl import (apply_gradients, epoch_metrics, kl_to_teacher, linear_epsilon, make_optimizer,
                       set_learning_rate, take, tree_select, update_metrics)


@struct.dataclass
class HyperTransition:
    row: jax.Array
    prev_action: jax.Array
    action: jax.Array
    reward: jax.Array
    done: jax.Array
    q_memory: jax.Array


@struct.dataclass
class HyperState:
    params: dict
    target_params: dict
    opt_state: tuple
    replay: Replay
    memory: Memory
    key: jax.Array
    epoch: jax.Array
    best_params: dict
    best_score: jax.Array
    best_epoch: jax.Array


@dataclasses.dataclass(frozen=True)
class HyperSetup:
    cfg: HyperConfig
    levels: int
    fee: float
    max_holding: float

    @property
    def net(self) -> HyperAgentNet:
        return HyperAgentNet(levels=self.levels, hidden=self.cfg.hidden, context=self.cfg.context)

    def env(self, market: MarketData) -> EnvParams:
        """The whole split as one episode."""
        return EnvParams(market=market, episode_starts=jnp.zeros((1,), jnp.int32), num_episodes=jnp.int32(1),
                         episode_len=jnp.int32(market.num_rows), fee=jnp.float32(self.fee),
                         max_holding=jnp.float32(self.max_holding), levels=jnp.int32(self.levels),
                         random_start=jnp.bool_(True), start_action=jnp.int32(0))


def q_mix(setup: HyperSetup, params, market: MarketData, table, rows, prev):
    """(Q_mix (N, K), memory keys (N, 2H)) for states (rows, prev)."""
    weights, keys = setup.net.apply(params, market.single[rows], market.trend[rows], market.context[rows], prev)
    return mix_q(weights, jnp.swapaxes(table[rows, prev], 0, 1)), keys


def init_hyper(setup: HyperSetup, key, market: MarketData) -> HyperState:
    k_net, k_run = jax.random.split(key)
    c = setup.cfg
    params = setup.net.init(k_net, market.single[:1], market.trend[:1], market.context[:1], jnp.zeros((1,), jnp.int32))
    opt_state = set_learning_rate(make_optimizer(c.grad_clip).init(params), jnp.float32(c.lr))
    example = HyperTransition(jnp.int32(0), jnp.int32(0), jnp.int32(0), jnp.float32(0), jnp.bool_(False), jnp.float32(0))
    return HyperState(params=params, target_params=params, opt_state=opt_state,
                      replay=replay_init(example, c.buffer_size), memory=memory_init(c.memory_capacity, 2 * c.hidden),
                      key=k_run, epoch=jnp.int32(0), best_params=params, best_score=jnp.float32(-jnp.inf),
                      best_epoch=jnp.int32(-1))


def hyper_loss(params, target_params, setup: HyperSetup, market, table, batch: HyperTransition):
    c = setup.cfg
    q, _ = q_mix(setup, params, market, table, batch.row, batch.prev_action)
    q_taken = take(q, batch.action)
    next_rows = batch.row + 1
    best_next = jnp.argmax(q_mix(setup, params, market, table, next_rows, batch.action)[0], axis=-1)
    q_next = take(q_mix(setup, target_params, market, table, next_rows, batch.action)[0], best_next)
    target = jax.lax.stop_gradient(batch.reward + c.gamma * (1.0 - batch.done) * q_next)
    td = jnp.mean((q_taken - target) ** 2)
    memory = jnp.mean((q_taken - batch.q_memory) ** 2) if c.memory else jnp.float32(0)
    kl = kl_to_teacher(market.teacher[batch.row, batch.prev_action], q)
    return td + c.alpha_memory * memory + c.beta * kl, {"td": td, "memory": memory, "kl": kl}


def hyper_epoch(setup: HyperSetup, state: HyperState, table, market: MarketData):
    """One pass over the whole split from a random start level."""
    c, net = setup.cfg, setup.net
    optimizer = make_optimizer(c.grad_clip)
    env = setup.env(market)
    steps = market.num_rows - 1
    iterations = -(-steps // c.steps_per_iteration)
    eps = linear_epsilon(c.epsilon_start, c.epsilon_end, c.epsilon_decay_epochs, state.epoch)
    key, k_start, k_run = jax.random.split(state.key, 3)
    envs = start_state(jnp.int32(0), jax.random.randint(k_start, (), 0, setup.levels), env)

    def collect(params):
        def one_step(carry, t):
            envs, memory, replay, key = carry
            key, k_explore, k_action = jax.random.split(key, 3)
            active = t < steps
            q, keys = q_mix(setup, params, market, table, envs.row[None], envs.prev_action[None])
            action = jnp.where(jax.random.uniform(k_explore) < eps,
                               jax.random.randint(k_action, (), 0, setup.levels), jnp.argmax(q[0])).astype(jnp.int32)
            after, reward, done, _ = transition(envs, action, env)
            q_next, _ = q_mix(setup, params, market, table, after.row[None], action[None])
            own_q = reward + c.gamma * (1.0 - done) * q_next[0].max()
            if c.memory:
                q_memory, stepped = memory_step(memory, keys[0], action, own_q, envs.row, envs.prev_action, k=c.top_k)
                memory = tree_select(active, stepped, memory)
            else:
                q_memory = own_q
            item = HyperTransition(envs.row, envs.prev_action, action, reward, done, q_memory)
            replay = replay_add(replay, jax.tree.map(lambda x: x[None], item), active[None])
            envs = tree_select(active, after, envs)
            return (envs, memory, replay, key), reward * active
        return one_step

    def iteration(carry, it):
        envs, memory, replay, params, target, opt_state, key = carry
        (envs, memory, replay, key), rewards = jax.lax.scan(
            collect(params), (envs, memory, replay, key), it * c.steps_per_iteration + jnp.arange(c.steps_per_iteration))
        if c.memory:  # the reference re-encodes every key once the memory is full
            fresh = net.apply(params, market.single[memory.row], market.trend[memory.row], memory.prev_action,
                              method=HyperAgentNet.encode)
            memory = tree_select(memory.count == memory.capacity, memory_reencode(memory, fresh), memory)
        key, k_updates = jax.random.split(key)

        def learn(x):
            def one_update(carry, k):
                p, tp, os = carry
                batch = replay_sample(replay, k, c.batch_size)
                (loss, parts), grads = jax.value_and_grad(hyper_loss, has_aux=True)(p, tp, setup, market, table, batch)
                p, tp, os = apply_gradients(optimizer, p, tp, os, grads, c.tau)
                return (p, tp, os), update_metrics(loss, parts, grads)
            carry, metrics = jax.lax.scan(one_update, x, jax.random.split(k_updates, c.updates_per_iteration))
            return carry, jax.tree.map(jnp.sum, metrics)

        def skip(x):
            return x, {k: jnp.float32(0) for k in ("loss", "td", "memory", "kl", "grad_norm", "nonfinite")}

        ready = replay.count > c.learning_starts
        (params, target, opt_state), metrics = jax.lax.cond(ready, learn, skip, (params, target, opt_state))
        metrics["updates"] = ready * c.updates_per_iteration
        return (envs, memory, replay, params, target, opt_state, key), {"reward": rewards.sum(), **metrics}

    carry = (envs, state.memory, state.replay, state.params, state.target_params, state.opt_state, k_run)
    (envs, memory, replay, params, target, opt_state, _), per_it = jax.lax.scan(iteration, carry, jnp.arange(iterations))
    totals = jax.tree.map(jnp.sum, per_it)
    metrics = {"train_reward": totals["reward"], "train_return_rate": accounts(envs)["return_rate"],
               "epsilon": eps, **epoch_metrics(totals, ("loss", "td", "memory", "kl"))}
    state = state.replace(params=params, target_params=target, opt_state=opt_state, replay=replay, memory=memory,
                          key=key, epoch=state.epoch + 1)
    return state, metrics


def greedy_rollout(setup: HyperSetup, policy, market: MarketData, start_action: int = 0):
    """Greedy run over the whole split: policy(rows (1,), prev (1,)) -> Q (1, K).
    Returns (actions (T-1,), rewards (T-1,), final accounting)."""
    env = setup.env(market)
    state = start_state(jnp.int32(0), jnp.int32(start_action), env)

    def one_step(state, _):
        action = jnp.argmax(policy(state.row[None], state.prev_action[None])[0]).astype(jnp.int32)
        state, reward, _, _ = transition(state, action, env)
        return state, (action, reward)

    state, (actions, rewards) = jax.lax.scan(one_step, state, None, length=market.num_rows - 1)
    return actions, rewards, accounts(state)
