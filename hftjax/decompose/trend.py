"""Chunk trend: Butterworth low-pass, zero-phase (``filtfilt``), then the least-squares slope.

The whole map from prices to slope is linear, so for a fixed length n it is a fixed kernel k
with ``slope = k @ close``: one dot product per chunk, and a correlation for the rolling
``slope_360``. The kernel is built once per (n, cutoff) by running our own NumPy ``filtfilt``
(SciPy's default semantics: odd padding of 3 * max(len(a), len(b)) samples and steady-state
initial conditions) over the columns of the identity, and applying the fit weights to it.
SciPy is only used by the tests, as the independent oracle.
"""

from __future__ import annotations

import functools

import numpy as np

from hftjax.decompose.chunks import chunk_view
from hftjax.errors import ConfigError

BUTTER_CUTOFF = 0.05  # Wn, as a fraction of the Nyquist frequency
_BLOCK = 1024 # identity columns filtered at once while building a kernel


def butter1(cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of a 1st-order digital Butterworth low-pass (bilinear transform, pre-warped)."""
    if not 0.0 < cutoff < 1.0:
        raise ConfigError("butter_cutoff", f"must lie in (0, 1), got {cutoff}")
    k = np.tan(np.pi * cutoff / 2.0)
    return np.array([k, k]) / (1.0 + k), np.array([1.0, (k - 1.0) / (k + 1.0)])


def _lfilter1(b: np.ndarray, a: np.ndarray, x: np.ndarray, z0: np.ndarray) -> np.ndarray:
    """1st-order IIR filter along axis 0 (transposed direct form II), state starting at z0."""
    y = np.empty_like(x)
    z = z0
    for t in range(x.shape[0]):
        y[t] = b[0] * x[t] + z
        z = b[1] * x[t] - a[1] * y[t]
    return y


def filtfilt(x: np.ndarray, cutoff: float = BUTTER_CUTOFF) -> np.ndarray:
    """Zero-phase 1st-order Butterworth filter of ``x`` along axis 0 (SciPy ``filtfilt`` defaults)."""
    b, a = butter1(cutoff)
    pad = 3 * max(len(a), len(b))
    if x.shape[0] <= pad:
        raise ConfigError("chunk_len", f"filtfilt needs more than {pad} rows, got {x.shape[0]}")
    zi = (b[1] - a[1] * b[0]) / (1.0 + a[1])  # steady-state state for a unit step
    ext = np.concatenate([2 * x[:1] - x[pad:0:-1], x, 2 * x[-1:] - x[-2: -pad - 2: -1]])
    y = _lfilter1(b, a, ext, zi * ext[0])
    y = _lfilter1(b, a, y[::-1], zi * y[-1])[::-1]
    return y[pad:-pad]


def fit_weights(n: int) -> np.ndarray:
    """w with ``w @ y`` = least-squares slope of y against 0..n-1."""
    t = np.arange(n, dtype=np.float64)
    t -= t.mean()
    return t / (t @ t)


@functools.lru_cache(maxsize=16)
def slope_kernel(n: int, cutoff: float = BUTTER_CUTOFF) -> np.ndarray:
    """The fixed kernel k (length n) with ``k @ close`` = slope of the filtered close."""
    w = fit_weights(n)
    k = np.concatenate([w @ filtfilt(np.eye(n, min(_BLOCK, n - j), -j), cutoff)
                        for j in range(0, n, _BLOCK)])
    k.setflags(write=False)
    return k


def chunk_slopes(close: np.ndarray, chunk_len: int, cutoff: float = BUTTER_CUTOFF) -> np.ndarray:
    """Trend slope of each non-overlapping chunk: (n_chunks,)."""
    return chunk_view(np.asarray(close, np.float64), chunk_len) @ slope_kernel(chunk_len, cutoff)


def rolling_slope(close: np.ndarray, window: int, cutoff: float = BUTTER_CUTOFF) -> np.ndarray:
    """Slope over the trailing ``window`` rows ending at each row; NaN for the first window - 1 rows."""
    close = np.asarray(close, np.float64)
    out = np.full(close.shape, np.nan)
    if len(close) >= window:
        out[window - 1:] = np.correlate(close, slope_kernel(window, cutoff), mode="valid")
    return out
