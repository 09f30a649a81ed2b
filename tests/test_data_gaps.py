"""Gaps: found, forward-filled up to the limit, split at or refused beyond it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hftjax.data import Gap, apply_gap_policy, find_gaps, load_market
from hftjax.errors import ConfigError, DataError

T0 = 1_704_067_200_000
MIN = 60_000


def bars_at(minutes, levels: int = 0) -> dict[str, np.ndarray]:
    """Bars at the given minute offsets, with distinct prices and (optionally) a book."""
    minutes = np.asarray(minutes)
    price = 100.0 + np.arange(len(minutes))
    table = {"timestamp": T0 + MIN * minutes, "open": price, "high": price + 1, "low": price - 1,
             "close": price + 0.5, "volume": np.full(len(minutes), 7.0)}
    for level in range(1, levels + 1):
        table |= {f"bid{level}_price": price - level, f"bid{level}_size": np.full(len(minutes), 2.0),
                  f"ask{level}_price": price + level, f"ask{level}_size": np.full(len(minutes), 3.0)}
    return table


MINUTES = [0, 1, 2, 4, 5, 9, 10]  # gaps: one bar after row 2, three bars after row 4


def test_find_gaps():
    assert find_gaps(T0 + MIN * np.array(MINUTES), MIN) == [Gap(3, T0 + 3 * MIN, 1), Gap(5, T0 + 6 * MIN, 3)]
    assert find_gaps(T0 + MIN * np.arange(5), MIN) == []
    assert find_gaps(np.array([], np.int64), MIN) == []


def test_split_is_the_default():
    segments, report = apply_gap_policy(bars_at(MINUTES))
    assert [list((s["timestamp"] - T0) // MIN) for s in segments] == [[0, 1, 2], [4, 5], [9, 10]]
    assert report["rows_filled"] == 0
    assert [g["action"] for g in report["gaps"]] == ["split", "split"]
    assert report["segments"][1] == {"start": T0 + 4 * MIN, "end": T0 + 5 * MIN, "rows": 2}
    json.dumps(report)


def test_forward_fill_up_to_the_limit_and_not_beyond():
    table = bars_at(MINUTES, levels=1)
    segments, report = apply_gap_policy(table, max_ffill_minutes=1)
    assert [list((s["timestamp"] - T0) // MIN) for s in segments] == [[0, 1, 2, 3, 4, 5], [9, 10]]
    assert report["rows_filled"] == 1
    assert [g["action"] for g in report["gaps"]] == ["filled", "split"]
    filled = {k: v[3] for k, v in segments[0].items()}
    previous_close = table["close"][2]
    assert [filled[c] for c in ("open", "high", "low", "close", "volume")] == [previous_close] * 4 + [0.0]
    assert (filled["bid1_price"], filled["ask1_size"]) == (table["bid1_price"][2], table["ask1_size"][2])
    np.testing.assert_array_equal(segments[0]["close"][[2, 4]], table["close"][[2, 3]])  # originals intact

    segments, report = apply_gap_policy(table, max_ffill_minutes=3)
    assert len(segments) == 1 and report["rows_filled"] == 4
    np.testing.assert_array_equal(segments[0]["timestamp"], T0 + MIN * np.arange(11))
    np.testing.assert_array_equal(segments[0]["close"][5:9], table["close"][4])
    np.testing.assert_array_equal(segments[0]["volume"][6:9], 0.0)


def test_ffill_limit_is_in_minutes_whatever_the_interval():
    table = bars_at([0, 5, 20, 30])  # 5-minute bars; gaps of 2 bars (10 min) and 1 bar (5 min)
    segments, report = apply_gap_policy(table, max_ffill_minutes=5, interval_ms=5 * MIN)
    assert [len(s["timestamp"]) for s in segments] == [2, 3]
    assert report["rows_filled"] == 1


def test_error_policy_names_row_after_the_gap():
    with pytest.raises(DataError, match="3 missing bar") as err:
        apply_gap_policy(bars_at(MINUTES), policy="error", max_ffill_minutes=1, file="x.csv")
    assert (err.value.file, err.value.row, err.value.column) == ("x.csv", 5, "timestamp")
    segments, _ = apply_gap_policy(bars_at(MINUTES), policy="error", max_ffill_minutes=3)
    assert len(segments) == 1


@pytest.mark.parametrize("options, option", [({"policy": "ffill"}, "gap_policy"),
                                             ({"max_ffill_minutes": -1}, "max_ffill_minutes"),
                                             ({"interval_ms": 0}, "interval_ms")])
def test_bad_options(options, option):
    with pytest.raises(ConfigError) as err:
        apply_gap_policy(bars_at(MINUTES), **options)
    assert err.value.option == option


def test_load_market_error_policy_names_file_and_row(tmp_path):
    table = bars_at(MINUTES)
    path = tmp_path / "bars.csv"
    lines = [",".join(table)] + [",".join(str(v) for v in row) for row in zip(*table.values())]
    path.write_text("\n".join(lines) + "\n")
    segments, report = load_market([path], max_ffill_minutes=1)
    assert [len(s["timestamp"]) for s in segments] == [6, 2]
    assert report["rows_filled"] == 1 and len(report["gaps"]) == 2
    json.dumps(report)
    with pytest.raises(DataError) as err:
        load_market([path], gap_policy="error")
    assert (err.value.file, err.value.row) == (str(path), 3)
