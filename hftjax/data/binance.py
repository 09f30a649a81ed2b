"""Binance public-archive klines (data.binance.vision monthly/daily files), as csv or zip."""

from __future__ import annotations

from hftjax.data.parse import csv_bytes, epoch_to_ms, header_fields, read_csv_text, to_float, to_int
from hftjax.data.table import OHLCV, Table
from hftjax.errors import DataError

KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                 "quote_asset_volume", "number_of_trades", "taker_buy_base_volume",
                 "taker_buy_quote_volume", "ignore")


def is_kline_header(fields: list[str]) -> bool:
    """True for the first line of a kline file: 12 fields, numeric or a header ending in ``ignore``."""
    return len(fields) == len(KLINE_COLUMNS) and (_is_number(fields[0]) or fields[-1].lower() == "ignore")


def read_binance_klines(path) -> Table:
    """Timestamp (open time, ms) and OHLCV of a kline archive.

    The header row is optional (spot archives have none, futures archives do). Open times are
    in ms, or in us for spot archives from 2025 on; the unit is read off their magnitude.
    """
    file = str(path)
    data = csv_bytes(path)
    fields = header_fields(data, file=file)
    header = not _is_number(fields[0])
    if len(fields) != len(KLINE_COLUMNS):
        raise DataError(f"a kline file has {len(KLINE_COLUMNS)} columns, found {len(fields)}",
                        file=file, row=None if header else 0)
    text = read_csv_text(data, file=file, names=list(KLINE_COLUMNS), header=header)
    table = {"timestamp": epoch_to_ms(to_int(text["open_time"], file=file, column="open_time"))}
    table.update({c: to_float(text[c], file=file, column=c) for c in OHLCV})
    return table


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
