"""Calibration of the ``hftjax.synth`` defaults: real Binance minute statistics next to the synthetic market.

Usage (from the repo root):  python data_prep/synth_calibration.py [--rows N] [--seed S] [--data DIR]

Reads the Binance spot ETH/BTC/DOT/LTC 1-minute files of ``../shared/data`` (files whose volume is
null are skipped), splits each at its gaps so that no return or chunk spans missing minutes, and
writes ``docs/synthetic_calibration.md``. Exits 0 with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hftjax.data.table import MINUTE_MS, Table, num_rows, take
from hftjax.decompose import QUANTILES, chunk_slopes, chunk_view, chunk_volatility
from hftjax.io import atomic_path
from hftjax.prepare import CHUNK_LEN
from hftjax.synth import BOOK_LEVELS, TREND_NAMES, VOL_NAMES, SynthMarket, SynthParams, generate

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DOC = REPO / "docs" / "synthetic_calibration.md"
MARKETS = ("ETH", "BTC", "DOT", "LTC")
MONTH = 43_200  # rows in 30 days, the typical length of a real file
LAGS = (1, 10, 60)
EDGES = QUANTILES[1:-1]  # the label edges 5/35/65/95 %


def read_segments(path: Path) -> list[Table] | None:
    """Gap-free runs of a file's high, low, close and volume; None when its volume is null."""
    table = pq.read_table(path)
    if table.column("volume").null_count:
        return None
    ts = table.column("timestamp").cast("int64").to_numpy()
    cols = {k: table.column(k).to_numpy() for k in ("high", "low", "close", "volume")}
    cuts = np.flatnonzero(np.diff(ts) != MINUTE_MS) + 1
    return [take(cols, slice(a, b)) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(ts)]) if b - a > 1]


def _kurtosis(x: np.ndarray) -> float:
    """Excess kurtosis (biased moments, like scipy.stats.kurtosis)."""
    return np.mean((x - x.mean()) ** 4) / x.var() ** 2 - 3.0


def statistics(segments: list[Table]) -> dict:
    """Minute and chunk statistics of gap-free segments; returns and chunks never cross segments.

    std and ``kurt`` pool all returns; ``seg_kurt`` is the median kurtosis of the segments of at
    least a chunk; the |r| autocorrelation centres each segment on its own mean, so level
    differences between far-apart files do not count as clustering.
    """
    r = [np.diff(np.log(s["close"])) for s in segments]
    flat = np.concatenate(r)
    stats = {"rows": sum(len(s["close"]) for s in segments), "std": flat.std(), "kurt": _kurtosis(flat),
             "seg_kurt": np.median([_kurtosis(x) for x in r if len(x) >= CHUNK_LEN])}
    centred = [np.abs(x) - np.abs(x).mean() for x in r]
    for lag in LAGS:
        stats[f"acf{lag}"] = sum(c[lag:] @ c[:-lag] for c in centred) / sum(c @ c for c in centred)
    stats["range"] = np.concatenate([np.log(s["high"] / s["low"])[1:] for s in segments]).mean() / stats["std"]
    volume = np.concatenate([s["volume"][1:] for s in segments])
    traded = volume > 0  # the log volume of zero-volume minutes is undefined
    stats["vol_corr"] = np.corrcoef(np.log(volume[traded]), np.abs(flat)[traded])[0, 1]
    long = [s["close"] for s in segments if len(s["close"]) >= CHUNK_LEN]
    slopes = np.concatenate([chunk_slopes(c, CHUNK_LEN) for c in long])
    means = np.concatenate([chunk_view(c, CHUNK_LEN).mean(1) for c in long])
    stats["chunks"] = len(slopes)
    stats["chunk_vol"] = np.quantile(np.concatenate([chunk_volatility(c, CHUNK_LEN) for c in long]), EDGES)
    stats["rel_slope"] = np.quantile(slopes / means, EDGES)
    stats["slope"] = np.quantile(slopes, EDGES)
    return stats


