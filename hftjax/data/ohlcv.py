"""Generic OHLCV files (CSV, optionally compressed, or Parquet) with a timestamp column."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hftjax.data.parse import csv_bytes, header_fields, read_csv_text, to_float, to_timestamp_ms
from hftjax.data.table import OHLCV, Table, book_columns_in
from hftjax.errors import DataError

TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime", "open_time")
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def read_arrow(path) -> pa.Table:
    """A Parquet file as is, or a CSV (header required) with every column as text."""
    file = str(path)
    if is_parquet(path):
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"cannot read Parquet: {e}", file=file) from None
    data = csv_bytes(path)
    return read_csv_text(data, file=file, names=header_fields(data, file=file), header=True)


def read_ohlcv(path, timestamp_column: str | None = None) -> Table:
    """Timestamp (ms) and OHLCV, plus any canonically named book columns, of a generic file.

    Column names match case-insensitively, so two columns that differ only in case (``close``
    and ``Close``) are ambiguous and refused. Without ``timestamp_column`` the first of
    ``TIMESTAMP_NAMES`` present is used; see ``to_timestamp_ms`` for the accepted time formats.
    """
    file = str(path)
    data = read_arrow(path)
    by_name: dict[str, list[str]] = {}
    for name in data.column_names:
        by_name.setdefault(name.lower(), []).append(name)

    def column(name: str) -> str:
        found = by_name[name.lower()]
        if len(found) > 1:
            raise DataError(f"columns {found[0]!r} and {found[1]!r} both match {name!r} (names match "
                            "case-insensitively), so which one holds the data is ambiguous; rename or drop one",
                            file=file, column=found[1])
        return found[0]

    wanted = [timestamp_column] if timestamp_column else TIMESTAMP_NAMES
    time_name = next((column(n) for n in wanted if n.lower() in by_name), None)
    if time_name is None:
        raise DataError(f"no timestamp column (looked for {', '.join(wanted)})", file=file,
                        column=wanted[0])
    table = {"timestamp": to_timestamp_ms(data[time_name], file=file, column=time_name)}
    for name in (*OHLCV, *book_columns_in(by_name)):
        if name not in by_name:
            raise DataError("missing column", file=file, column=name)
        table[name] = to_float(data[column(name)], file=file, column=column(name))
    return table

