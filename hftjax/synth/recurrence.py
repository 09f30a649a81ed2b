"""The AR(1) recursion ``x[t] = phi * x[t-1] + u[t]`` (x[-1] = 0), vectorised.

A Python loop over a million rows would take about a second per series; instead the series is
cut into blocks of ``BLOCK`` rows. Inside a block the recursion is a product with the lower
triangular matrix ``phi**(i-j)``; the states at the block ends follow the same recursion with
``phi**BLOCK``, solved recursively on the (BLOCK times shorter) series of block ends.
Cost O(rows * BLOCK), all in NumPy float64.
"""

from __future__ import annotations

import numpy as np

BLOCK = 64


def ar1_filter(u: np.ndarray, phi: float) -> np.ndarray:
    """x with ``x[t] = phi * x[t-1] + u[t]``, ``x[0] = u[0]``."""
    u = np.asarray(u, np.float64)
    n = len(u)
    lags = np.arange(BLOCK)
    powers = phi ** lags
    within = np.tril(powers[np.subtract.outer(lags, lags).clip(0)])  # within[i, j] = phi**(i-j), i >= j
    if n <= BLOCK:
        return within[:n, :n] @ u
    blocks = np.zeros(-(-n // BLOCK) * BLOCK)
    blocks[:n] = u
    local = blocks.reshape(-1, BLOCK) @ within.T  # each block started from a zero state
    ends = ar1_filter(local[:, -1], phi ** BLOCK)  # true state at each block's last row
    x = local
    x[1:] += ends[:-1, None] * (phi * powers)[None, :]  # carry in phi**(i+1) * previous end state
    return x.reshape(-1)[:n]
