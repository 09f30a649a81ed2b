"""The hyper-agent's 2 context features: ``slope_360`` and ``vol_360``."""

from __future__ import annotations

import numpy as np

from hftjax.decompose.trend import rolling_slope
from hftjax.features.rolling import rolling_mean_std

CONTEXT_WINDOW = 360  # rows of the context features (6 hours)
CONTEXT = (f"slope_{CONTEXT_WINDOW}", f"vol_{CONTEXT_WINDOW}")


def context_features(close: np.ndarray, window: int = CONTEXT_WINDOW) -> dict[str, np.ndarray]:
    """Trailing trend slope of close (section 2's kernel) and sample std of simple close returns."""
    close = np.asarray(close, np.float64)
    returns = np.full(close.shape, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1.0
    _, vol = rolling_mean_std(returns, window)
    return {f"slope_{window}": rolling_slope(close, window), f"vol_{window}": vol}
