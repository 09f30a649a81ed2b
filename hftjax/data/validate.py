"""Checks a table before use; every failure is a DataError naming file, row and column.

Every check is vectorised: a boolean mask over rows, then ``np.flatnonzero`` for the first
offending row. Messages never quote other row numbers, so callers may remap ``row``.
"""

from __future__ import annotations

import warnings

import numpy as np

from hftjax.data.table import (BOOK_COLUMN, MINUTE_MS, OHLCV, PRICE_COLUMNS, Table, book_columns,
                               take, utc)
from hftjax.errors import DataError

BAR_COLUMNS = ("timestamp", *OHLCV)
MAX_MINUTE_JUMP = 2.0  # a close more than 2x (or under 1/2) the one before is reported as a likely bad print
# The largest price, size or volume accepted. The agents read the features as float32 (max 3.4e38):
# every feature is at most a small multiple of the largest input (a price, depth = the sum of 10
# sizes, ksft = 2c - h - l; products such as size * price are divided by depth again), and its
# square summed over a 360-row window (a rolling or z-score std, a LayerNorm variance) stays
# finite: (10 * 1e15)^2 * 360 = 3.6e34. Real markets stay far below (a meme coin's base volume per
# minute is ~1e12); 1e300 would overflow the std to inf (``"std": null``) in prepare.
MAX_VALUE = 1e15


def validate(table: Table, *, file: str, interval_ms: int = MINUTE_MS) -> Table:
    """The bar table (int64 timestamps, float64 values) with identical duplicate rows dropped,
    with a warning; raises a DataError for anything else that is wrong."""
    table = _checked_columns(table, BAR_COLUMNS, file)
    return take(table, valid_rows(table, file=file, interval_ms=interval_ms))


def valid_rows(table: Table, *, file: str, interval_ms: int = MINUTE_MS) -> np.ndarray:
    """Indices of the rows ``validate`` keeps."""
    table = _checked_columns(table, BAR_COLUMNS, file)
    _check_finite(table, file)
    _check_magnitude(table, file)
    _check_order(table["timestamp"], file)
    duplicates = _duplicates(table, file)
    _check_grid(table["timestamp"], interval_ms, file)
    _check_values(table, file)
    _first(table["high"] < table["low"], "high below low", table["high"], file=file, column="high")
    if duplicates.size:
        warnings.warn(f"{file}: dropped {duplicates.size} duplicate row(s) identical to the row before",
                      stacklevel=3)
    return np.delete(np.arange(len(table["timestamp"])), duplicates)


def validate_book(book: Table, *, file: str) -> Table:
    """A book table (timestamp and book levels only): columns, finite values, time order, prices
    and sizes; snapshots may share a timestamp (the last one is the one that counts)."""
    book = _checked_columns(book, ("timestamp",), file)
    if not any(BOOK_COLUMN.fullmatch(c) for c in book):
        raise DataError("no book columns", file=file, column="bid1_price")
    _check_finite(book, file)
    _check_magnitude(book, file)
    _check_order(book["timestamp"], file)
    _check_values(book, file)
    return book


def _checked_columns(table: Table, required: tuple[str, ...], file: str) -> Table:
    """Required columns and complete book levels present; returns int64/float64 columns."""
    for column in required:
        if column not in table:
            raise DataError("missing column", file=file, column=column)
    levels = max((int(m.group(2)) for m in map(BOOK_COLUMN.fullmatch, table) if m), default=0)
    for column in book_columns(levels):
        if column not in table:
            raise DataError(f"incomplete book level {BOOK_COLUMN.fullmatch(column).group(2)}",
                            file=file, column=column)
    if not np.issubdtype(np.asarray(table["timestamp"]).dtype, np.integer):
        raise DataError("timestamps must be integer milliseconds", file=file, column="timestamp")
    return {k: np.asarray(v, np.int64 if k == "timestamp" else np.float64) for k, v in table.items()}


def _check_finite(table: Table, file: str) -> None:
    for column, values in table.items():
        bad = ~np.isfinite(values)
        if bad.all() and values.size:
            raise DataError(f"no data: all {values.size} values are NaN or null", file=file, row=0,
                            column=column)
        _first(bad, "not a finite number", values, file=file, column=column)


