"""Which market a file holds: its symbol and venue, from the file's metadata or its name.

One dataset is one market: ``prepare`` refuses bar files of different symbols or venues (a
BTCUSDT file beside an ETHUSDT one, spot beside futures), naming both. What is recognised:

- hftjax's own files (``hftjax synth``): symbol ``SYNTH``, venue ``hftjax.synth``, from metadata;
- ``exchange_SYMBOL_interval_...`` (the layout of ``shared/data``): ``binance`` spot,
  ``binance-usdm`` USD-M futures, ``binance-coinm`` COIN-M futures, ``binanceus`` Binance.US spot;
- Binance archives ``SYMBOL-1m-2021-04(.zip|.csv)``, whose venue is the ``spot``, ``futures/um``
  or ``futures/cm`` folder of the download path when there is one;
- freqtrade files ``BTC_USDT-1m(-futures).feather|json``.

A file whose symbol or venue cannot be told is compatible with any: only what is known is
compared.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from hftjax.errors import DataError

VENUES = {"binance": "Binance spot", "binance-usdm": "Binance USD-M futures", "binance-coinm": "Binance COIN-M futures",
          "binanceus": "Binance.US spot", "binance.us": "Binance.US spot"}
_QUOTES = ("USDT", "BUSD", "USDC", "FDUSD", "TUSD", "USD", "BTC", "ETH", "BNB", "EUR")
_SYMBOL = re.compile(rf"^([A-Z0-9]{{2,12}}?)[-_/]?({'|'.join(_QUOTES)})(?:[-_:]PERP)?$")
_EXCHANGE_FIRST = re.compile(r"^(?P<exchange>[a-z][a-z0-9.]*(?:-[a-z0-9]+)*)_(?P<symbol>[A-Za-z0-9]+)_")
_ARCHIVE = re.compile(r"^(?P<symbol>[A-Z0-9]+)-\d+[smhdwM]-\d{4}-\d{2}")
_FREQTRADE = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z]+)-\d+[smhdwM](?P<futures>-futures)?")


GENERATOR = "hftjax.synth"  # the venue of hftjax's own markets, in the metadata ``hftjax synth`` writes


def synth_settings(path) -> dict | None:
    """The generator settings (rows, seed, params) of a market ``hftjax synth`` wrote, or None
    for any other file (or none)."""
    try:
        meta = json.loads((pq.read_schema(path).metadata or {})[b"hftjax"])
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
        return None
    return meta if isinstance(meta, dict) and meta.get("generator") == GENERATOR else None


class Market(NamedTuple):
    symbol: str | None   # e.g. BTCUSDT; None when unknown
    venue: str | None    # e.g. "Binance spot"; None when unknown

    def describe(self) -> str:
        return f"{self.symbol or 'unknown symbol'} on {self.venue or 'an unknown venue'}"


def _symbol(text: str) -> str | None:
    text = text.upper()
    return text.replace("-", "").replace("_", "").replace("/", "") if _SYMBOL.match(text) else None


def _venue_from_path(path: Path) -> str | None:
    parts = [p.lower() for p in path.parts]
    if "futures" in parts:
        after = parts[parts.index("futures") + 1] if parts.index("futures") + 1 < len(parts) else ""
        return {"um": VENUES["binance-usdm"], "cm": VENUES["binance-coinm"]}.get(after)
    return VENUES["binance"] if "spot" in parts else None


def market_of(path: str | Path) -> Market:
    """The market of a file, from hftjax's metadata or the file's name (see the module doc)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet" and synth_settings(path) is not None:
        return Market("SYNTH", GENERATOR)
    name = path.name
    if m := _EXCHANGE_FIRST.match(name):
        exchange = m["exchange"].removesuffix("-inferred")
        return Market(_symbol(m["symbol"]), VENUES.get(exchange, exchange))
    if m := _ARCHIVE.match(name):
        return Market(_symbol(m["symbol"]), _venue_from_path(path))
    if m := _FREQTRADE.match(name):
        return Market(_symbol(m["base"] + m["quote"]), "futures" if m["futures"] else None)
    return Market(None, None)


def check_one_market(paths) -> Market:
    """The one market of ``paths`` (bar files); a ``DataError`` naming two files that differ in
    symbol or venue."""
    known: dict[str, tuple[str, str]] = {}  # field -> (value, file)
    for path in paths:
        market = market_of(path)
        for field in ("symbol", "venue"):
            value = getattr(market, field)
            if value is None:
                continue
            if field in known and known[field][0] != value:
                other, first = known[field]
                raise DataError(f"holds {value} but {first} holds {other}: one dataset is one market "
                                f"(one {field}); prepare each market into its own --out", file=str(path))
            known.setdefault(field, (value, str(path)))
    return Market(known.get("symbol", (None,))[0], known.get("venue", (None,))[0])