def real_statistics(data: Path) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Statistics per market (its files pooled) and over the four markets, and the files used."""
    segments, files = {}, {}
    for market in MARKETS:
        for path in sorted(data.glob(f"binance_{market}USDT_1m_*.parquet")):
            found = read_segments(path)
            if found is None:
                print(f"skipping {path.name}: volume is null")
                continue
            segments.setdefault(market, []).extend(found)
            files.setdefault(market, []).append(path.name)
    stats = {m: statistics(s) for m, s in segments.items()}
    stats["pooled"] = statistics([s for found in segments.values() for s in found])
    return stats, files


def synthetic_segments(table: Table) -> list[Table]:
    """The synthetic series cut into 30-day segments, like the real files."""
    return [take(table, slice(a, a + MONTH)) for a in range(0, num_rows(table), MONTH)]


def _quantiles(values, scale: float) -> str:
    return " / ".join(f"{v * scale:.2f}" for v in values)


def minute_table(stats: dict[str, dict]) -> str:
    head = ["| market | rows | std | excess kurtosis, pooled | excess kurtosis, segment median | "
            "ACF abs(r) lag 1 | lag 10 | lag 60 | mean log(H/L) / std | corr(log volume, abs(r)) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    return "\n".join(head + [
        f"| {name} | {s['rows']:,} | {s['std']:.5f} | {s['kurt']:.1f} | {s['seg_kurt']:.1f} | "
        + " | ".join(f"{s[f'acf{lag}']:.3f}" for lag in LAGS) + f" | {s['range']:.2f} | {s['vol_corr']:.2f} |"
        for name, s in stats.items()])


def chunk_table(stats: dict[str, dict], price_units: set[str]) -> str:
    head = ["| market | chunks | volatility (1e-4) | slope / chunk mean price (1e-5 per min) | "
            "slope (USDT per min) |", "|---|---:|---|---|---|"]
    return "\n".join(head + [
        f"| {name} | {s['chunks']} | {_quantiles(s['chunk_vol'], 1e4)} | {_quantiles(s['rel_slope'], 1e5)} | "
        + (_quantiles(s["slope"], 1.0) if name in price_units else "") + " |"
        for name, s in stats.items()])


def regime_table(market: SynthMarket) -> str:
    """What the hidden regimes do to returns, volume and the book."""
    t = market.table
    r = np.r_[0.0, np.diff(np.log(t["close"]))]
    spread = (t["ask1_price"] - t["bid1_price"]) / SynthParams().tick
    depth = sum(t[f"{side}{i}_size"] for side in ("bid", "ask") for i in range(1, BOOK_LEVELS + 1))
    masks = [(f"trend {n}", market.trend == k) for k, n in enumerate(TREND_NAMES)]
    masks += [(f"vol {n}", market.vol == k) for k, n in enumerate(VOL_NAMES)]
    head = ["| regime | share of rows | mean return (1e-5) | return std | median volume | "
            "mean spread (ticks) | median 5-level depth, both sides |", "|---|---:|---:|---:|---:|---:|---:|"]
    return "\n".join(head + [
        f"| {name} | {m.mean():.2f} | {r[m].mean() * 1e5:+.2f} | {r[m].std():.5f} | "
        f"{np.median(t['volume'][m]):.0f} | {spread[m].mean():.2f} | {np.median(depth[m]):.0f} |"
        for name, m in masks])


def parameter_table() -> str:
    head = ["| parameter | default | meaning |", "|---|---|---|"]
    rows = [f"| `{f.name}` | {f.default if isinstance(f.default, int) else f'{f.default:.6g}'} | "
            + f.metadata["doc"].replace("|", "\\|") + " |" for f in dataclasses.fields(SynthParams)]
    return "\n".join(head + rows)


def render(real: dict[str, dict], files: dict[str, list[str]], market: SynthMarket, seed: int) -> str:
    rows = num_rows(market.table)
    synth_name = f"synthetic (seed {seed})"
    stats = {**real, synth_name: statistics(synthetic_segments(market.table))}
    used = "\n".join(f"- {m}: " + ", ".join(f"`{f}`" for f in names) for m, names in files.items())
    return TEMPLATE.format(rows=rows, days=rows / 1440, seed=seed, used=used,
                           minute_table=minute_table(stats), chunk_table=chunk_table(stats, {"ETH", synth_name}),
                           regime_table=regime_table(market), parameter_table=parameter_table())


TEMPLATE = """# Synthetic market: model and calibration

`hftjax.synth.generate(rows, seed, params=SynthParams())` is the project's embedded default data: a
seeded 1-minute market (ETH-like, from 2022-02-01 00:00 UTC) with OHLCV and a 5-level book at each
bar's close, plus the hidden regime path that generated it (`trend`: 0 bear, 1 flat, 2 bull;
`vol`: 0 calm, 1 volatile). This page is written by `data_prep/synth_calibration.py`; rerun it
after changing a default.

## Model

1. **Regimes.** Two independent Markov chains on the minute grid, trend (bear / flat / bull) and
   volatility (calm / volatile). A spell lasts a geometric number of rows (means: 3 days for each
   trend state, 5 days calm, 2 days volatile) and then jumps to another state, uniformly. So the
   3-day chunks of MacroHFT's decomposition mostly sit in one or two regimes and differ clearly in
   slope and volatility. Drawn spell by spell (jump chain = cumulative sum of offsets modulo the
   number of states), so it is vectorised.
