"""Trailing-return momentum, long/flat (a timing baseline of ``hftjax bench lab``).

At step t the strategy holds the top level (``max_holding``) when the trailing L-minute return
close_t / close_{t-L} - 1 is > 0, and is flat otherwise, and for t < L, where the series holds no
L-minute history: decided from closes up to t only, and filled at close_t like every env action
(``hftjax.baselines.macd``).
"""

from __future__ import annotations

import numpy as np

from hftjax.env.params import LEVELS
from hftjax.errors import ConfigError


def momentum_actions(close, lookback: int, *, levels: int = LEVELS) -> np.ndarray:
    """(T-1,) actions for the steps of ``close`` (T,): ``levels - 1`` while the trailing
    ``lookback``-step return is positive, else 0."""
    close = np.asarray(close, np.float64)
    if close.ndim != 1 or close.size < 2 or not np.all(np.isfinite(close)) or np.any(close <= 0):
        raise ConfigError("close", f"must be finite, > 0 and of shape (T,) with T >= 2, got shape {close.shape}")
    if lookback < 1:
        raise ConfigError("lookback", f"must be an integer >= 1, got {lookback}")
    steps = close.size - 1
    up = np.zeros(steps, bool)
    up[lookback:] = close[lookback:steps] > close[:max(steps - lookback, 0)]
    return np.where(up, levels - 1, 0).astype(np.int32)
