"""Market data ingestion: readers, validation and gap handling, all ending in a ``Table``."""

from hftjax.data.binance import read_binance_klines
from hftjax.data.gaps import Gap, apply_gap_policy, find_gaps
from hftjax.data.load import load_market, read_input
from hftjax.data.ohlcv import read_ohlcv
from hftjax.data.staged import read_staged
from hftjax.data.table import Table
from hftjax.data.tardis import align_book, read_tardis_book
from hftjax.data.validate import validate, validate_book

__all__ = [
    "Gap", "Table", "align_book", "apply_gap_policy", "find_gaps", "load_market", "read_binance_klines",
    "read_input", "read_ohlcv", "read_staged", "read_tardis_book", "validate", "validate_book",
]
