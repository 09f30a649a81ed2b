"""The synthetic market: reproducibility, canonical layout, valid candles and book, regime effects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hftjax.data.table import MINUTE_MS, OHLCV, book_columns, to_arrow
from hftjax.decompose import chunk_slopes, chunk_volatility
from hftjax.errors import ConfigError
from hftjax.synth import BOOK_LEVELS, SynthParams, generate
from hftjax.synth.recurrence import ar1_filter

ROWS = 200_000
TICK = SynthParams().tick


@pytest.fixture(scope="module")
def market():
    return generate(ROWS, seed=7)


@pytest.fixture(scope="module")
def returns(market):
    return np.diff(np.log(market.table["close"]))


def _on_tick(x: np.ndarray) -> bool:
    return np.array_equal(x, np.round(np.rint(x / TICK) * TICK, 2))


def test_same_seed_same_market_and_different_seed_differs():
    a, b, c = generate(5000, 3), generate(5000, 3), generate(5000, 4)
    assert list(a.table) == list(b.table)
    assert all(np.array_equal(a.table[k], b.table[k]) for k in a.table)
    assert np.array_equal(a.trend, b.trend) and np.array_equal(a.vol, b.vol)
    assert not np.array_equal(a.table["close"], c.table["close"])


def test_canonical_columns_dtypes_and_minute_grid(market):
    table = market.table
    assert list(table) == ["timestamp", *OHLCV, *book_columns(BOOK_LEVELS)]
    assert table["timestamp"].dtype == np.int64
    assert all(table[k].dtype == np.float64 and table[k].shape == (ROWS,) for k in list(table)[1:])
    start = dt.datetime(2022, 2, 1, tzinfo=dt.timezone.utc).timestamp() * 1000
    assert table["timestamp"][0] == start
    assert np.all(np.diff(table["timestamp"]) == MINUTE_MS)
    assert to_arrow(table).num_rows == ROWS


def test_candles_are_consistent_on_tick_and_volume_positive(market):
    t = market.table
    assert np.all(t["low"] > 0)
    assert np.all(t["low"] <= np.minimum(t["open"], t["close"]))
    assert np.all(np.maximum(t["open"], t["close"]) <= t["high"])
    assert np.array_equal(t["open"][1:], t["close"][:-1])
    assert t["open"][0] == SynthParams().start_price
    assert all(_on_tick(t[k]) for k in ("open", "high", "low", "close"))
    assert np.all(t["volume"] > 0)


def test_book_is_valid_and_centred_on_the_close(market):
    t = market.table
    bids = np.stack([t[f"bid{i}_price"] for i in range(1, BOOK_LEVELS + 1)])
    asks = np.stack([t[f"ask{i}_price"] for i in range(1, BOOK_LEVELS + 1)])
    assert np.all(np.diff(bids, axis=0) < 0) and np.all(np.diff(asks, axis=0) > 0)
    assert np.all(bids[0] < asks[0]) and np.all(bids[-1] > 0)
    assert _on_tick(bids) and _on_tick(asks)
    assert np.all(np.abs((bids[0] + asks[0]) / 2 - t["close"]) <= TICK / 2 + 1e-9)
    assert all(np.all(t[f"{side}{i}_size"] > 0) for side in ("bid", "ask") for i in range(1, BOOK_LEVELS + 1))


def test_regimes_switch_and_cover_all_six(market):
    assert market.trend.dtype == np.int8 and market.vol.dtype == np.int8
    assert set(np.unique(market.trend)) == {0, 1, 2} and set(np.unique(market.vol)) == {0, 1}
    assert len(np.unique(market.trend * 2 + market.vol)) == 6
    day = 1440
    for path in (market.trend, market.vol):
        spells = np.count_nonzero(np.diff(path)) + 1
        assert 1 * day < ROWS / spells < 8 * day  # mean spell length of days


def test_volatile_rows_move_more_and_bull_rows_drift_up(market, returns):
    vol, trend = market.vol[1:], market.trend[1:]
    assert returns[vol == 1].std() > 1.5 * returns[vol == 0].std()
    assert returns[trend == 2].mean() > 0 > returns[trend == 0].mean()


def test_returns_fat_tailed_and_volatility_clusters(returns):
    assert stats.kurtosis(returns) > 1
    a = np.abs(returns)
    for lag in (1, 10):
        assert np.corrcoef(a[lag:], a[:-lag])[0, 1] > 0.1


def test_volume_rises_with_moves(market, returns):
    assert np.corrcoef(np.log(market.table["volume"][1:]), np.abs(returns))[0, 1] > 0.2


def test_book_wider_and_thinner_when_volatile(market):
    t, volatile = market.table, market.vol == 1
    spread = t["ask1_price"] - t["bid1_price"]
    depth = sum(t[f"{side}{i}_size"] for side in ("bid", "ask") for i in range(1, BOOK_LEVELS + 1))
    assert spread[volatile].mean() > 1.2 * spread[~volatile].mean()
    assert np.median(depth[volatile]) < 0.8 * np.median(depth[~volatile])


def test_chunk_trend_and_volatility_follow_the_regimes(market):
    """What MacroHFT's decomposition sees: 3-day chunks inherit their dominant regime."""
    n = 4320
    close = market.table["close"]
    slopes, vols = chunk_slopes(close, n), chunk_volatility(close, n)
    k = len(slopes)
    trend = market.trend[: k * n].reshape(k, n).mean(1)
    volatile = market.vol[: k * n].reshape(k, n).mean(1)
    assert slopes[trend > 1.5].mean() > 0 > slopes[trend < 0.5].mean()
    assert np.median(vols[volatile > 0.5]) > 1.5 * np.median(vols[volatile < 0.5])


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9995])
@pytest.mark.parametrize("n", [1, 63, 64, 65, 5000])
def test_ar1_filter_matches_the_loop(n, phi):
    u = np.random.default_rng(n).standard_normal(n)
    x, state = np.empty(n), 0.0
    for t in range(n):
        state = phi * state + u[t]
        x[t] = state
    np.testing.assert_allclose(ar1_filter(u, phi), x, rtol=1e-10, atol=1e-10)


