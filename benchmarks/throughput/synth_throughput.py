"""Throughput of ``hftjax.synth.generate`` against a per-row Python loop of the same model.

Run from the repo root:  python -m benchmarks.throughput.synth_throughput

The loop draws the same distributions row by row (regime switches as per-row Bernoulli trials,
the two log-vol factors, the price and the book as scalar recursions), which is what a direct
transcription of the model costs; it is timed on a small sample and compared in rows per second.
"""

from __future__ import annotations

import math
import time

import numpy as np

from benchmarks.common import record
from hftjax.data.table import MINUTE_MS, book_columns
from hftjax.synth import BOOK_LEVELS, SynthParams, generate
from hftjax.synth.prices import to_price

VECTOR_ROWS = 1_000_000
LOOP_ROWS = 20_000
REPEATS = 3


def loop_generate(rows: int, seed: int, p: SynthParams = SynthParams()) -> dict[str, np.ndarray]:
    """The synthetic market, one row at a time (the benchmark's baseline; not bit-identical)."""
    rng = np.random.default_rng(seed)
    cols = {k: np.empty(rows) for k in ("open", "high", "low", "close", "volume", *book_columns(BOOK_LEVELS))}
    prices = [k for k in cols if k in ("open", "high", "low", "close") or k.endswith("_price")]  # in ticks
    trend_mean = [p.trend_duration] * 3
    vol_mean = [p.calm_duration, p.volatile_duration]
    trend = int(rng.integers(3))
    vol = int(rng.random() < p.volatile_duration / (p.calm_duration + p.volatile_duration))
    slow = math.log(p.vol_ratio) * vol + p.sv_slow_std * rng.standard_normal()
    fast = p.sv_fast_std * rng.standard_normal()
    variance = p.sv_slow_std**2 + p.sv_fast_std**2
    log_move, open_ = 0.0, round(p.start_price / p.tick)
    t_scale = math.sqrt((p.tail_df - 2) / p.tail_df)
    for t in range(rows):
        if t:
            if rng.random() < 1 / trend_mean[trend]:
                trend = (trend + int(rng.integers(1, 3))) % 3
            if rng.random() < 1 / vol_mean[vol]:
                vol = 1 - vol
            level = math.log(p.vol_ratio) * vol
            slow = p.sv_slow_phi * slow + (1 - p.sv_slow_phi) * level \
                + p.sv_slow_std * math.sqrt(1 - p.sv_slow_phi**2) * rng.standard_normal()
            fast = p.sv_fast_phi * fast + p.sv_fast_std * math.sqrt(1 - p.sv_fast_phi**2) * rng.standard_normal()
        sigma = p.sigma_calm * math.exp(slow + fast - variance)
        z = rng.standard_t(p.tail_df) * t_scale
        log_move = (1 - p.price_reversion) * log_move + p.drift * (trend - 1) + sigma * z
        close = round(p.start_price * math.exp(log_move) / p.tick)
        b = math.log(close / open_)
        up = math.sqrt(b * b - 2 * sigma**2 * math.log1p(-rng.random()))
        down = math.sqrt(b * b - 2 * sigma**2 * math.log1p(-rng.random()))
        high = max(round(open_ * math.exp((b + up) / 2)), open_, close)
        low = max(min(round(open_ * math.exp((b - down) / 2)), open_, close), 1)
        for name, ticks in (("open", open_), ("high", high), ("low", low), ("close", close)):
            cols[name][t] = ticks
        stress = sigma / p.sigma_calm
        cols["volume"][t] = (p.volume_scale * stress**p.volume_beta * (1 + abs(z))**p.volume_shock
                             * math.exp(p.volume_noise * rng.standard_normal()))
        spread = int(rng.geometric(1 / (1 + p.spread_excess * stress)))
        bid = close - (spread + int(rng.integers(2))) // 2
        ask = bid + spread
        for i in range(1, BOOK_LEVELS + 1):
            for side, price in (("bid", bid), ("ask", ask)):
                cols[f"{side}{i}_price"][t] = price
                cols[f"{side}{i}_size"][t] = (p.depth_median * p.depth_growth ** (i - 1) * stress**-p.depth_beta
                                               * math.exp(p.depth_noise * rng.standard_normal()))
            bid -= int(rng.geometric(1 / (1 + p.gap_excess * stress)))
            ask += int(rng.geometric(1 / (1 + p.gap_excess * stress)))
        open_ = close
    cols.update({k: to_price(cols[k], p.tick) for k in prices})
    return {"timestamp": p.start + MINUTE_MS * np.arange(rows, dtype=np.int64), **cols}


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    generate(10_000, 0)  # warm-up: imports, allocator, caches
    vector_s = sorted(_seconds(lambda: generate(VECTOR_ROWS, 0)) for _ in range(REPEATS))[REPEATS // 2]
    loop_s = _seconds(lambda: loop_generate(LOOP_ROWS, 0))
    vector_rate, loop_rate = VECTOR_ROWS / vector_s, LOOP_ROWS / loop_s
    rows = [
        {"implementation": "generate (NumPy, vectorised)", "rows": VECTOR_ROWS, "seconds": vector_s,
         "rows_per_s": vector_rate, "ratio": vector_rate / loop_rate},
        {"implementation": "per-row Python loop", "rows": LOOP_ROWS, "seconds": loop_s,
         "rows_per_s": loop_rate, "ratio": 1.0},
    ]
    for row in rows:
        print(", ".join(f"{k} {v:,.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    print(f"wrote {record('synth_throughput', 'Synthetic market generation (hftjax.synth)', rows)}")


if __name__ == "__main__":
    main()
