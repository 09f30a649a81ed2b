"""Frozen sub-agent Q-values for every row and previous action, computed once per split.

The sub-agents never change while the hyper-agent trains, so Q_i(s_t, p) is a table of shape
(T, K, A, K) [row, previous action, agent, action]; every hyper-agent step then gathers instead
of running six networks. Rows are evaluated one at a time in effect (per-sample dueling mean),
as the reference does when it acts with batch size 1.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from hftjax.env.market import MarketData
from hftjax.subagent import SubAgentNet

_BLOCK = 8192


@functools.partial(jax.jit, static_argnums=0)
def sub_q_table(net: SubAgentNet, stacked_params, market: MarketData) -> jax.Array:
    """(T, K, A, K) from the A sub-agents' stacked params."""
    rows = market.num_rows
    levels = net.levels
    pad = -rows % _BLOCK
    single = jnp.pad(market.single, ((0, pad), (0, 0))).reshape(-1, _BLOCK, market.single.shape[1])
    trend = jnp.pad(market.trend, ((0, pad), (0, 0))).reshape(-1, _BLOCK, market.trend.shape[1])

    def block(args):
        s, t = args
        per_prev = [jax.vmap(lambda p: net.apply(p, s, t, jnp.full(s.shape[0], prev, jnp.int32)))(stacked_params)
                    for prev in range(levels)]  # each (A, B, K)
        return jnp.stack(per_prev).transpose(2, 0, 1, 3)  # (B, K_prev, A, K)

    table = jax.lax.map(block, (single, trend))
    return table.reshape(-1, *table.shape[2:])[:rows]

