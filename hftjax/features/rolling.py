"""Trailing-window statistics with pandas' semantics (window includes the current row, ddof=1).

Computed exactly (two-pass per window) on blocks of sliding windows: running sums of squares
would lose digits on price-scale series.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_BLOCK_ROWS = 1 << 15


def safe_divide(num: np.ndarray, den: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """num / den, with ``fill`` where den == 0."""
    num, den = np.broadcast_arrays(np.asarray(num, np.float64), np.asarray(den, np.float64))
    return np.divide(num, den, out=np.full(num.shape, fill), where=den != 0)


def rolling_mean_std(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean and sample std over ``window`` rows; NaN for the first window - 1 rows."""
    x = np.asarray(x, np.float64)
    mean, std = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    if len(x) < window:
        return mean, std
    windows = sliding_window_view(x, window)
    for start in range(0, len(windows), _BLOCK_ROWS):
        block = windows[start: start + _BLOCK_ROWS]
        rows = slice(window - 1 + start, window - 1 + start + len(block))
        mean[rows] = block.mean(axis=1)
        std[rows] = block.std(axis=1, ddof=1)
    return mean, std


def rolling_zscore(x: np.ndarray, window: int) -> np.ndarray:
    """(x - rolling_mean) / rolling_std; 0 where the window is constant (std = 0)."""
    mean, std = rolling_mean_std(x, window)
    z = safe_divide(np.asarray(x, np.float64) - mean, std)
    z[np.isnan(std)] = np.nan
    return z


def log_return(x: np.ndarray) -> np.ndarray:
    """log(x_t / x_{t-1}); NaN on the first row."""
    x = np.asarray(x, np.float64)
    out = np.full(x.shape, np.nan)
    out[1:] = np.log(x[1:] / x[:-1])
    return out
