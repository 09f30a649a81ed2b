"""The ``ohlcv`` feature set, for data without an order book.

Single-step features (17):
- ``volume``: traded volume of the minute (base asset); ``log_volume`` = log(1 + volume).
- ``log_return_{open,high,low,close}``: log(x_t / x_{t-1}) of each candle price.
- ``typical_price`` = (h + l + c) / 3; ``range_rel`` = (h - l) / c, the candle range in price units.
- the 9 candle features ``kmid ... ksft2`` (see ``hftjax.features.candle``).
Trend features (7): ``x_trend_60`` for x in open, high, low, close, typical_price, klen, volume.
"""

from __future__ import annotations

import numpy as np

from hftjax.data.table import Table
from hftjax.features.candle import CANDLE_FEATURES, candle_features
from hftjax.features.rolling import log_return

SINGLE = (
    "volume", "log_volume", "log_return_open", "log_return_high", "log_return_low",
    "log_return_close", "typical_price", "range_rel", *CANDLE_FEATURES,
)
TREND_BASE = ("open", "high", "low", "close", "typical_price", "klen", "volume")


def ohlcv_single(t: Table) -> dict[str, np.ndarray]:
    o, h, l, c = t["open"], t["high"], t["low"], t["close"]
    f = {"volume": t["volume"], "log_volume": np.log1p(t["volume"])}
    for name in ("open", "high", "low", "close"):
        f[f"log_return_{name}"] = log_return(t[name])
    f["typical_price"] = (h + l + c) / 3
    f["range_rel"] = (h - l) / c
    f.update(candle_features(o, h, l, c))
    f.update(open=o, high=h, low=l, close=c)
    return f
