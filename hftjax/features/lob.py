"""The ``lob`` feature set: the reference's 36 single-step and 9 trend features (docs/method.md s.1).

Uses book levels 1..5. ``volume`` here is book depth (sum of the 10 sizes), as in the reference,
not traded volume. Zero-depth rules: level shares (``*_size_n``) and both vwaps are 0 when the
whole book is empty; ``wap_k`` falls back to the level-k mid price when both level-k sizes are 0;
``volume_imbalance`` is 0 when both sides are empty.
"""

from __future__ import annotations

import numpy as np

from hftjax.data.table import BOOK_LEVELS, Table
from hftjax.features.candle import CANDLE_FEATURES, candle_features
from hftjax.features.rolling import log_return, safe_divide

SINGLE = (
    "volume",
    *(f"bid{i}_size_n" for i in range(1, BOOK_LEVELS + 1)),
    *(f"ask{i}_size_n" for i in range(1, BOOK_LEVELS + 1)),
    "wap_1", "wap_2", "wap_balance", "buy_spread", "sell_spread", "buy_volume", "sell_volume",
    "volume_imbalance", "price_spread", "sell_vwap", "buy_vwap",
    "log_return_bid1_price", "log_return_bid2_price", "log_return_ask1_price",
    "log_return_ask2_price", "log_return_wap_1",
    *CANDLE_FEATURES,
)
TREND_BASE = ("ask1_price", "bid1_price", "buy_spread", "sell_spread", "wap_1", "wap_2",
              "buy_vwap", "sell_vwap", "volume")


def _wap(t: Table, k: int) -> np.ndarray:
    pb, qb, pa, qa = (t[f"bid{k}_price"], t[f"bid{k}_size"], t[f"ask{k}_price"], t[f"ask{k}_size"])
    den = qa + qb
    return np.where(den > 0, (qa * pb + qb * pa) / np.where(den > 0, den, 1.0), (pa + pb) / 2)


def lob_single(t: Table) -> dict[str, np.ndarray]:
    """Every single-step feature, plus the raw series the trend features need."""
    lv = range(1, BOOK_LEVELS + 1)
    buy_volume = sum(t[f"bid{i}_size"] for i in lv)
    sell_volume = sum(t[f"ask{i}_size"] for i in lv)
    depth = buy_volume + sell_volume
    f: dict[str, np.ndarray] = {"volume": depth}
    for side in ("bid", "ask"):
        for i in lv:
            f[f"{side}{i}_size_n"] = safe_divide(t[f"{side}{i}_size"], depth)
    f["wap_1"], f["wap_2"] = _wap(t, 1), _wap(t, 2)
    f["wap_balance"] = np.abs(f["wap_1"] - f["wap_2"])
    f["buy_spread"] = np.abs(t["bid1_price"] - t[f"bid{BOOK_LEVELS}_price"])
    f["sell_spread"] = np.abs(t["ask1_price"] - t[f"ask{BOOK_LEVELS}_price"])
    f["buy_volume"], f["sell_volume"] = buy_volume, sell_volume
    f["volume_imbalance"] = safe_divide(buy_volume - sell_volume, depth)
    f["price_spread"] = 2 * (t["ask1_price"] - t["bid1_price"]) / (t["ask1_price"] + t["bid1_price"])
    f["sell_vwap"] = sum(f[f"ask{i}_size_n"] * t[f"ask{i}_price"] for i in lv)
    f["buy_vwap"] = sum(f[f"bid{i}_size_n"] * t[f"bid{i}_price"] for i in lv)
    for name in ("bid1_price", "bid2_price", "ask1_price", "ask2_price"):
        f[f"log_return_{name}"] = log_return(t[name])
    f["log_return_wap_1"] = log_return(f["wap_1"])
    f.update(candle_features(t["open"], t["high"], t["low"], t["close"]))
    f["ask1_price"], f["bid1_price"] = t["ask1_price"], t["bid1_price"]
    return f
