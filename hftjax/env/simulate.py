"""Vectorised backtest of given action sequences: rewards plus the episode accounting."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from hftjax.env.accounting import position, return_rate, trade
from hftjax.env.market import price_change
from hftjax.env.params import LEVELS
from hftjax.errors import ConfigError


@jax.jit
def _simulate_one(close, change, actions, fee, max_holding, levels, initial_action):
    """One sequence: close, change (T,), actions (T-1,)."""
    pos = position(actions, levels, max_holding)
    pos0 = position(initial_action, levels, max_holding)
    prev = jnp.concatenate([pos0[None], pos[:-1]])
    rewards, cash = trade(prev, pos, close[:-1], change[:-1], fee)
    flows = jnp.concatenate([(-pos0 * close[0])[None], cash])  # initial holding booked, no fee
    required = -jnp.minimum(jnp.cumsum(flows).min(), 0.0)
    final = rewards.sum()  # = sum(flows) + pos[-1] * close[-1], without the cancellation
    return {"rewards": rewards, "final_balance": final, "required_money": required,
            "return_rate": return_rate(final, required)}


_simulate_batch = jax.jit(jax.vmap(_simulate_one, in_axes=(None, None, 0, None, None, None, None)))


def simulate(close, actions, *, fee: float, max_holding: float, levels: int = LEVELS,
             initial_action: int = 0) -> dict[str, jax.Array]:
    """Backtest ``actions`` ((T-1,) or (B, T-1) integers in [0, levels)) on ``close`` (T,).

    Returns per-step ``rewards`` and ``final_balance``, ``required_money``, ``return_rate``
    (batched along the first axis when ``actions`` is 2-D).
    """
    close = np.asarray(close, np.float64)
    actions = np.asarray(actions)
    if close.ndim != 1 or close.size < 2:
        raise ConfigError("close", f"must have shape (T,) with T >= 2, got {close.shape}")
    if actions.ndim not in (1, 2) or actions.shape[-1] != close.size - 1:
        raise ConfigError("actions", f"must have shape (T-1,) or (B, T-1) with T-1 = {close.size - 1}, "
                                     f"got {actions.shape}")
    if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= levels:
        raise ConfigError("actions", f"must be integers in [0, {levels})")
    run = _simulate_batch if actions.ndim == 2 else _simulate_one
    return run(jnp.asarray(close, jnp.float32), jnp.asarray(price_change(close), jnp.float32),
               jnp.asarray(actions, jnp.int32), jnp.float32(fee), jnp.float32(max_holding),
               jnp.int32(levels), jnp.int32(initial_action))