def _check_magnitude(table: Table, file: str) -> None:
    for column, values in table.items():
        if column != "timestamp":
            _first(np.abs(values) > MAX_VALUE, f"beyond {MAX_VALUE:g} in magnitude, where the float32 "
                   "features overflow (a bad print, or a wrong unit?)", values, file=file, column=column)


def _check_order(timestamp: np.ndarray, file: str) -> None:
    back = np.flatnonzero(timestamp[1:] < timestamp[:-1]) + 1
    if back.size:
        row = int(back[0])
        raise DataError(f"timestamp {utc(timestamp[row])} is earlier than the one before "
                        f"({utc(timestamp[row - 1])})", file=file, row=row, column="timestamp")


def _duplicates(table: Table, file: str) -> np.ndarray:
    """Rows repeating the timestamp of the row before (time order already checked); raises if
    any differs from that row in another column."""
    timestamp = table["timestamp"]
    later = np.flatnonzero(timestamp[1:] == timestamp[:-1]) + 1
    columns = [c for c in table if c != "timestamp"]
    if not later.size or not columns:
        return later
    differs = np.stack([table[c][later] != table[c][later - 1] for c in columns])  # (column, dup)
    conflict = np.flatnonzero(differs.any(axis=0))
    if conflict.size:
        dup = conflict[0]
        column = columns[int(np.flatnonzero(differs[:, dup])[0])]
        row = int(later[dup])
        raise DataError(f"duplicate timestamp {utc(timestamp[row])} with a different value "
                        f"({table[column][row]} vs {table[column][row - 1]})",
                        file=file, row=row, column=column)
    return later


def _check_grid(timestamp: np.ndarray, interval_ms: int, file: str) -> None:
    if timestamp.size:
        _first((timestamp - timestamp[0]) % interval_ms != 0,
               f"timestamp off the {interval_ms} ms grid started by the first row",
               timestamp, file=file, column="timestamp", show=utc)


def _check_values(table: Table, file: str) -> None:
    """Prices positive, sizes and volume non-negative, best bid not above best ask."""
    for column, values in table.items():
        match = BOOK_COLUMN.fullmatch(column)
        if column in PRICE_COLUMNS or (match and match.group(3) == "price"):
            _first(values <= 0, "non-positive price", values, file=file, column=column)
        elif column == "volume" or match:
            _first(values < 0, "negative value", values, file=file, column=column)
    if "bid1_price" in table:
        _first(table["bid1_price"] > table["ask1_price"], "crossed book: bid above ask",
               table["bid1_price"], file=file, column="bid1_price")


def _first(mask: np.ndarray, message: str, values: np.ndarray, *, file: str, column: str,
           show=str) -> None:
    """Raise for the first row where ``mask`` holds, quoting its value."""
    bad = np.flatnonzero(mask)
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{message} ({show(values[row])})", file=file, row=row, column=column)


def suspicious_bars(table: Table) -> list[tuple[str, np.ndarray, str]]:
    """What is odd but possible in a valid bar table, as (what, rows, column) for the warnings:
    an open or a close outside [low, high] (an inconsistent bar), and a close more than
    ``MAX_MINUTE_JUMP`` times (or under its inverse) the close before (a spike, or files of two
    markets merged)."""
    close = table["close"]
    ratio = close[1:] / close[:-1]
    jumps = np.flatnonzero((ratio > MAX_MINUTE_JUMP) | (ratio < 1 / MAX_MINUTE_JUMP)) + 1
    return [*(_outside_range(table, column) for column in ("open", "close")),
            (f"close jumps from {close[jumps[0] - 1]} to {close[jumps[0]]} in one bar, beyond the "
             f"{MAX_MINUTE_JUMP:g}x bound (a bad print, or two markets merged?)" if jumps.size else "", jumps, "close")]


def _outside_range(table: Table, column: str) -> tuple[str, np.ndarray, str]:
    values, low, high = table[column], table["low"], table["high"]
    rows = np.flatnonzero((values < low) | (values > high))
    what = (f"{column} outside [low, high] ({values[rows[0]]} not in [{low[rows[0]]}, {high[rows[0]]}])"
            if rows.size else "")
    return what, rows, column
