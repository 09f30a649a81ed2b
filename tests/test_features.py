"""Every feature formula against a direct, per-row computation in plain Python."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import scipy.signal

from tests.support import random_book_table
from hftjax.features import FEATURE_SETS, compute_features, resolve_feature_set
from hftjax.errors import ConfigError

ROWS = 520


@pytest.fixture(scope="module")
def table():
    return random_book_table(ROWS, seed=3)


def _div(a, b):
    return a / b if b != 0 else 0.0


def candle_row(o, h, l, c):
    return {"kmid": c - o, "klen": h - l, "kmid2": _div(c - o, h - l), "kup": h - max(o, c),
            "kup2": _div(h - max(o, c), h - l), "klow": min(o, c) - l,
            "klow2": _div(min(o, c) - l, h - l), "ksft": 2 * c - h - l, "ksft2": _div(2 * c - h - l, h - l)}


def lob_row(t, r):
    g = lambda k: float(t[k][r])  # noqa: E731
    bids = [(g(f"bid{i}_price"), g(f"bid{i}_size")) for i in range(1, 6)]
    asks = [(g(f"ask{i}_price"), g(f"ask{i}_size")) for i in range(1, 6)]
    depth = sum(q for _, q in bids) + sum(q for _, q in asks)

    def wap(k):
        (pb, qb), (pa, qa) = bids[k], asks[k]
        return (qa * pb + qb * pa) / (qa + qb) if qa + qb > 0 else (pa + pb) / 2

    def wap1_at(row):
        pb, qb, pa, qa = (float(t[k][row]) for k in ("bid1_price", "bid1_size", "ask1_price", "ask1_size"))
        return (qa * pb + qb * pa) / (qa + qb) if qa + qb > 0 else (pa + pb) / 2

    f = {"volume": depth}
    f.update({f"bid{i + 1}_size_n": _div(bids[i][1], depth) for i in range(5)})
    f.update({f"ask{i + 1}_size_n": _div(asks[i][1], depth) for i in range(5)})
    f["wap_1"], f["wap_2"] = wap(0), wap(1)
    f["wap_balance"] = abs(f["wap_1"] - f["wap_2"])
    f["buy_spread"], f["sell_spread"] = abs(bids[0][0] - bids[4][0]), abs(asks[0][0] - asks[4][0])
    bv, sv = sum(q for _, q in bids), sum(q for _, q in asks)
    f["buy_volume"], f["sell_volume"] = bv, sv
    f["volume_imbalance"] = _div(bv - sv, bv + sv)
    f["price_spread"] = 2 * (asks[0][0] - bids[0][0]) / (asks[0][0] + bids[0][0])
    f["sell_vwap"] = sum(_div(q, depth) * p for p, q in asks)
    f["buy_vwap"] = sum(_div(q, depth) * p for p, q in bids)
    for name in ("bid1_price", "bid2_price", "ask1_price", "ask2_price"):
        f[f"log_return_{name}"] = math.log(g(name) / float(t[name][r - 1]))
    f["log_return_wap_1"] = math.log(wap1_at(r) / wap1_at(r - 1))
    f.update(candle_row(g("open"), g("high"), g("low"), g("close")))
    f["ask1_price"], f["bid1_price"] = asks[0][0], bids[0][0]
    return f


def ohlcv_row(t, r):
    g = lambda k, row=r: float(t[k][row])  # noqa: E731
    f = {"volume": g("volume"), "log_volume": math.log(1 + g("volume"))}
    for k in ("open", "high", "low", "close"):
        f[f"log_return_{k}"] = math.log(g(k) / g(k, r - 1))
        f[k] = g(k)
    f["typical_price"] = (g("high") + g("low") + g("close")) / 3
    f["range_rel"] = (g("high") - g("low")) / g("close")
    f.update(candle_row(g("open"), g("high"), g("low"), g("close")))
    return f


ROW_ORACLES = {"lob": lob_row, "ohlcv": ohlcv_row}


def context_row(close, r):
    window = close[r - 359: r + 1]
    smooth = scipy.signal.filtfilt(*scipy.signal.butter(1, 0.05), window)
    slope = np.polyfit(np.arange(360), smooth, 1)[0]
    returns = [close[i] / close[i - 1] - 1 for i in range(r - 359, r + 1)]
    return {"slope_360": slope, "vol_360": statistics.stdev(returns)}


@pytest.mark.parametrize("name", ["lob", "ohlcv"])
def test_every_feature_matches_per_row_oracle(table, name):
    fs = FEATURE_SETS[name]
    feats, warmup = compute_features(table, fs)
    assert warmup == 360  # vol_360 needs 360 returns, the first of which is at row 1
    assert set(feats) == set(fs.columns)
    per_row = {r: ROW_ORACLES[name](table, r) for r in range(1, ROWS)}
    for r in range(warmup, ROWS):
        expected = dict(per_row[r])
        for base, trend in zip(fs.trend_base, fs.trend):
            window = [per_row[i][base] for i in range(r - 59, r + 1)]
            sd = statistics.stdev(window)
            expected[trend] = (window[-1] - statistics.fmean(window)) / sd if sd > 0 else 0.0
        expected.update(context_row(table["close"], r))
        for col in fs.columns:
            np.testing.assert_allclose(feats[col][r], expected[col], rtol=1e-7, atol=1e-12,
                                       err_msg=f"{name}:{col} row {r}")


def test_lob_order_and_counts():
    fs = FEATURE_SETS["lob"]
    assert (len(fs.single), len(fs.trend), len(fs.context)) == (36, 9, 2)
    assert fs.single[:3] == ("volume", "bid1_size_n", "bid2_size_n")
    assert fs.single[-9:] == ("kmid", "klen", "kmid2", "kup", "kup2", "klow", "klow2", "ksft", "ksft2")
    assert fs.trend[0] == "ask1_price_trend_60" and fs.trend[-1] == "volume_trend_60"


def test_zero_range_and_zero_depth_rules(table):
    feats, warmup = compute_features(table, FEATURE_SETS["lob"])
    flat = table["high"] == table["low"]
    empty = sum(table[f"{s}{i}_size"] for s in ("bid", "ask") for i in range(1, 6)) == 0
    assert flat[warmup:].any() and empty[warmup:].any()
    for col in ("kmid2", "kup2", "klow2", "ksft2"):
        assert np.all(feats[col][flat] == 0.0)
    for col in ("bid1_size_n", "ask5_size_n", "buy_vwap", "sell_vwap", "volume_imbalance"):
        assert np.all(feats[col][empty] == 0.0)
    mid = (table["ask1_price"] + table["bid1_price"]) / 2
    np.testing.assert_array_equal(feats["wap_1"][empty], mid[empty])


def test_constant_window_trend_is_zero(table):
    t = dict(table)
    t["volume"] = np.full(ROWS, 7.0)
    feats, warmup = compute_features(t, FEATURE_SETS["ohlcv"])
    assert np.all(feats["volume_trend_60"][warmup:] == 0.0)


def test_auto_picks_by_columns(table):
    assert resolve_feature_set("auto", table).name == "lob"
    no_book = {k: v for k, v in table.items() if "bid" not in k and "ask" not in k}
    assert resolve_feature_set("auto", no_book).name == "ohlcv"
    with pytest.raises(ConfigError, match="features"):
        resolve_feature_set("lob", no_book)
    with pytest.raises(ConfigError, match="features"):
        resolve_feature_set("candles", table)
