"""Raw files and Arrow columns -> NumPy numbers, naming the first row that does not parse.

CSV files are read with every column as text; each column is then converted with NumPy (or
Arrow for ISO-8601 times) in one vectorised call. Only when that call fails is the first bad
row searched for, by bisection, so the happy path never loops over rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from hftjax.errors import DataError

_PARSE_ERRORS = (ValueError, TypeError, OverflowError, pa.ArrowInvalid)
_UNIT_MS = {"s": 1000, "ms": 1, "us": 1 / 1000, "ns": 1 / 1_000_000}


# --- raw files ----------------------------------------------------------------------------------

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\x28\xb5\x2f\xfd": "zstd"}

# What one compressed file (a zip member, a gzip, bz2 or zstd file) may expand to. Market CSVs
# compress about 4 times (Binance's 1-minute klines: 3.6); a flat, dead market more, which the
# first EXPANSION_FREE_BYTES allow whatever the ratio; a bomb (1 MB -> 1 GB) is refused after reading at most its bound,
# before anything is parsed: the absolute cap, or the ratio times its compressed size once past
# the first EXPANSION_FREE_BYTES.
EXPANDED_MAX_BYTES = 2 << 30
EXPANSION_MAX_RATIO = 20
EXPANSION_FREE_BYTES = 64 << 20
_READ_BLOCK = 1 << 20


def compression_of(path) -> str | None:
    """The compression of a file from its first bytes, whatever its name says."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise DataError(f"cannot read file: {e.strerror or e}", file=str(path)) from None
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def _input_stream(path):
    return pa.input_stream(str(path), compression=compression_of(path))


def csv_bytes(path) -> bytes:
    """Bytes of a CSV: plain, compressed (gzip, bz2 or zstd, known from the content, not the
    name) or a ``.zip`` of one csv; a compressed one is refused past the expansion bounds above."""
    file = str(path)
    try:
        if Path(path).suffix.lower() == ".zip":
            data = _zip_member(path)
        else:
            compression = compression_of(path)
            with pa.input_stream(file, compression=compression) as stream:
                data = _expand(stream, Path(path).stat().st_size, file=file) if compression else stream.read()
    except (OSError, pa.ArrowException, zipfile.BadZipFile, zlib.error, EOFError) as e:  # damaged or cut short
        raise DataError(f"cannot read file: {e}", file=file) from None
    return data.removeprefix(codecs.BOM_UTF8)


def _zip_member(path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        if len(names) != 1 or not names[0].lower().endswith(".csv"):
            raise DataError(f"a zip must hold exactly one .csv file, found {names}", file=str(path))
        member = archive.getinfo(names[0])
        file = f"{path}:{member.filename}"
        _check_expansion(member.file_size, member.compress_size, file=file)  # as declared: refused unread
        with archive.open(member) as stream:
            return _expand(stream, member.compress_size, file=file)


def _expand(stream, compressed: int, *, file: str) -> bytes:
    """All of a decompressing ``stream``, read a block at a time within the expansion bounds."""
    blocks, size = [], 0
    while block := stream.read(_READ_BLOCK):
        size += len(block)
        _check_expansion(size, compressed, file=file)
        blocks.append(block)
    return b"".join(blocks)


def _check_expansion(size: int, compressed: int, *, file: str) -> None:
    bound = min(EXPANDED_MAX_BYTES, max(EXPANSION_FREE_BYTES, EXPANSION_MAX_RATIO * compressed))
    if size > bound:
        raise DataError(f"expands past {bound:,} bytes from {compressed:,} compressed (at most {EXPANSION_MAX_RATIO} "
                        f"times, and {EXPANDED_MAX_BYTES:,} bytes): refused as a decompression bomb; decompress it "
                        "yourself if you trust it", file=file)


def header_fields(data: bytes, *, file: str) -> list[str]:
    """Fields of the first line (CSV quoting honoured)."""
    first = data[: data.find(b"\n")] if b"\n" in data else data
    try:
        fields = next(csv.reader(io.StringIO(first.decode("utf-8", "replace").strip("\r"))), [])
    except csv.Error as e:  # a field over csv.field_size_limit(), 128 KiB: no header or row of a market file
        raise DataError(f"line 1 (the header, or row 0 without one) cannot be read as CSV: {e}", file=file) from None
    if not fields:
        raise DataError("file is empty", file=file)
    return [f.strip() for f in fields]


def peek_fields(path) -> list[str]:
    """First-line fields of a (possibly compressed) CSV without reading the whole file."""
    try:
        with _input_stream(path) as stream:
            head = stream.read(1 << 16)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"cannot read file: {e}", file=str(path)) from None
    return header_fields(head.removeprefix(codecs.BOM_UTF8), file=str(path))


def read_csv_text(data: bytes, *, file: str, names: list[str], header: bool) -> pa.Table:
    """Every column of ``data`` as text, named ``names``; a row with the wrong field count raises."""
    malformed = []

    def on_malformed(row):  # remember the row, then stop: pyarrow raises ArrowInvalid
        malformed.append(row)
        return "error"

    try:
        return pa_csv.read_csv(
            pa.BufferReader(data),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=int(header), use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_malformed),
            convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names}),
        )
    except pa.ArrowInvalid as e:
        if not malformed:
            raise DataError(f"cannot parse CSV: {e}", file=file) from None
        bad = malformed[0]
        # ``number`` is the 1-based physical line; data rows are 0-based with the header excluded.
        row = None if bad.number is None else bad.number - 1 - int(header)
        raise DataError(f"expected {bad.expected_columns} fields, found {bad.actual_columns}",
                        file=file, row=row) from None