2. **Volatility.** `log sigma_t = log sigma_calm + slow_t + fast_t - (var slow + var fast)`, two
   Gaussian AR(1) factors. The slow one (persistence 0.9995 per minute, about 1.4 days) mean-reverts to
   the regime level (0 calm, `log vol_ratio` volatile), so a regime switch phases in over about a day,
   and gives the chunk-to-chunk spread of volatility; the fast one (0.96, about 25 minutes) gives the
   minute-scale clustering. The variance term makes `sigma_calm` the RMS return of a settled calm regime.
3. **Returns and price.** `r_t = drift * (trend_t - 1) + sigma_t * z_t`, z a Student-t with 5 degrees
   of freedom scaled to unit variance. The log price is the AR(1) `x_t = (1 - price_reversion) x_(t-1) + r_t`
   around `log start_price`: the 90-day pull keeps the level ETH-like (roughly 1000-5000 USDT) over years
   without touching the days-long trends. The close is rounded to the tick; the open is the previous close.
4. **Candles.** Inside a minute the log price is a Brownian bridge with scale sigma_t from the open to
   the close; its maximum and minimum are sampled exactly
   (`M = (b + sqrt(b^2 - 2 sigma^2 log U)) / 2` for a bridge from 0 to b), so
   `low <= min(open, close) <= max(open, close) <= high` by construction, all on the tick.
5. **Volume.** `volume_scale * (sigma_t / sigma_calm)^volume_beta * (1 + |z_t|)^volume_shock * lognormal`:
   busier when volatile and on the big moves themselves.
6. **Book** (5 levels, at each bar's close). With `s = sigma_t / sigma_calm`: spread and gaps between
   adjacent levels are geometric numbers of ticks (at least 1; means `1 + spread_excess s` and
   `1 + gap_excess s`), the close in the middle of the spread (half a tick off when the spread is odd);
   sizes log-normal around `depth_median * depth_growth^(level-1) * s^-depth_beta`. Volatile books are
   wider and thinner; bids strictly descend, asks strictly ascend, bid1 < ask1, sizes > 0.

Every recursion is vectorised: the AR(1) filters (the two log-vol factors and the log price) use a
blocked formulation (a 64 x 64 lower-triangular product inside blocks, the same recursion on the block
ends), tens of milliseconds per million rows; 1M rows take about a second on a 2-core CPU
(`python -m benchmarks.throughput.synth_throughput`, results in `benchmarks/RESULTS.md`).

## Real vs synthetic

Real data: the Binance spot 1-minute files of `../shared/data` (files with a null volume skipped),
each split at its gaps so that no return or chunk spans missing minutes; pooled per market and over
the four markets:

{used}

Synthetic: `generate({rows:,}, seed={seed})` with the defaults ({days:.0f} days), cut into 30-day
segments like the real files. Returns are 1-minute log returns of the close.

### Minute returns

{minute_table}

"segment median" is the median excess kurtosis of the gap-free segments (real) or 30-day segments
(synthetic) of at least one chunk; the pooled kurtosis of the real data is inflated by mixing years
with very different volatility and is dominated by a handful of crashes. The |r| autocorrelation
centres each segment on its own mean.

### 3-day chunks (4320 rows), quantiles 5 / 35 / 65 / 95 % (MacroHFT's label edges)

{chunk_table}

Slope: `hftjax.decompose.chunk_slopes` (price units per minute; shown only for ETH and the
ETH-like synthetic market, the levels of the others differ), also divided by the chunk's mean
close. Volatility: `chunk_volatility`.

### Synthetic, by hidden regime

{regime_table}

## Parameters

{parameter_table}

How the defaults were set: `sigma_calm`, `vol_ratio` and the slow factor set the minute std
and the chunk-volatility quantiles; the fast factor's persistence and std set the |r|
autocorrelation at lags 1 and 10, the slow factor's persistence the lag-60 one; `tail_df` trades
the kurtosis against that autocorrelation (heavier t tails add kurtosis but dilute the clustering);
`drift` with the regime durations sets the spread of the chunk slopes; `volume_*` the volume level
(ETH median about 200 coins a minute) and its correlation with |r|. The book parameters (spread,
gaps, depth) have no counterpart in these OHLCV-only files: they are set for a liquid ETH/USDT
book (spreads of a few 0.01 ticks, level-1 depth of tens of coins) that reacts to volatility.

Known gaps: the synthetic returns have no intraday or weekly seasonality, no jumps beyond the
t tails, and no crash-sized events as extreme as the pooled real kurtosis shows; open always
equals the previous close (on Binance about half the opens differ by a tick).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (default 1M, 694 days)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help=f"real data folder (default {DATA})")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"real data folder {args.data} not found: nothing to calibrate against, skipping")
        return 0
    real, files = real_statistics(args.data)
    text = render(real, files, generate(args.rows, args.seed), args.seed)
    with atomic_path(DOC) as tmp:
        tmp.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
