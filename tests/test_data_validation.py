"""Validation: every problem is a DataError naming file, row and column."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hftjax.data import load_market, validate, validate_book
from hftjax.data.table import OHLCV, book_columns
from hftjax.errors import DataError

T0 = 1_704_067_200_000
FILE = "bars.csv"


def bars(n: int = 6, levels: int = 0) -> dict[str, np.ndarray]:
    """A clean bar table: rising prices, and a book one tick either side of the close."""
    price = 100.0 + np.arange(n)
    table = {"timestamp": T0 + 60_000 * np.arange(n), "open": price, "high": price + 1,
             "low": price - 1, "close": price + 0.5, "volume": np.full(n, 10.0)}
    for level in range(1, levels + 1):
        table |= {f"bid{level}_price": price + 0.5 - level, f"bid{level}_size": np.ones(n),
                  f"ask{level}_price": price + 0.5 + level, f"ask{level}_size": np.ones(n)}
    return table


def assert_error(table, row, column, match: str = "", **kwargs) -> None:
    with pytest.raises(DataError, match=match) as err:
        validate(table, file=FILE, **kwargs)
    assert (err.value.file, err.value.row, err.value.column) == (FILE, row, column)
    assert FILE in str(err.value) and repr(column) in str(err.value)
    assert row is None or f"row {row}" in str(err.value)


def with_value(table, column, row, value):
    table[column] = table[column].copy()
    table[column][row] = value
    return table


def test_clean_table_passes_unchanged():
    table = bars(levels=2)
    out = validate(table, file=FILE)
    assert list(out) == ["timestamp", *OHLCV, *book_columns(2)]
    for column, values in table.items():
        np.testing.assert_array_equal(out[column], values)


@pytest.mark.parametrize("column", ["timestamp", "close", "volume"])
def test_missing_column(column):
    table = bars()
    del table[column]
    assert_error(table, None, column, "missing column")


def test_incomplete_book_level():
    table = bars(levels=2)
    del table["bid2_size"]
    assert_error(table, None, "bid2_size", "incomplete book level 2")


def test_book_level_without_the_one_below():
    table = bars(levels=1) | {c: bars(levels=2)[c] for c in book_columns(2)[4:]}
    del table["ask1_size"]
    assert_error(table, None, "ask1_size", "incomplete book level 1")


def test_non_monotonic_timestamp():
    table = with_value(bars(), "timestamp", 3, T0 + 60_000)
    assert_error(table, 3, "timestamp", "earlier than the one before")


def test_conflicting_duplicate_names_first_differing_column():
    table = with_value(bars(), "timestamp", 4, T0 + 3 * 60_000)
    table = with_value(table, "open", 4, 103.0)   # same as row 3
    table = with_value(table, "high", 4, 104.0)   # same as row 3
    assert_error(table, 4, "low", "duplicate timestamp 2024-01-01T00:03:00.000Z")


def test_identical_duplicates_are_dropped_with_a_warning():
    table = bars()
    rows = np.array([0, 1, 2, 2, 2, 3, 4, 5])
    doubled = {k: v[rows] for k, v in table.items()}
    with pytest.warns(UserWarning, match=f"{FILE}: dropped 2 duplicate"):
        out = validate(doubled, file=FILE)
    for column, values in table.items():
        np.testing.assert_array_equal(out[column], values)


def test_off_grid_timestamp():
    assert_error(with_value(bars(), "timestamp", 2, T0 + 120_500), 2, "timestamp", "off the 60000 ms grid")


def test_grid_follows_interval():
    table = {k: v[::5] for k, v in bars(20).items()}
    assert validate(table, file=FILE, interval_ms=300_000)["timestamp"].size == 4
    assert_error(bars(), 1, "timestamp", "off the 300000 ms grid", interval_ms=300_000)


@pytest.mark.parametrize("column, row, value", [("high", 1, np.nan), ("volume", 2, np.inf),
                                                ("ask2_size", 5, -np.inf)])
def test_not_finite(column, row, value):
    assert_error(with_value(bars(levels=2), column, row, value), row, column, "not a finite number")


@pytest.mark.parametrize("column, row", [("open", 3), ("low", 0), ("bid2_price", 1), ("ask1_price", 4)])
def test_non_positive_price(column, row):
    assert_error(with_value(bars(levels=2), column, row, 0.0), row, column, "non-positive price")


@pytest.mark.parametrize("column", ["volume", "bid1_size", "ask2_size"])
def test_negative_size(column):
    assert_error(with_value(bars(levels=2), column, 2, -1.0), 2, column, "negative value")


def test_zero_volume_and_size_are_allowed():
    table = with_value(with_value(bars(levels=1), "volume", 1, 0.0), "ask1_size", 2, 0.0)
    validate(table, file=FILE)


def test_high_below_low():
    assert_error(with_value(bars(), "low", 1, 102.5), 1, "high", "high below low")


def test_crossed_book_but_locked_book_is_allowed():
    table = bars(levels=1)
    locked = with_value(table, "bid1_price", 1, table["ask1_price"][1])
    validate(locked, file=FILE)
    crossed = with_value(table, "bid1_price", 2, table["ask1_price"][2] + 0.01)
    assert_error(crossed, 2, "bid1_price", "crossed book")


def test_float_timestamps_rejected():
    table = bars()
    table["timestamp"] = table["timestamp"].astype(np.float64)
    assert_error(table, None, "timestamp", "integer milliseconds")


def test_validate_book_checks_order_and_book():
    book = {k: v for k, v in bars(levels=1).items() if k not in OHLCV}
    book["timestamp"] = book["timestamp"] + 172  # snapshots need not be on the bar grid
    validate_book(book, file="book.csv")
    with pytest.raises(DataError) as err:
        validate_book(with_value(book, "ask1_size", 3, -2.0), file="book.csv")
    assert (err.value.file, err.value.row, err.value.column) == ("book.csv", 3, "ask1_size")


# --- load_market: errors name the original file and row -----------------------------------------

def write_csv(path, table) -> str:
    lines = [",".join(table)] + [",".join(str(v) for v in row) for row in zip(*table.values())]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_error_in_second_file_names_that_file_and_row(tmp_path):
    table = bars(10)
    first = write_csv(tmp_path / "a.csv", {k: v[:5] for k, v in table.items()})
    second = write_csv(tmp_path / "b.csv", with_value({k: v[5:] for k, v in table.items()}, "close", 2, -1.0))
    with pytest.raises(DataError, match="non-positive price") as err:
        load_market([first, second])
    assert (err.value.file, err.value.row, err.value.column) == (second, 2, "close")


def test_overlapping_files_drop_identical_rows_and_reject_conflicts(tmp_path):
    table = bars(10)
    first = write_csv(tmp_path / "a.csv", {k: v[:6] for k, v in table.items()})
    second = write_csv(tmp_path / "b.csv", {k: v[4:] for k, v in table.items()})
    with pytest.warns(UserWarning, match="dropped 2 duplicate"):
        segments, report = load_market([second, first])
    assert report["duplicates_dropped"] == 2 and report["rows_read"] == 12
    np.testing.assert_array_equal(segments[0]["timestamp"], table["timestamp"])

    conflicting = write_csv(tmp_path / "c.csv", with_value({k: v[4:] for k, v in table.items()}, "volume", 1, 9.0))
    with pytest.raises(DataError, match="duplicate timestamp") as err:
        load_market([first, conflicting])
    assert (err.value.file, err.value.row, err.value.column) == (conflicting, 1, "volume")


def test_grids_of_two_files_must_agree(tmp_path):
    table = bars(10)
    first = write_csv(tmp_path / "a.csv", {k: v[:5] for k, v in table.items()})
    shifted = {k: v[5:] for k, v in table.items()} | {"timestamp": table["timestamp"][5:] + 30_000}
    second = write_csv(tmp_path / "b.csv", shifted)
    with pytest.raises(DataError, match="off the 60000 ms grid") as err:
        load_market([first, second])
    assert (err.value.file, err.value.row, err.value.column) == (second, 0, "timestamp")


def test_within_file_duplicates_counted_in_report(tmp_path):
    table = bars()
    rows = np.array([0, 1, 1, 2, 3, 4, 5])
    path = write_csv(tmp_path / "a.csv", {k: v[rows] for k, v in table.items()})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, report = load_market(path)
    assert report["duplicates_dropped"] == 1 and len(caught) == 1
