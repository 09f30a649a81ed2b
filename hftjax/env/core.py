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
from hftjax.env.market import MarketData
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
    """What an agent sees of state (row t, previous action); every field gets the leading
    shape of the rows it was gathered for, (N, ...) for a batch."""
    row: jax.Array          # () int32 market row t (keys tables precomputed per row)
    single: jax.Array       # (F_single,) float32
    trend: jax.Array        # (F_trend,) float32
    context: jax.Array      # (F_context,) float32
    prev_action: jax.Array  # () int32
    demo: jax.Array         # (K,) float32 teacher row Q[t, prev_action, :]


def tree_select(cond, on_true, on_false):
    """Leaf-wise ``jnp.where(cond, on_true, on_false)`` over two pytrees of the same structure."""
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), on_true, on_false)


def observe_rows(market: MarketData, rows, prev_action) -> Observation:
    """Observations of states (rows, prev_action), any leading shape: the networks, the replay
    (which stores row indices) and the memory re-encoding all observe through this."""
    return Observation(row=rows, single=market.single[rows], trend=market.trend[rows], context=market.context[rows],
                       prev_action=prev_action, demo=market.teacher[rows, prev_action])


def observe(state: EnvState, params: EnvParams) -> Observation:
    return observe_rows(params.market, state.row, state.prev_action)


def accounts(state: EnvState) -> dict[str, jax.Array]:
    required = -state.min_cash
    return {"final_balance": state.balance, "required_money": required,
            "return_rate": return_rate(state.balance, required)}


def start_state(episode: jax.Array, start_action: jax.Array, params: EnvParams) -> EnvState:
    """State at the first row of episode number ``episode``, holding level ``start_action``."""
    first = params.episode_starts[episode]
    start_action = jnp.asarray(start_action, jnp.int32)
    booked = -position(start_action, params.levels, params.max_holding) * params.market.close[first]
    return EnvState(row=first, last_row=first + params.episode_len - 1, prev_action=start_action,
                    cash=booked, min_cash=jnp.minimum(booked, 0.0), balance=jnp.zeros_like(booked))


def random_start_state(key: jax.Array, params: EnvParams) -> EnvState:
    """A uniformly drawn episode, from a random or the fixed start level.

    Both draws come from one 32-bit word, as the digits of a mixed-radix number (auto-reset
    evaluates this every step, so one hash instead of three matters); the pair is uniform up to a
    bias below episodes * levels / 2**32.
    """
    bits = jax.random.bits(key, (), jnp.uint32)
    levels = params.levels.astype(jnp.uint32)
    random_action = (bits % levels).astype(jnp.int32)
    episode = (bits // levels % params.num_episodes.astype(jnp.uint32)).astype(jnp.int32)
    return start_state(episode, jnp.where(params.random_start, random_action, params.start_action), params)


def reset_to(episode: jax.Array, start_action: jax.Array, params: EnvParams) -> tuple[Observation, EnvState]:
    """Start episode number ``episode`` holding level ``start_action``."""
    state = start_state(episode, start_action, params)
    return observe(state, params), state


def reset(key: jax.Array, params: EnvParams) -> tuple[Observation, EnvState]:
    state = random_start_state(key, params)
    return observe(state, params), state


def transition(state: EnvState, action: jax.Array, params: EnvParams):
    """(next state, reward, terminated, accounting) of one step at row t."""
    m, t = params.market, state.row
    action = jnp.asarray(action, jnp.int32)
    reward, cash_flow = trade(position(state.prev_action, params.levels, params.max_holding),
                              position(action, params.levels, params.max_holding),
                              m.close[t], m.price_change[t], params.fee)
    cash = state.cash + cash_flow
    state = EnvState(row=t + 1, last_row=state.last_row, prev_action=action, cash=cash,
                     min_cash=jnp.minimum(state.min_cash, cash), balance=state.balance + reward)
    return state, reward, state.row >= state.last_row, accounts(state)


def step_no_reset(state: EnvState, action: jax.Array, params: EnvParams):
    """One step without auto-reset: (obs, state, reward, terminated, info)."""
    state, reward, terminated, info = transition(state, action, params)
    return observe(state, params), state, reward, terminated, info


def step(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
    """(obs, state, reward, terminated, truncated, info), auto-resetting a finished episode.

    ``info`` holds the accounting of the episode so far (final once terminated) and
    ``final_observation``, the observation before any reset. The observation is gathered once,
    from the state after the reset choice (XLA drops ``final_observation`` if it is unused).
    """
    after, reward, terminated, info = transition(state, action, params)
    fresh = random_start_state(key, params)
    state = tree_select(terminated, fresh, after)
    info["final_observation"] = observe(after, params)
    return observe(state, params), state, reward, terminated, jnp.zeros_like(terminated), info
