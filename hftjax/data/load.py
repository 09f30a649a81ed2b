"""Raw market files -> validated, book-aligned, gap-handled contiguous segments."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hftjax.data.binance import is_kline_header, read_binance_klines
from hftjax.data.gaps import apply_gap_policy, check_gap_options
from hftjax.data.ohlcv import is_parquet, read_ohlcv
from hftjax.data.parse import compression_of, peek_fields
from hftjax.data.staged import read_staged, staged_layout
from hftjax.data.table import MINUTE_MS, Table, concat, num_rows, take
from hftjax.data.tardis import align_book, is_tardis_header, read_tardis_book
from hftjax.data.validate import suspicious_bars, valid_rows, validate_book
from hftjax.errors import DataError


def read_input(path) -> Table:
    """Read any supported file, choosing the reader from its layout: a zip or a 12-column
    kline csv -> Binance; a Tardis snapshot header -> Tardis book; a Parquet file in one of the
    shared layouts -> shared; anything else -> generic OHLCV."""
    if Path(path).suffix.lower() == ".zip":
        return read_binance_klines(path)
    if is_parquet(path):
        if compression_of(path):
            raise DataError(f"is {compression_of(path)}-compressed, not Parquet: decompress it first "
                            f"(e.g. gunzip -c FILE > plain.parquet)", file=str(path))
        try:
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"cannot read Parquet: {e}", file=str(path)) from None
        return read_staged(path) if staged_layout(names) else read_ohlcv(path)
    fields = peek_fields(path)
    if is_tardis_header(fields):
        return read_tardis_book(path)
    if is_kline_header(fields):
        return read_binance_klines(path)
    return read_ohlcv(path)


def load_market(paths, *, interval_ms: int = MINUTE_MS, gap_policy: str = "split",
                max_ffill_minutes: int = 0) -> tuple[list[Table], dict]:
    """Read, merge, validate and segment market files.

    Bar files are validated one by one, then merged in time order (rows repeated identically
    across files are dropped like duplicates; conflicting ones raise). Book-only files are
    merged likewise and aligned onto the bars (``align_book``); bars without a recent snapshot
    are dropped. The gap policy then gives the contiguous segments. Errors name the original
    file and data row. Returns (segments, report).
    """
    check_gap_options(gap_policy, max_ffill_minutes, interval_ms)
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files = [str(p) for p in paths]
    tables = [read_input(p) for p in paths]
    for file, table in zip(files, tables):
        if not num_rows(table):
            raise DataError("has no data rows (only a header?)", file=file)
    is_bars = ["open" in t for t in tables]
    if not any(is_bars):
        raise DataError("no bar (OHLCV) file among the inputs; a book needs bars to align onto",
                        file=", ".join(files))
    bars, origin = _merge(files, tables, is_bars, lambda t, f: valid_rows(t, file=f, interval_ms=interval_ms))
    report = {
        "files": [{"path": f, "kind": "bars" if b else "book", "rows": num_rows(t)}
                  for f, t, b in zip(files, tables, is_bars)],
        "rows_read": sum(num_rows(t) for t in tables),
        "duplicates_dropped": sum(num_rows(t) for t, b in zip(tables, is_bars) if b) - num_rows(bars),
        "bars_without_book": 0,
    }
    if not all(is_bars):
        book, _ = _merge(files, tables, [not b for b in is_bars], _book_rows)
        aligned, report["bars_without_book"] = align_book(bars, book, interval_ms)
        origin = origin[:, np.searchsorted(bars["timestamp"], aligned["timestamp"])]
        bars = aligned
    _warn_suspicious(bars, files, origin)
    label = " + ".join(f for f, b in zip(files, is_bars) if b)
    if not num_rows(bars):
        why = "" if all(is_bars) else ": none has a book snapshot (do the book files cover their time range?)"
        raise DataError(f"no bars left{why}", file=label)
    with _at_origin(files, origin):
        segments, gap_report = apply_gap_policy(bars, policy=gap_policy, max_ffill_minutes=max_ffill_minutes,
                                                interval_ms=interval_ms, file=label)
    report.update(interval_ms=int(interval_ms), gap_policy=gap_policy, max_ffill_minutes=int(max_ffill_minutes),
                  **gap_report)
    return segments, report


def _merge(files, tables, chosen, rows_of) -> tuple[Table, np.ndarray]:
    """The chosen tables, each checked by ``rows_of(table, file) -> kept rows``, concatenated in
    time order and checked again as a whole. Also returns ``origin``: (file index, data row) of
    every merged row, shape (2, rows)."""
    parts, origins = [], []
    for index in np.flatnonzero(chosen):
        table, file = tables[index], files[index]
        if parts and list(table) != list(parts[0]):
            raise DataError(f"columns {list(table)} differ from those of the other files ({list(parts[0])})",
                            file=file)
        rows = rows_of(table, file)
        parts.append(take(table, rows))
        origins.append(np.stack([np.full(len(rows), index), rows]))
    merged, origin = concat(parts), np.concatenate(origins, axis=1)
    if len(parts) == 1:
        return merged, origin
    order = np.argsort(merged["timestamp"], kind="stable")  # ties keep file order
    merged, origin = take(merged, order), origin[:, order]
    label = " + ".join(files[i] for i in np.flatnonzero(chosen))
    with _at_origin(files, origin):
        kept = rows_of(merged, label)
    return take(merged, kept), origin[:, kept]


def _warn_suspicious(bars: Table, files: list[str], origin: np.ndarray) -> None:
    """One warning per kind of odd bar (``suspicious_bars``), naming the first one's file and row."""
    for what, rows, column in suspicious_bars(bars):
        if rows.size:
            file, row = files[origin[0, rows[0]]], int(origin[1, rows[0]])
            more = f"; {rows.size - 1} more such bar(s)" if rows.size > 1 else ""
            warnings.warn(f"{file}, row {row}, column {column!r}: {what}{more}", stacklevel=3)


def _book_rows(book: Table, file: str) -> np.ndarray:
    """Every row of a valid book table is kept (snapshots may share a timestamp)."""
    return np.arange(num_rows(validate_book(book, file=file)))


@contextlib.contextmanager
def _at_origin(files, origin):
    """Re-raise a DataError about a merged row as one about its original file and row."""
    try:
        yield
    except DataError as e:
        if e.row is None:
            raise
        file_index, row = origin[:, e.row]
        raise DataError(e.reason, file=files[file_index], row=int(row), column=e.column) from e
