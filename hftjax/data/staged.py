"""The Parquet layouts staged in ``shared/data`` (see its SOURCES.md).

* OHLCV: ``timestamp`` (``timestamp[ms, tz=UTC]``) and OHLCV, read by ``read_ohlcv``.
* Coinbase book (``coinbase_*_1m-lob15_*``): ``midpoint`` and per level i = 0..14
  ``{bids,asks}_distance_i`` (fraction from the midpoint) and ``{bids,asks}_notional_i`` (USD);
  price = midpoint * (1 + distance), size = notional / price, level i -> level i+1.
* Sequenced book (``tardis-unknownspot_*_1s-lob5_seq*``): canonical book columns and a row
  counter ``seq`` instead of a time. The series has a 1-second cadence, so ``timestamp`` is
  taken as ``seq * 1000`` ms (a relative clock starting near the epoch, not wall-clock time);
  the ``mdm_label`` regime label is dropped.
"""

from __future__ import annotations

import pyarrow.parquet as pq

from hftjax.data.ohlcv import read_arrow, read_ohlcv
from hftjax.data.parse import to_float, to_int, to_timestamp_ms
from hftjax.data.table import BOOK_COLUMN, OHLCV, Table, book_columns, book_columns_in
from hftjax.errors import DataError

SEQ_PERIOD_MS = 1000


def staged_layout(names) -> str | None:
    """``"ohlcv"``, ``"coinbase"``, ``"seq"`` or None for the column names of a Parquet file."""
    names = set(names)
    if {"timestamp", "midpoint", "bids_distance_0", "bids_notional_0"} <= names:
        return "coinbase"
    if "seq" in names and any(BOOK_COLUMN.fullmatch(n) for n in names):
        return "seq"
    if {"timestamp", *OHLCV} <= names:
        return "ohlcv"
    return None


def read_staged(path) -> Table:
    """Bar table (OHLCV layout) or book table (the two book layouts) of a shared Parquet file."""
    file = str(path)
    layout = staged_layout(pq.read_schema(path).names)
    if layout == "ohlcv":
        return read_ohlcv(path)
    if layout == "coinbase":
        return _read_coinbase(read_arrow(path), file)
    if layout == "seq":
        return _read_seq(read_arrow(path), file)
    raise DataError("not one of the shared Parquet layouts (OHLCV, Coinbase lob15, seq lob5)", file=file)


def _read_coinbase(data, file: str) -> Table:
    names = set(data.column_names)
    levels = 0
    while f"bids_distance_{levels}" in names:
        levels += 1
    mid = to_float(data["midpoint"], file=file, column="midpoint")
    book = {"timestamp": to_timestamp_ms(data["timestamp"], file=file, column="timestamp")}
    for level in range(levels):
        for side in ("bid", "ask"):
            distance, notional = f"{side}s_distance_{level}", f"{side}s_notional_{level}"
            for source in (distance, notional):
                if source not in names:
                    raise DataError("missing column", file=file, column=source)
            price = mid * (1 + to_float(data[distance], file=file, column=distance))
            book[f"{side}{level + 1}_price"] = price
            book[f"{side}{level + 1}_size"] = to_float(data[notional], file=file, column=notional) / price
    return {"timestamp": book["timestamp"], **{c: book[c] for c in book_columns(levels)}}


def _read_seq(data, file: str) -> Table:
    book = {"timestamp": to_int(data["seq"], file=file, column="seq") * SEQ_PERIOD_MS}
    book.update({c: to_float(data[c], file=file, column=c) for c in book_columns_in(data.column_names)})
    return book
