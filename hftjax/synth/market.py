"""``generate``: one seeded synthetic market, its bar table and the hidden regime path."""

from __future__ import annotations

import dataclasses
import json
import numpy as np

from hftjax.data.market_id import GENERATOR, synth_settings
from hftjax.data.table import MINUTE_MS, Table, to_arrow
from hftjax.errors import ConfigError
from hftjax.io import write_parquet
from hftjax.paths import check_writable
from hftjax.synth.book import book
from hftjax.synth.params import SynthParams
from hftjax.synth.prices import candle_ticks, log_returns, standard_t, to_price
from hftjax.synth.regimes import regime_path
from hftjax.synth.volatility import sigma_path
from hftjax.synth.volume import volume_path


@dataclasses.dataclass(frozen=True)
class SynthMarket:
    """A canonical ``table`` with a 5-level book, and the regimes that generated each row."""

    table: Table
    trend: np.ndarray  # int8 per row: 0 bear, 1 flat, 2 bull
    vol: np.ndarray  # int8 per row: 0 calm, 1 volatile


def generate(rows: int, seed: int, params: SynthParams = SynthParams()) -> SynthMarket:
    """``rows`` 1-minute bars from ``params.start``; the same (rows, seed, params) give identical output."""
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ConfigError("rows", f"must be a positive integer, got {rows!r}")
    rng = np.random.default_rng(seed)
    trend, vol = regime_path(rng, rows, params)
    sigma = sigma_path(rng, vol, params)
    z = standard_t(rng, rows, params.tail_df)
    candles = candle_ticks(rng, log_returns(trend, sigma, z, params), sigma, params)
    table = {"timestamp": int(params.start) + MINUTE_MS * np.arange(rows, dtype=np.int64)}
    table.update({name: to_price(ticks, params.tick) for name, ticks in candles.items()})
    table["volume"] = volume_path(rng, sigma, z, params)
    table.update(book(rng, candles["close"], sigma, params))
    return SynthMarket(table=table, trend=trend, vol=vol)


def write_market(path, rows: int, seed: int, params: SynthParams = SynthParams(), *, force: bool = False) -> None:
    """``generate`` written as a canonical Parquet file (generator settings in its metadata),
    atomically. An existing file is replaced only when this function wrote it, or with ``force``."""
    path = check_writable(path, lambda p: synth_settings(p) is not None, force=force)
    table = to_arrow(generate(rows, seed, params).table)
    meta = {"generator": GENERATOR, "rows": rows, "seed": seed, "params": dataclasses.asdict(params)}
    write_parquet(table.replace_schema_metadata({"hftjax": json.dumps(meta, default=str)}), path)
