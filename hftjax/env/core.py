"""The trading env as pure functions (gymnax conventions): ``reset``, ``reset_to``, ``step``.

Per-episode state is a few scalars; features, prices and the teacher are read from
``params.market`` by row index. Accounting is incremental: cumulative cash (the initial holding
booked as a purchase without fee), its running minimum (-required money) and the summed reward,
which equals the final balance (cash + marked position) without float32 cancellation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from hftjax.env.accounting import position, return_rate, trade
from hftjax.env.params import EnvParams


@struct.dataclass
class EnvState:
    row: jax.Array          # () int32 current market row t
    last_row: jax.Array     # () int32 final row of the episode
    prev_action: jax.Array  # () int32 level held coming into row t
    cash: jax.Array         # () float32 cumulative cash flow
    min_cash: jax.Array     # () float32 minimum of the cumulative cash flow
    balance: jax.Array      # () float32 summed reward = cash + marked position


@struct.dataclass
class Observation:
    single: jax.Array       # (F_single,) float32
    trend: jax.Array        # (F_trend,) float32
    context: jax.Array      # (F_context,) float32
    prev_action: jax.Array  # () int32
    demo: jax.Array         # (K,) float32 teacher row Q[t, prev_action, :]


def observe(state: EnvState, params: EnvParams) -> Observation:
    m, t = params.market, state.row
    return Observation(single=m.single[t], trend=m.trend[t], context=m.context[t],
                       prev_action=state.prev_action, demo=m.teacher[t, state.prev_action])


def accounts(state: EnvState) -> dict[str, jax.Array]:
    required = -state.min_cash
    return {"final_balance": state.balance, "required_money": required,
            "return_rate": return_rate(state.balance, required)}


def reset_to(episode: jax.Array, start_action: jax.Array, params: EnvParams) -> tuple[Observation, EnvState]:
    """Start episode number ``episode`` holding level ``start_action``."""
    first = params.episode_starts[episode]
    start_action = jnp.asarray(start_action, jnp.int32)
    booked = -position(start_action, params.levels, params.max_holding) * params.market.close[first]
    state = EnvState(row=first, last_row=first + params.episode_len - 1, prev_action=start_action,
                     cash=booked, min_cash=jnp.minimum(booked, 0.0), balance=jnp.zeros_like(booked))
    return observe(state, params), state


def reset(key: jax.Array, params: EnvParams) -> tuple[Observation, EnvState]:
    """A uniformly drawn episode, from a random or the fixed start level."""
    k_episode, k_action = jax.random.split(key)
    episode = jax.random.randint(k_episode, (), 0, params.num_episodes)
    random_action = jax.random.randint(k_action, (), 0, params.levels)
    return reset_to(episode, jnp.where(params.random_start, random_action, params.start_action), params)


def step_no_reset(state: EnvState, action: jax.Array, params: EnvParams):
    """One step without auto-reset: (obs, state, reward, terminated, info)."""
    m, t = params.market, state.row
    action = jnp.asarray(action, jnp.int32)
    reward, cash_flow = trade(position(state.prev_action, params.levels, params.max_holding),
                              position(action, params.levels, params.max_holding),
                              m.close[t], m.price_change[t], params.fee)
    cash = state.cash + cash_flow
    state = EnvState(row=t + 1, last_row=state.last_row, prev_action=action, cash=cash,
                     min_cash=jnp.minimum(state.min_cash, cash), balance=state.balance + reward)
    terminated = state.row >= state.last_row
    return observe(state, params), state, reward, terminated, accounts(state)


def step(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
    """(obs, state, reward, terminated, truncated, info), auto-resetting a finished episode.

    ``info`` holds the accounting of the episode so far (final once terminated) and
    ``final_observation``, the observation before any reset.
    """
    obs, state, reward, terminated, info = step_no_reset(state, action, params)
    reset_obs, reset_state = reset(key, params)
    pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(terminated, a, b), new, old)  # noqa: E731
    info["final_observation"] = obs
    return pick(reset_obs, obs), pick(reset_state, state), reward, terminated, jnp.zeros_like(terminated), info
