"""Trade arithmetic shared by the env step, ``simulate`` and the Q-teacher (docs/method.md s.3).

A step at row t fills at close_t and marks at close_{t+1}; ``price_change`` is
close_{t+1} - close_t, taken in float64 on the host when possible so float32 rewards keep their
digits. Cash flows are negative for buys, positive for sells.
"""

from __future__ import annotations

import jax.numpy as jnp


def position(action, levels, max_holding):
    """Target position of an action in [0, levels): max_holding * a / (levels - 1) coins."""
    return max_holding * action / (levels - 1)


def trade(pos_old, pos_new, close, price_change, fee):
    """(reward, cash flow) of moving from ``pos_old`` to ``pos_new`` at ``close``."""
    traded = jnp.abs(pos_new - pos_old)
    cost = fee * close * traded
    reward = pos_new * price_change - cost
    cash_flow = -(pos_new - pos_old) * close - cost
    return reward, cash_flow


def return_rate(final_balance, required_money):
    """final_balance / required_money, and 0 when no money was ever required (never held)."""
    safe = jnp.where(required_money > 0, required_money, 1.0)
    return jnp.where(required_money > 0, final_balance / safe, 0.0)