# --- columns ------------------------------------------------------------------------------------

def to_float(array, *, file: str, column: str) -> np.ndarray:
    """float64 values of an Arrow column: text is parsed, numbers cast, nulls become NaN."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _convert(_text(array), _parse_float, file=file, column=column, what="a number")
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) \
            or pa.types.is_null(kind):
        return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    raise DataError(f"expected numbers, found Arrow type {kind}", file=file, column=column)


def to_int(array, *, file: str, column: str) -> np.ndarray:
    """int64 values of an Arrow text or integer column (nulls raise)."""
    _no_nulls(array, file=file, column=column)
    if pa.types.is_integer(array.type):
        return np.asarray(array.cast(pa.int64()).to_numpy(), np.int64)
    return _convert(_text(array), _parse_int, file=file, column=column, what="an integer")


def to_timestamp_ms(array, *, file: str, column: str) -> np.ndarray:
    """UTC milliseconds (int64) from an Arrow timestamp/date column, an integer or float epoch
    in s/ms/us/ns (unit chosen by magnitude) or ISO-8601 text (no zone offset means UTC)."""
    _no_nulls(array, file=file, column=column)
    kind = array.type
    if pa.types.is_timestamp(kind):
        return _scale(np.asarray(array.cast(pa.int64()).to_numpy(), np.int64), _UNIT_MS[kind.unit])
    if pa.types.is_date(kind):
        return np.asarray(array.cast(pa.timestamp("ms")).cast(pa.int64()).to_numpy(), np.int64)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = np.asarray(array.to_numpy())
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(f"non-finite epoch {values[bad[0]]}", file=file, row=int(bad[0]), column=column)
        return epoch_to_ms(values)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _text(array)
        if len(text) and _is_integer(text[0]):
            return epoch_to_ms(_convert(text, _parse_int, file=file, column=column, what="an integer epoch"))
        return _convert(text, _parse_iso_ms, file=file, column=column, what="an ISO-8601 time")
    raise DataError(f"expected timestamps, found Arrow type {kind}", file=file, column=column)


def epoch_to_ms(values: np.ndarray) -> np.ndarray:
    """Epoch times -> int64 ms. The unit is read off the largest magnitude: below 1e11 seconds,
    below 1e14 ms, below 1e17 us, else ns (unambiguous for dates from 1973 to 2286)."""
    values = np.asarray(values)
    peak = float(np.abs(values).max()) if values.size else 0.0
    unit = "s" if peak < 1e11 else "ms" if peak < 1e14 else "us" if peak < 1e17 else "ns"
    if np.issubdtype(values.dtype, np.floating):
        return np.round(values * _UNIT_MS[unit]).astype(np.int64)
    return _scale(values.astype(np.int64), _UNIT_MS[unit])


def _scale(values: np.ndarray, factor: float) -> np.ndarray:
    # Integer scaling; finer units are floored so a time never moves past its true instant.
    if factor >= 1:
        return values * int(factor)
    return values // round(1 / factor)


def _no_nulls(array, *, file: str, column: str) -> None:
    if array.null_count:
        row = int(np.flatnonzero(pc.is_null(array).to_numpy(zero_copy_only=False))[0])
        raise DataError("missing value", file=file, row=row, column=column)


def _text(array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)


def _is_integer(text) -> bool:
    try:
        int(text)
    except (TypeError, ValueError):
        return False
    return True


def _parse_float(text: np.ndarray) -> np.ndarray:
    return text.astype(np.float64)


def _parse_int(text: np.ndarray) -> np.ndarray:
    return text.astype(np.int64)


def _parse_iso_ms(text: np.ndarray) -> np.ndarray:
    strings = pa.array(text, pa.string())
    try:
        times = pc.cast(strings, pa.timestamp("ns"))
    except pa.ArrowInvalid:  # text with a zone offset ("Z", "+07:00") only casts to a zoned type
        times = pc.cast(strings, pa.timestamp("ns", tz="UTC"))
    return np.asarray(times.cast(pa.int64()).to_numpy(), np.int64) // 1_000_000


def _convert(text: np.ndarray, parse: Callable[[np.ndarray], np.ndarray], *, file: str, column: str,
             what: str) -> np.ndarray:
    try:
        return parse(text)
    except _PARSE_ERRORS:
        row = _first_failure(text, parse)
        raise DataError(f"cannot parse {text[row]!r} as {what}", file=file, row=row, column=column) from None


def _first_failure(values: np.ndarray, parse: Callable[[np.ndarray], np.ndarray]) -> int:
    """Index of the first value ``parse`` rejects: bisection, O(n) work in total."""
    lo, hi = 0, len(values)  # values[:lo] parse; values[lo:hi] hold a failure
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            parse(values[lo:mid])
            lo = mid
        except _PARSE_ERRORS:
            hi = mid
    return lo
