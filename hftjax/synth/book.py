"""The 5-level order book at each bar's close, built in integer ticks.

With s = sigma_t / sigma_calm, the spread and each gap between adjacent levels are geometric
numbers of ticks (at least 1) with means 1 + spread_excess * s and 1 + gap_excess * s, so the
book widens when volatile; the close sits at the middle of the spread (half a tick off when the
spread is odd, side random). Sizes are log-normal around
depth_median * depth_growth**(level - 1) * s**-depth_beta: thinner when volatile.
Gaps of at least one tick make bids strictly descending and asks strictly ascending.
"""

from __future__ import annotations

import numpy as np

from hftjax.data.table import BOOK_LEVELS, Table
from hftjax.synth.params import SynthParams
from hftjax.synth.prices import to_price


def book(rng: np.random.Generator, close_ticks: np.ndarray, sigma: np.ndarray, params: SynthParams) -> Table:
    """``bid{i}_price, bid{i}_size, ask{i}_price, ask{i}_size`` columns, i = 1..BOOK_LEVELS, in that order."""
    rows = len(close_ticks)
    stress = sigma / params.sigma_calm
    spread = rng.geometric(1.0 / (1.0 + params.spread_excess * stress))
    bid = close_ticks - (spread + rng.integers(0, 2, rows)) // 2
    ask = bid + spread
    # (side, level, row) draws: every column below is a contiguous row vector
    gaps = rng.geometric(1.0 / (1.0 + params.gap_excess * stress), (2, BOOK_LEVELS - 1, rows))
    thinning = stress ** -params.depth_beta
    noise = np.exp(params.depth_noise * rng.standard_normal((2, BOOK_LEVELS, rows), dtype=np.float32))
    columns = {}
    for i in range(BOOK_LEVELS):
        size = params.depth_median * params.depth_growth**i * thinning
        columns[f"bid{i + 1}_price"] = to_price(bid, params.tick)
        columns[f"bid{i + 1}_size"] = size * noise[0, i]
        columns[f"ask{i + 1}_price"] = to_price(ask, params.tick)
        columns[f"ask{i + 1}_size"] = size * noise[1, i]
        if i < BOOK_LEVELS - 1:
            bid, ask = bid - gaps[0, i], ask + gaps[1, i]
    return columns
