"""Minute returns and the OHLC candles of the intra-minute path, on the tick grid.

Returns are ``drift * (trend - 1) + sigma_t * z_t`` with z standardised Student-t (fat tails;
sigma_t clusters), plus a weak pull ``-price_reversion * log(price / start_price)`` that keeps the
level near the start price over months without touching the days-long trends. Prices are
integer tick counts. The open is the previous close; inside the minute the log price is a
Brownian bridge from open to close with scale sigma_t, whose maximum and minimum are sampled
exactly (M = (b + sqrt(b^2 - 2 sigma^2 log U)) / 2 for a bridge from 0 to b), so
``low <= min(open, close) <= max(open, close) <= high`` by construction.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from hftjax.synth.params import SynthParams
from hftjax.synth.recurrence import ar1_filter


def standard_t(rng: np.random.Generator, rows: int, df: float) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(df, rows) * np.sqrt((df - 2.0) / df)


def log_returns(trend: np.ndarray, sigma: np.ndarray, z: np.ndarray, params: SynthParams) -> np.ndarray:
    return params.drift * (trend.astype(np.float64) - 1.0) + sigma * z


def to_price(ticks: np.ndarray, tick: float) -> np.ndarray:
    """Float prices of integer tick counts, rounded to the tick's decimals (2000.01, not 2000.0100000000002)."""
    decimals = max(0, -Decimal(repr(tick)).as_tuple().exponent)
    return np.round(ticks * tick, decimals)


def candle_ticks(rng: np.random.Generator, returns: np.ndarray, sigma: np.ndarray,
                 params: SynthParams) -> dict[str, np.ndarray]:
    """int64 tick counts of open, high, low, close for the minute log returns ``returns``."""
    log_move = ar1_filter(returns, 1.0 - params.price_reversion)  # log(close / start_price)
    close = np.rint(params.start_price * np.exp(log_move) / params.tick).astype(np.int64)
    open_ = np.concatenate([[np.rint(params.start_price / params.tick)], close[:-1]]).astype(np.int64)
    b = np.log(close / open_)  # the bridge joins the rounded open and close
    reach = np.sqrt(b**2 - 2.0 * sigma**2 * np.log1p(-rng.random((2, len(b)))))  # log U, U in (0, 1]
    high = np.rint(open_ * np.exp((b + reach[0]) / 2)).astype(np.int64)
    low = np.rint(open_ * np.exp((b - reach[1]) / 2)).astype(np.int64)
    # the maximum/minimum guard only exp's last-bit rounding; low stays at least one tick
    high = np.maximum(high, np.maximum(open_, close))
    low = np.maximum(np.minimum(low, np.minimum(open_, close)), 1)
    return {"open": open_, "high": high, "low": low, "close": close}
