"""Rule baselines: MACD crossover positions against a hand-worked case and a float64 loop."""

from __future__ import annotations

import numpy as np
import pytest

from hftjax.baselines.macd import macd_actions
from hftjax.errors import ConfigError


def loop_macd(close, fast, slow, signal):
    """(T-1,) booleans MACD > signal, in float64, one row at a time (pandas ewm adjust=False)."""
    def ema(x, span):
        a, out = 2.0 / (span + 1.0), [x[0]]
        for v in x[1:]:
            out.append(a * v + (1 - a) * out[-1])
        return np.array(out)
    x = np.asarray(close[:-1], np.float64)
    line = ema(x, fast) - ema(x, slow)
    return line, ema(line, signal)


def test_hand_worked_crossovers():
    # fast=1 (EMA = close), slow=3 (a=1/2), signal=2 (a=2/3) on closes 10 12 12 8 8:
    # slow EMA 10, 11, 11.5, 9.75, 8.875 -> MACD 0, 1, .5, -1.75, -.875
    # signal 0, .667, .556, -.981, -.910 -> long only where MACD is strictly above: steps 1 and 4
    close = [10.0, 12.0, 12.0, 8.0, 8.0, 99.0]
    np.testing.assert_array_equal(macd_actions(close, fast=1, slow=3, signal=2), [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(macd_actions(close, fast=1, slow=3, signal=2, levels=5), [0, 4, 0, 0, 4])


def test_decides_from_past_closes_only():
    close = 2000 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 1e-3, 3000)))
    base = macd_actions(close)
    changed = close.copy()
    changed[1500:] *= 1.3  # the future from step 1500 on
    np.testing.assert_array_equal(macd_actions(changed)[:1500], base[:1500])


def test_default_spans_match_a_float64_loop():
    close = 2000 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 1e-3, 5000)))
    line, signal = loop_macd(close, 12, 26, 9)
    ours = macd_actions(close) == 1
    clear = np.abs(line - signal) > 1e-6 * close[0]  # away from exact ties, float32 must agree
    np.testing.assert_array_equal(ours[clear], (line > signal)[clear])
    assert clear.mean() > 0.99 and 0.2 < ours.mean() < 0.8


def test_bad_input_names_the_option():
    with pytest.raises(ConfigError, match="'close'"):
        macd_actions([1.0, -2.0, 3.0])
    with pytest.raises(ConfigError, match="'macd'"):
        macd_actions([1.0, 2.0, 3.0], fast=26, slow=12)
