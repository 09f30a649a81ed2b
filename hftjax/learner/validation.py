"""Greedy validation on every same-label validation chunk x both start positions, vmapped."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hftjax.env.core import accounts, observe_rows, start_state, transition
from hftjax.env.market import MarketData
from hftjax.env.params import TradingSettings
from hftjax.learner.chunk_epoch import chunk_params
from hftjax.learner.dqn import LearnerState
from hftjax.learner.members import MemberSpec, Setup


def greedy_return_rates(setup: Setup, params, starts, count, market: MarketData, trading: TradingSettings):
    """(2V,) return rates of the greedy policy on each chunk from start level 0 and from K-1,
    and the (2V,) mask of real (unpadded) episodes."""
    env = chunk_params(setup, market, trading, starts, count)
    index = jnp.tile(jnp.arange(starts.shape[0]), 2)
    start_action = jnp.repeat(jnp.array([0, setup.levels - 1], jnp.int32), starts.shape[0])
    states = jax.vmap(start_state, (0, 0, None))(index, start_action, env)

    def one_step(states, _):
        actions = jnp.argmax(setup.q_fn(params, observe_rows(market, states.row, states.prev_action)), axis=-1)
        states, _, _, _ = jax.vmap(transition, (0, 0, None))(states, actions.astype(jnp.int32), env)
        return states, None

    states, _ = jax.lax.scan(one_step, states, None, length=setup.chunk_len - 1)
    return jax.vmap(accounts)(states)["return_rate"], index < count


def validate(setup: Setup, state: LearnerState, spec: MemberSpec, market: MarketData, trading: TradingSettings):
    """Mean validation return rate (NaN when the label has no validation chunk) of ``state.params``
    over ``spec``'s validation chunks (any learner's state and spec with those fields)."""
    rates, mask = greedy_return_rates(setup, state.params, spec.valid_starts, spec.num_valid, market, trading)
    return jnp.sum(rates * mask) / jnp.sum(mask)
