"""The canonical bar table every reader produces.

A ``Table`` is an ordered ``dict`` of equal-length 1-D NumPy arrays:
``timestamp`` (int64, UTC milliseconds, bar open time, on a regular grid), then float64
``open, high, low, close, volume`` and, when a book is present, ``bid{i}_price, bid{i}_size,
ask{i}_price, ask{i}_size`` for i = 1..levels.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

Table = dict[str, np.ndarray]

MINUTE_MS = 60_000
OHLCV = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
# A canonical book column name: side, 1-based level, field.
BOOK_COLUMN = re.compile(r"(bid|ask)([1-9][0-9]*)_(price|size)")


BOOK_LEVELS = 5  # price levels per side of the order book the lob features and the synthetic market use


def book_columns(levels: int) -> tuple[str, ...]:
    """Canonical book column names, level by level: bid price, bid size, ask price, ask size."""
    return tuple(
        name
        for i in range(1, levels + 1)
        for name in (f"bid{i}_price", f"bid{i}_size", f"ask{i}_price", f"ask{i}_size")
    )


def book_columns_in(names) -> list[str]:
    """The canonical book columns among ``names``, in canonical order; a partial level is kept
    so that validation can name its missing column."""
    names = set(names)
    levels = max((int(m.group(2)) for m in map(BOOK_COLUMN.fullmatch, names) if m), default=0)
    return [c for c in book_columns(levels) if c in names]


def book_levels(table: Table) -> int:
    """Number of consecutive book levels present (0 when the table has no book)."""
    levels = 0
    while all(c in table for c in book_columns(levels + 1)[-4:]):
        levels += 1
    return levels


def num_rows(table: Table) -> int:
    return len(table["timestamp"])


def take(table: Table, index) -> Table:
    """Rows ``index`` (a slice, mask or integer array) of every column."""
    return {k: v[index] for k, v in table.items()}


def concat(tables: list[Table]) -> Table:
    """Rows of ``tables`` one after another; they must all have the columns of the first."""
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def utc(timestamp_ms) -> str:
    """ISO-8601 UTC text of a millisecond timestamp, for messages and reports."""
    return f"{np.datetime64(int(timestamp_ms), 'ms')}Z"


def to_arrow(table: Table) -> pa.Table:
    """Arrow table with ``timestamp`` as ``timestamp[ms, tz=UTC]``, like ``../shared/data``."""
    arrays = {
        k: (pa.array(v, pa.int64()).cast(pa.timestamp("ms", tz="UTC")) if k == "timestamp"
            else pa.array(np.asarray(v, np.float64)))
        for k, v in table.items()
    }
    return pa.table(arrays)
