"""Download order-book snapshots in the layout ``hftjax prepare`` reads. Needs internet; CI never runs it.

Binance 1-minute klines come with ``hftjax download`` (checksummed, resumable):
    hftjax download ETHUSDT 2022-02-01 2023-11-01 --out raw/
Tardis ``book_snapshot_5`` files (one .csv.gz per day; the first day of each month is free,
other days need an API key in $TARDIS_API_KEY):
    python data_prep/download.py book binance ETHUSDT 2022-02-01 2022-02-03 --out raw/
Then:
    hftjax prepare raw/spot/*/klines/ETHUSDT/1m/*.zip raw/binance_book_snapshot_5_*_ETHUSDT.csv.gz --out data/eth \
        --split train=2022-02-01:2023-02-01 --split valid=2023-02-01:2023-06-01 --split test=2023-06-01:2023-11-01
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hftjax.io import atomic_path  # noqa: E402

BOOK_URL = "https://datasets.tardis.dev/v1/{e}/book_snapshot_5/{d:%Y/%m/%d}/{s}.csv.gz"


def fetch(url: str, path: Path, headers: dict | None = None) -> bytes:
    """Download ``url`` into ``path`` atomically (skipped when present); returns the bytes."""
    if path.exists():
        return path.read_bytes()
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    with atomic_path(path) as tmp:
        tmp.write_bytes(body)
    print(f"{path} ({len(body) / 1e6:.1f} MB)")
    return body


def download_book(exchange: str, symbol: str, first: str, last: str, out: Path) -> None:
    key = os.environ.get("TARDIS_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    while day <= end:
        name = f"{exchange}_book_snapshot_5_{day:%Y-%m-%d}_{symbol}.csv.gz"
        fetch(BOOK_URL.format(e=exchange, d=day, s=symbol), out / name, headers)
        day += dt.timedelta(days=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("book", help="Tardis book_snapshot_5 days")
    b.add_argument("exchange")
    b.add_argument("symbol")
    b.add_argument("first_day", help="YYYY-MM-DD")
    b.add_argument("last_day", help="YYYY-MM-DD")
    b.add_argument("--out", type=Path, default=Path("raw"))
    args = parser.parse_args()
    download_book(args.exchange, args.symbol.upper(), args.first_day, args.last_day, args.out)


if __name__ == "__main__":
    main()
