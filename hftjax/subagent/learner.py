"""Double DQN with the KL-to-teacher term, on transitions stored as market row indices.

A transition is (row t, previous action, action, reward, done): states are gathered from the
device-resident market when sampled (s = row t, s' = row t + 1), so the replay buffer holds a
few bytes per step instead of two copies of every feature vector.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from hftjax.env.market import MarketData
from hftjax.rl import apply_gradients, kl_to_teacher, linear_epsilon, take, update_metrics


@struct.dataclass
class Transition:
    row: jax.Array          # () int32 market row t of the state
    prev_action: jax.Array  # () int32 level held coming into t
    action: jax.Array       # () int32
    reward: jax.Array       # () float32
    done: jax.Array         # () bool


@struct.dataclass
class HParams:
    """Per-member hyper-parameters: leaves, so one compile covers a sweep."""
    lr: jax.Array
    gamma: jax.Array
    tau: jax.Array
    alpha: jax.Array
    epsilon_start: jax.Array
    epsilon_end: jax.Array
    epsilon_decay_epochs: jax.Array


def epsilon(hp: HParams, epoch) -> jax.Array:
    return linear_epsilon(hp.epsilon_start, hp.epsilon_end, hp.epsilon_decay_epochs, epoch)


def q_values(net, params, market: MarketData, rows, prev_action):
    return net.apply(params, market.single[rows], market.trend[rows], prev_action)


def act(net, params, market: MarketData, key, rows, prev_action, eps, levels: int):
    """Epsilon-greedy actions for a batch of states."""
    greedy = jnp.argmax(q_values(net, params, market, rows, prev_action), axis=-1)
    k_explore, k_action = jax.random.split(key)
    explore = jax.random.uniform(k_explore, rows.shape) < eps
    return jnp.where(explore, jax.random.randint(k_action, rows.shape, 0, levels), greedy).astype(jnp.int32)


def loss_fn(params, target_params, net, market: MarketData, batch: Transition, hp: HParams):
    q = q_values(net, params, market, batch.row, batch.prev_action)
    q_taken = take(q, batch.action)
    next_rows = batch.row + 1
    best_next = jnp.argmax(q_values(net, params, market, next_rows, batch.action), axis=-1)
    q_next = q_values(net, target_params, market, next_rows, batch.action)
    q_next = take(q_next, best_next)
    target = jax.lax.stop_gradient(batch.reward + hp.gamma * (1.0 - batch.done) * q_next)
    td = jnp.mean((q_taken - target) ** 2)
    kl = kl_to_teacher(market.teacher[batch.row, batch.prev_action], q)
    return td + hp.alpha * kl, {"td": td, "kl": kl}


def update(net, optimizer, params, target_params, opt_state, market, batch, hp: HParams):
    """One gradient step, then the soft target update."""
    (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, target_params, net, market, batch, hp)
    params, target_params, opt_state = apply_gradients(optimizer, params, target_params, opt_state, grads, hp.tau)
    return params, target_params, opt_state, update_metrics(loss, parts, grads)
