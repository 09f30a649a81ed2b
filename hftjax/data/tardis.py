"""Tardis ``book_snapshot_{5,25}`` CSVs, and aligning any book table onto bars."""

from __future__ import annotations

import numpy as np

from hftjax.data.parse import csv_bytes, header_fields, read_csv_text, to_float, to_int
from hftjax.data.table import BOOK_COLUMN, MINUTE_MS, Table, book_columns, book_levels, num_rows, take
from hftjax.errors import ConfigError, DataError

TARDIS_HEADER = ("exchange", "symbol", "timestamp", "local_timestamp")
_SIDE = {"bid": "bids", "ask": "asks"}
_FIELD = {"price": "price", "size": "amount"}


def is_tardis_header(fields: list[str]) -> bool:
    return tuple(f.lower() for f in fields[: len(TARDIS_HEADER)]) == TARDIS_HEADER


def read_tardis_book(path) -> Table:
    """Book table: ``timestamp`` (exchange time, us floored to ms) and canonical book columns;
    ``asks[i]``/``bids[i]`` become level i+1. Plain or compressed (``.gz``) CSV."""
    file = str(path)
    data = csv_bytes(path)
    names = header_fields(data, file=file)
    if not is_tardis_header(names):
        raise DataError(f"not a Tardis book snapshot header: {names[:4]}", file=file)
    text = read_csv_text(data, file=file, names=names, header=True)
    levels = 0
    while f"asks[{levels}].price" in names:
        levels += 1
    # Flooring keeps a snapshot at or before the instant it was taken.
    book = {"timestamp": to_int(text["timestamp"], file=file, column="timestamp") // 1000}
    for column in book_columns(levels):
        side, level, field = BOOK_COLUMN.fullmatch(column).groups()
        source = f"{_SIDE[side]}[{int(level) - 1}].{_FIELD[field]}"
        if source not in names:
            raise DataError("missing column", file=file, column=source)
        book[column] = to_float(text[source], file=file, column=source)
    return book


def align_book(bars: Table, book: Table, interval_ms: int = MINUTE_MS,
               max_staleness_ms: int | None = None) -> tuple[Table, int]:
    """Bars with the book of the last snapshot at or before each bar's close, and the number
    of bars dropped because they have none.

    A snapshot older than ``max_staleness_ms`` at the close (default ``interval_ms``: it must lie
    inside the bar) does not count, so a book is never carried further than that.
    """
    staleness = interval_ms if max_staleness_ms is None else max_staleness_ms
    if staleness < 0:
        raise ConfigError("max_staleness_ms", f"must be >= 0, got {staleness}")
    columns = book_columns(book_levels(book))
    if not columns:
        raise DataError("book table has no complete book level", column="bid1_price")
    if book_levels(bars):
        raise DataError("bars already carry a book", column="bid1_price")
    close = bars["timestamp"] + interval_ms
    snap = np.searchsorted(book["timestamp"], close, side="right") - 1
    has = snap >= 0
    if num_rows(book):
        has &= close - book["timestamp"][np.maximum(snap, 0)] <= staleness
    merged = take(bars, has)
    merged.update({c: book[c][snap[has]] for c in columns})
    return merged, int(num_rows(bars) - has.sum())