BAD = {"start": 1_643_673_600_001, "tick": 0.0, "start_price": 0.5, "trend_duration": 0.5, "calm_duration": 0,
       "volatile_duration": -1, "drift": 0.5, "price_reversion": 1.0, "sigma_calm": 0.0, "vol_ratio": 0.5,
       "tail_df": 2.0, "sv_fast_phi": 1.0, "sv_fast_std": -0.1, "sv_slow_phi": -0.1, "sv_slow_std": float("nan"),
       "volume_scale": 0.0, "volume_beta": -1.0, "volume_shock": -1.0, "volume_noise": float("inf"),
       "spread_excess": -1.0, "gap_excess": -0.5, "depth_median": 0.0, "depth_growth": -1.0,
       "depth_beta": -1.0, "depth_noise": "0.5"}


def test_every_param_has_a_bad_value_case():
    assert set(BAD) == {f.name for f in dataclasses.fields(SynthParams)}


@pytest.mark.parametrize("field", sorted(BAD))
def test_bad_params_raise_config_error_naming_the_field(field):
    with pytest.raises(ConfigError) as err:
        SynthParams(**{field: BAD[field]})
    assert err.value.option == field and field in str(err.value)


@pytest.mark.parametrize("rows", [0, -5, 2.5, True])
def test_bad_rows_raise_config_error(rows):
    with pytest.raises(ConfigError) as err:
        generate(rows, 0)
    assert err.value.option == "rows"


def test_calibration_script_skips_without_real_data(tmp_path):
    script = Path(__file__).resolve().parents[1] / "data_prep" / "synth_calibration.py"
    done = subprocess.run([sys.executable, str(script), "--data", str(tmp_path / "absent")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "skipping" in done.stdout


def test_a_negative_seed_is_one_line_and_writes_nothing(tmp_path, capsys):
    """numpy's generators refuse negative seeds with a traceback: ``synth --seed`` and ``run``'s
    ``data.synthetic_seed`` refuse them first, naming the option."""
    from hftjax.cli import main

    assert main(["synth", "--rows", "2000", "--seed", "-1", "--out", str(tmp_path / "m.parquet")]) == 2
    assert "option '--seed': must be an integer >= 0, got -1" in capsys.readouterr().err
    assert main(["run", "--preset", "smoke", "--out", str(tmp_path / "run"), "--quiet", "data.synthetic_seed=-5"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "data.synthetic_seed" in line and "an integer >= 0" in line, line
    assert not any(tmp_path.iterdir())
