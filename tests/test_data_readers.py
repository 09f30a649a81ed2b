"""Readers: Binance klines, generic OHLCV, Tardis books, book alignment, the shared files."""

from __future__ import annotations

import contextlib
import gzip
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support import SHARED_DATA, shared_file

from hftjax.cli import main
from hftjax.data import parse
from hftjax.data import (align_book, load_market, read_binance_klines, read_input, read_ohlcv,
                         read_staged, read_tardis_book, validate, validate_book)
from hftjax.data.table import OHLCV, book_columns
from hftjax.errors import DataError

T0 = 1_704_067_200_000  # 2024-01-01T00:00Z in ms
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore")


def kline_lines(n: int = 3, scale: int = 1) -> list[str]:
    """Binance kline rows; ``scale`` 1000 gives microsecond times (spot archives from 2025)."""
    return [f"{(T0 + i * 60_000) * scale},{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i},"
            f"{(T0 + i * 60_000 + 59_999) * scale},1000.0,42,5.0,500.0,0" for i in range(n)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_klines(table, n: int = 3) -> None:
    assert list(table) == ["timestamp", *OHLCV]
    assert table["timestamp"].dtype == np.int64
    np.testing.assert_array_equal(table["timestamp"], T0 + 60_000 * np.arange(n))
    np.testing.assert_allclose(table["close"], 100.5 + np.arange(n))
    assert all(table[c].dtype == np.float64 for c in OHLCV)


# --- Binance ------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("scale", [1, 1000])
def test_binance_csv_header_and_time_unit(tmp_path, header, scale):
    lines = ([KLINE_HEADER] if header else []) + kline_lines(scale=scale)
    path = write(tmp_path / "BTCUSDT-1m-2024-01.csv", lines)
    assert_klines(read_binance_klines(path))
    assert_klines(read_input(path))


def test_binance_zip_with_one_csv(tmp_path):
    path = tmp_path / "BTCUSDT-1m-2024-01.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("BTCUSDT-1m-2024-01.csv", "\n".join(kline_lines()) + "\n")
    assert_klines(read_binance_klines(path))
    assert_klines(read_input(path))


def test_binance_zip_with_two_files_is_an_error(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "\n".join(kline_lines()))
        archive.writestr("b.csv", "\n".join(kline_lines()))
    with pytest.raises(DataError, match="exactly one .csv") as err:
        read_binance_klines(path)
    assert err.value.file == str(path)


def kline_bomb(path: Path, size: int) -> Path:
    """A .zip (one csv) or .csv.gz of one kline row repeated to ``size`` bytes: it compresses
    about 1000 times, as a decompression bomb does, written a block at a time."""
    row = (kline_lines(1)[0] + "\n").encode()
    block = row * ((1 << 20) // len(row))
    with contextlib.ExitStack() as stack:
        if path.suffix == ".zip":
            archive = stack.enter_context(zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED))
            out = stack.enter_context(archive.open("bomb.csv", "w"))
        else:
            out = stack.enter_context(gzip.open(path, "wb"))
        for _ in range(size // len(block)):
            out.write(block)
    return path


@pytest.mark.parametrize("name", ["BTCUSDT-1m-2024-01.zip", "BTCUSDT-1m-2024-01.csv.gz"])
def test_a_decompression_bomb_is_refused_in_bounded_memory(tmp_path, monkeypatch, capsys, name):
    monkeypatch.setattr(parse, "EXPANSION_FREE_BYTES", 1 << 20)  # the ratio bound, at a test's scale
    path = kline_bomb(tmp_path / name, 64 << 20)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"expands past [\d,]+ bytes from [\d,]+ compressed \(at most 20 times, .*"
                                            r"refused as a decompression bomb") as err:
            read_input(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.file.startswith(str(path)) and peak < 24 << 20  # not the 64 MiB it expands to
    assert main(["prepare", str(path), "--out", str(tmp_path / "data"), "-q"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(path) in line and "decompression bomb" in line


def test_an_archive_past_the_absolute_expansion_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(parse, "EXPANDED_MAX_BYTES", 1 << 20)
    path = tmp_path / "BTCUSDT-1m-2024-01.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:  # an ordinary ratio, only too large
        archive.writestr("BTCUSDT-1m-2024-01.csv", "\n".join(kline_lines(20_000)) + "\n")
    with pytest.raises(DataError, match=rf"{path.name}:BTCUSDT-1m-2024-01.csv: expands past 1,048,576 bytes"):
        read_input(path)
    monkeypatch.setattr(parse, "EXPANDED_MAX_BYTES", 4 << 20)
    assert len(read_input(path)["close"]) == 20_000


@pytest.mark.parametrize("name, damage", [("BTCUSDT-1m-2024-01.zip", "bad block"), ("BTCUSDT-1m-2024-01.zip", "cut short"),
                                          ("BTCUSDT-1m-2024-01.csv.gz", "bad block"),
                                          ("BTCUSDT-1m-2024-01.csv.gz", "cut short")])
def test_a_damaged_archive_is_one_line_naming_the_file(tmp_path, capsys, name, damage):
    """A deflate block of an invalid type (zlib.error from a zip member) or an archive cut short
    (a download that broke off): one line naming the file, not a traceback."""
    import gzip

    text = ("\n".join(kline_lines(5_000)) + "\n").encode()
    path = tmp_path / name
    if name.endswith(".zip"):
        member = name.replace(".zip", ".csv")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member, text)
        first = 30 + len(member)  # the member's first deflate byte, after its local header
    else:
        path.write_bytes(gzip.compress(text, mtime=0))
        first = 10  # after the gzip header (no name, no extra field)
    data = bytearray(path.read_bytes())
    if damage == "bad block":
        data[first] |= 0b110  # block type 3: reserved, invalid in every deflate stream
    else:
        del data[len(data) // 2:]
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="cannot read file") as err:
        read_input(path)
    assert err.value.file == str(path)
    assert main(["prepare", str(path), "--out", str(tmp_path / "data"), "-q"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(path) in line


def test_a_csv_field_over_the_csv_limit_is_one_line(tmp_path):
    lines = kline_lines()
    lines[0] = lines[0].replace(",100,", f",1{'0' * 200_000},", 1)  # a field over 128 KiB
    path = write(tmp_path / "BTCUSDT-1m-2024-01.csv", lines)
    with pytest.raises(DataError, match=r"line 1 \(the header, or row 0 without one\) cannot be read as CSV: "
                                        r"field larger than field limit") as err:
        read_input(path)
    assert err.value.file == str(path)


def test_binance_wrong_field_count_names_row(tmp_path):
    lines = kline_lines(4)
    lines[2] = lines[2].rsplit(",", 1)[0]
    path = write(tmp_path / "k.csv", [KLINE_HEADER, *lines])
    with pytest.raises(DataError, match="expected 12 fields, found 11") as err:
        read_binance_klines(path)
    assert (err.value.file, err.value.row) == (str(path), 2)


@pytest.mark.parametrize("header", [False, True])
def test_binance_unparseable_value_names_row_and_column(tmp_path, header):
    lines = kline_lines(5)
    lines[3] = lines[3].replace(",103.5,", ",1O3.5,")
    path = write(tmp_path / "k.csv", ([KLINE_HEADER] if header else []) + lines)
    with pytest.raises(DataError, match="1O3.5") as err:
        read_binance_klines(path)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 3, "close")


# --- generic OHLCV ------------------------------------------------------------------------------

@pytest.mark.parametrize("times", [
    ["2024-01-01 00:00:00", "2024-01-01 00:01:00", "2024-01-01 00:02:00"],
    ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T01:02:00+01:00"],
    [str(T0 // 1000 + 60 * i) for i in range(3)],            # epoch seconds
    [str((T0 + 60_000 * i) * 1_000_000) for i in range(3)],  # epoch nanoseconds
])
def test_ohlcv_csv_time_formats_and_case_insensitive_names(tmp_path, times):
    lines = ["Date,Open,High,Low,Close,Volume"] + [
        f"{t},{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i}" for i, t in enumerate(times)]
    assert_klines(read_ohlcv(write(tmp_path / "bars.csv", lines)))


def test_ohlcv_csv_gz_and_explicit_timestamp_column(tmp_path):
    text = "when,time,open,high,low,close,volume\n" + "".join(
        f"{T0 + 60_000 * i},junk,{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i}\n" for i in range(3))
    path = tmp_path / "bars.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert_klines(read_ohlcv(path, timestamp_column="WHEN"))


def ohlcv_arrow(timestamps: pa.Array, n: int = 3, **extra) -> pa.Table:
    i = np.arange(n, dtype=np.float64)
    return pa.table({"timestamp": timestamps, "open": 100 + i, "high": 101 + i, "low": 99 + i,
                     "close": 100.5 + i, "volume": 10 + i, **extra})


@pytest.mark.parametrize("timestamps", [
    pa.array(T0 + 60_000 * np.arange(3), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
    pa.array((T0 + 60_000 * np.arange(3)) * 1000, pa.int64()).cast(pa.timestamp("us")),
    pa.array((T0 + 60_000 * np.arange(3)) * 1000, pa.int64()),  # epoch microseconds
])
def test_ohlcv_parquet_time_types(tmp_path, timestamps):
    path = tmp_path / "bars.parquet"
    pq.write_table(ohlcv_arrow(timestamps), path)
    assert_klines(read_ohlcv(path))
    assert_klines(read_input(path))


def test_ohlcv_keeps_canonical_book_columns(tmp_path):
    path = tmp_path / "bars.parquet"
    book = {"ASK1_PRICE": [101.0] * 3, "Bid1_Price": [100.0] * 3, "bid1_size": [1.0] * 3,
            "ask1_size": [2.0] * 3, "note": ["x"] * 3}
    pq.write_table(ohlcv_arrow(pa.array(T0 + 60_000 * np.arange(3)), **book), path)
    table = read_ohlcv(path)
    assert list(table) == ["timestamp", *OHLCV, *book_columns(1)]
    np.testing.assert_array_equal(table["ask1_price"], 101.0)


@pytest.mark.parametrize("header, column", [("time,open,high,low,close", "volume"),
                                            ("t,open,high,low,close,volume", "timestamp")])
def test_ohlcv_missing_column(tmp_path, header, column):
    path = write(tmp_path / "bars.csv", [header, ",".join("1" * len(header.split(",")))])
    with pytest.raises(DataError) as err:
        read_ohlcv(path)
    assert (err.value.file, err.value.column) == (str(path), column)


def test_ohlcv_bad_iso_time_names_row(tmp_path):
    lines = ["timestamp,open,high,low,close,volume"] + [
        f"2024-01-01 00:0{i}:00,1,1,1,1,1" for i in range(4)]
    lines[3] = "2024-01-01 00:02:0x,1,1,1,1,1"
    path = write(tmp_path / "bars.csv", lines)
    with pytest.raises(DataError, match="ISO-8601") as err:
        read_ohlcv(path)
    assert (err.value.row, err.value.column) == (2, "timestamp")


# --- Tardis book snapshots and alignment --------------------------------------------------------

def tardis_csv(path: Path, micros: list[int], levels: int = 2) -> Path:
    head = ["exchange", "symbol", "timestamp", "local_timestamp"] + [
        f"{side}[{i}].{field}" for i in range(levels) for side in ("asks", "bids")
        for field in ("price", "amount")]
    rows = [",".join(["binance", "BTCUSDT", str(us), str(us + 5)] + [
        f"{100 + k + 0.5 + i},{1 + i}" if side == "asks" else f"{100 + k - 0.5 - i},{2 + i}"
        for i in range(levels) for side in ("asks", "bids")]) for k, us in enumerate(micros)]
    text = "\n".join([",".join(head), *rows]) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["binance_book_snapshot_5.csv", "binance_book_snapshot_5.csv.gz"])
def test_tardis_book(tmp_path, name):
    path = tardis_csv(tmp_path / name, [T0 * 1000 + 1_999, T0 * 1000 + 61_000_000])
    book = read_tardis_book(path)
    assert list(book) == ["timestamp", *book_columns(2)]
    np.testing.assert_array_equal(book["timestamp"], [T0 + 1, T0 + 61_000])  # us floored to ms
    np.testing.assert_array_equal(book["ask1_price"], [100.5, 101.5])
    np.testing.assert_array_equal(book["bid2_price"], [98.5, 99.5])
    np.testing.assert_array_equal(book["bid2_size"], [3.0, 3.0])
    assert read_input(path).keys() == book.keys()
    validate_book(book, file=name)


def test_align_book_takes_last_snapshot_before_close():
    bars = {"timestamp": T0 + 60_000 * np.arange(5), "close": np.arange(5.0)}
    # Snapshot times (ms after T0); bar k spans [60k, 60(k+1)] s.
    snaps = np.array([-5_000, 30_000, 59_000, 60_000, 130_000, 170_000, 300_000])
    book = {"timestamp": T0 + snaps, "bid1_price": np.arange(7.0), "bid1_size": np.ones(7),
            "ask1_price": np.arange(7.0) + 1, "ask1_size": np.ones(7)}
    merged, dropped = align_book(bars, book)
    # bar 0 -> snapshot at 60 s (its close, inclusive); bar 1 -> 60 s (exactly one interval old);
    # bar 2 -> 170 s; bar 3 (close 240 s): newest is 170 s, too stale; bar 4 -> 300 s.
    np.testing.assert_array_equal(merged["timestamp"], T0 + 60_000 * np.array([0, 1, 2, 4]))
    np.testing.assert_array_equal(merged["bid1_price"], [3, 3, 5, 6])
    assert dropped == 1
    merged, dropped = align_book(bars, book, max_staleness_ms=30_000)
    np.testing.assert_array_equal(merged["bid1_price"], [3, 5, 6])
    assert dropped == 2


def test_load_market_aligns_tardis_book_onto_bars(tmp_path):
    bars = write(tmp_path / "k.csv", kline_lines(4))
    # Snapshots inside bars 0, 1 and 3 (bar 2 has none): bar 2 is dropped, leaving a gap.
    book = tardis_csv(tmp_path / "book.csv", [(T0 + ms) * 1000 for ms in (30_000, 90_000, 200_000)])
    segments, report = load_market([bars, book])
    assert [list(s["timestamp"]) for s in segments] == [[T0, T0 + 60_000], [T0 + 180_000]]
    np.testing.assert_array_equal(segments[0]["ask1_price"], [100.5, 101.5])
    assert segments[1]["ask1_price"][0] == 102.5
    assert report["bars_without_book"] == 1
    assert [f["kind"] for f in report["files"]] == ["bars", "book"]


def test_load_market_needs_bars_covered_by_the_book(tmp_path):
    book = tardis_csv(tmp_path / "book.csv", [T0 * 1000])
    with pytest.raises(DataError, match="no bar"):
        load_market([book])
    late = tardis_csv(tmp_path / "late.csv", [(T0 + 3_600_000) * 1000])
    with pytest.raises(DataError, match="none has a book snapshot"):
        load_market([write(tmp_path / "k.csv", kline_lines(4)), late])


# --- shared real data ---------------------------------------------------------------------------

NULL_VOLUME = "binance_DOTUSDT_1m_2022-05-01_2022-05-31.parquet"
COINBASE = "coinbase_BTCUSD_1m-lob15_2021-04-17_2021-04-18.parquet"
SEQ_BOOK = "tardis-unknownspot_BTCUSDT_1s-lob5_seq75000_79998.parquet"


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared/data is not available")
def test_every_shared_parquet_reads_and_validates():
    files = sorted(SHARED_DATA.glob("*.parquet"))
    assert files
    for path in files:
        table = read_input(path)
        assert table["timestamp"].dtype == np.int64
        assert all(v.dtype == np.float64 for k, v in table.items() if k != "timestamp")
        if path.name == NULL_VOLUME:
            continue
        if "open" in table:
            assert list(table) == ["timestamp", *OHLCV]
            validate(table, file=path.name)
            assert np.all(np.diff(table["timestamp"]) % 60_000 == 0)
        else:
            validate_book(table, file=path.name)


def test_shared_null_volume_is_a_clear_error():
    path = shared_file(NULL_VOLUME)
    with pytest.raises(DataError, match="NaN or null") as err:
        validate(read_staged(path), file=str(path))
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 0, "volume")
    with pytest.raises(DataError, match="NaN or null"):
        load_market([path])


def test_shared_coinbase_book():
    book = read_staged(shared_file(COINBASE))
    assert list(book) == ["timestamp", *book_columns(15)]
    assert np.all(book["timestamp"] % 60_000 < 10_000)  # snapshots fall a few seconds past the minute
    assert np.all(book["bid1_price"] <= book["ask1_price"])
    assert np.all(book["bid15_price"] < book["bid1_price"])
    raw = pq.read_table(shared_file(COINBASE),
                        columns=["midpoint", "asks_distance_0", "asks_notional_0"]).to_pydict()
    price = raw["midpoint"][0] * (1 + raw["asks_distance_0"][0])
    assert book["ask1_price"][0] == pytest.approx(price)
    assert book["ask1_size"][0] * price == pytest.approx(raw["asks_notional_0"][0])


def test_shared_seq_book_uses_one_second_clock():
    path = shared_file(SEQ_BOOK)
    book = read_staged(path)
    assert list(book) == ["timestamp", *book_columns(5)]
    seq = pq.read_table(path, columns=["seq"])["seq"].to_numpy()
    np.testing.assert_array_equal(book["timestamp"], seq * 1000)


def test_shared_coinbase_book_aligned_onto_binance_bars():
    paths = [shared_file("binance_BTCUSDT_1m_2021-04-02_2021-05-20.parquet"),
             shared_file(COINBASE)]
    segments, report = load_market(paths)
    # One snapshot per minute for 602 minutes, two minutes missing: 600 bars get a book.
    assert [len(s["timestamp"]) for s in segments] == [158, 239, 203]
    assert report["bars_without_book"] == 69_927 - 600
    assert all(list(s)[6:] == list(book_columns(15)) for s in segments)
