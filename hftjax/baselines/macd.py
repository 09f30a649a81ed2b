"""MACD crossover, long-only (the paper's rule baseline, docs/method.md s.6).

EMA_span(x)_t = a x_t + (1 - a) EMA_{t-1} with a = 2 / (span + 1) and EMA_0 = x_0 (pandas'
``ewm(span, adjust=False)``); MACD = EMA_fast(close) - EMA_slow(close); signal = EMA_signal(MACD).
At step t the strategy holds the top level (``max_holding``) when MACD_t > signal_t and is flat
otherwise: decided from closes up to t only, and filled at close_t like every env action.
Defaults are the textbook 12 / 26 / 9.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.env.params import LEVELS
from hftjax.errors import ConfigError

FAST, SLOW, SIGNAL = 12, 26, 9


def _ema(x: jax.Array, span: int) -> jax.Array:
    a = 2.0 / (span + 1.0)

    def step(prev, value):
        now = a * value + (1.0 - a) * prev
        return now, now

    return jax.lax.scan(step, x[0], x)[1]


@jax.jit
def _crossover(relative: jax.Array, fast: int, slow: int, signal: int) -> jax.Array:
    line = _ema(relative, fast) - _ema(relative, slow)
    return line > _ema(line, signal)


def macd_actions(close, *, fast: int = FAST, slow: int = SLOW, signal: int = SIGNAL,
                 levels: int = LEVELS) -> np.ndarray:
    """(T-1,) actions for the steps of ``close`` (T,): ``levels - 1`` while MACD is above its
    signal line, else 0. Prices are taken relative to the first close, so float32 keeps the
    crossovers of a price of thousands exact to ~1e-7 of its moves."""
    close = np.asarray(close, np.float64)
    if close.ndim != 1 or close.size < 2 or not np.all(np.isfinite(close)) or np.any(close <= 0):
        raise ConfigError("close", f"must be finite, > 0 and of shape (T,) with T >= 2, got shape {close.shape}")
    if not 1 <= fast < slow or signal < 1:
        raise ConfigError("macd", f"needs 1 <= fast < slow and signal >= 1, got {fast}/{slow}/{signal}")
    relative = jnp.asarray(close[:-1] / close[0] - 1.0, jnp.float32)
    long = np.asarray(_crossover(relative, fast, slow, signal))
    return np.where(long, levels - 1, 0).astype(np.int32)
