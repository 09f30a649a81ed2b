"""Market arrays the env reads by row index; they live on device once, never per episode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class MarketData:
    single: jax.Array        # (T, F_single) float32 single-step features
    trend: jax.Array         # (T, F_trend) float32 trend features
    context: jax.Array       # (T, F_context) float32 hyper-agent context
    close: jax.Array         # (T,) float32
    price_change: jax.Array  # (T,) float32 close[t+1] - close[t] (taken in float64), 0 on the last row
    teacher: jax.Array       # (T, K, K) float32 Q-teacher, per episode (see hftjax.env.teacher)

    @property
    def num_rows(self) -> int:
        return self.close.shape[0]

    @property
    def levels(self) -> int:
        return self.teacher.shape[-1]


def price_change(close: np.ndarray) -> np.ndarray:
    """close[t+1] - close[t] in float64 (0 on the last row), before any float32 cast."""
    close = np.asarray(close, np.float64)
    return np.append(np.diff(close), 0.0)


def market_from_arrays(close, teacher, single=None, trend=None, context=None) -> MarketData:
    """MarketData from host arrays; absent feature blocks become zero-width."""
    close = np.asarray(close, np.float64)
    rows = len(close)
    block = lambda x: jnp.asarray(np.zeros((rows, 0)) if x is None else x, jnp.float32)  # noqa: E731
    return MarketData(single=block(single), trend=block(trend), context=block(context),
                      close=jnp.asarray(close, jnp.float32),
                      price_change=jnp.asarray(price_change(close), jnp.float32),
                      teacher=jnp.asarray(teacher, jnp.float32))
