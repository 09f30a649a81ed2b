"""``hftjax download``: Binance spot and USD-M futures 1-minute klines from the public archive
(data.binance.vision), written in the archive's own layout so that ``hftjax prepare`` reads the
files directly and knows their venue from the folder (``spot/`` or ``futures/um/``).

- **Which archives.** Days in [START, END) (UTC, END exclusive, like ``--split``): a month
  wholly inside the range comes as its monthly archive, the rest as daily archives; a month whose
  monthly archive is not published yet (the current one) falls back to its daily archives.
- **Checked.** Each archive is checked against the sha256 in its published ``.CHECKSUM`` file,
  which is kept beside it; a mismatch removes the download and names both hashes. A file already
  at an archive's place is kept when it is the published archive and otherwise refused, never
  replaced: the only file the command removes is its own ``NAME.part``.
- **Resumable.** A transfer goes to ``NAME.part`` and continues from its end with an HTTP range
  request, after an interruption within the run (a few retries) or in a later run; a finished
  archive whose kept checksum matches is not fetched again.
- **Missing.** Days with no archive at all are named at the end (the symbol may not have traded
  then); everything else is downloaded first.

``HFTJAX_BINANCE_URL`` (or ``base_url``) points at a mirror; the tests serve fixture archives
from the loopback address.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from hftjax.errors import ConfigError, DataError
from hftjax.progress import bar

BASE_URL = "https://data.binance.vision"
MARKETS = {"spot": "spot", "um": "futures/um"}  # --market -> the archive's folder
ATTEMPTS = 3  # tries per archive within one run; each resumes where the last stopped
TIMEOUT_S = 60
BLOCK = 1 << 16


@dataclasses.dataclass(frozen=True)
class Archive:
    folder: str           # e.g. spot/monthly/klines/ETHUSDT/1m
    name: str             # e.g. ETHUSDT-1m-2021-04.zip
    days: tuple[dt.date, ...]  # the UTC days it holds

    @property
    def relative(self) -> str:
        return f"{self.folder}/{self.name}"


class Missing(Exception):
    """The archive does not exist on the server (HTTP 404)."""


def day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(option, f"must be a date YYYY-MM-DD, got {text!r}") from None


def month_days(year: int, month: int) -> list[dt.date]:
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return [first + dt.timedelta(d) for d in range((following - first).days)]


def daily(symbol: str, market: str, days) -> list[Archive]:
    folder = f"{MARKETS[market]}/daily/klines/{symbol}/1m"
    return [Archive(folder, f"{symbol}-1m-{d:%Y-%m-%d}.zip", (d,)) for d in days]


def plan(symbol: str, start: dt.date, end: dt.date, market: str = "spot") -> list[tuple[Archive, list[Archive]]]:
    """(archive, its fallback archives) covering the days in [start, end): a whole month's
    monthly archive with its days' archives as the fallback, or a day's archive alone."""
    if market not in MARKETS:
        raise ConfigError("--market", f"must be one of {', '.join(MARKETS)}, got {market!r}")
    if not start < end:
        raise ConfigError("END", f"must be after START ({start}), got {end}")
    out, year, month = [], start.year, start.month
    while dt.date(year, month, 1) < end:
        days = [d for d in month_days(year, month) if start <= d < end]
        if len(days) == len(month_days(year, month)):
            monthly = Archive(f"{MARKETS[market]}/monthly/klines/{symbol}/1m", f"{symbol}-1m-{year:04d}-{month:02d}.zip",
                              tuple(days))
            out.append((monthly, daily(symbol, market, days)))
        else:
            out += [(a, []) for a in daily(symbol, market, days)]
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _open(url: str, offset: int = 0):
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise Missing(url) from None
        raise


def published_sha256(url: str) -> str:
    """The sha256 of the ``.CHECKSUM`` file beside ``url`` (``<hex>  <name>``)."""
    with _open(url + ".CHECKSUM") as response:
        text = response.read().decode("ascii", "replace").split()
    if not text or len(text[0]) != 64:
        raise DataError(f"is not a sha256 checksum file: {' '.join(text)[:80]!r}", file=url + ".CHECKSUM")
    return text[0].lower()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def transfer(url: str, part: Path) -> None:
    """Append ``url``'s bytes past ``part``'s length to ``part`` (starting it over when the server
    ignores the range), retrying an interrupted transfer from where it stopped."""
    for attempt in range(1, ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        try:
            with _open(url, have) as response:
                resumed = have and response.status == 206
                with open(part, "ab" if resumed else "wb") as f:
                    for block in iter(lambda: response.read(BLOCK), b""):
                        f.write(block)
                if response.length:  # bytes the server announced and never sent: http.client does not raise
                    raise http.client.IncompleteRead(b"", response.length)
            return
        except urllib.error.HTTPError as e:
            if e.code == 416:  # the range starts past the end: the part is not this file's
                part.unlink()
                continue
            raise
        except (http.client.IncompleteRead, ConnectionError, TimeoutError, urllib.error.URLError) as e:
            if isinstance(e, urllib.error.URLError) and not isinstance(e.reason, (ConnectionError, TimeoutError)):
                raise
            if attempt == ATTEMPTS:
                raise DataError(f"transfer interrupted {ATTEMPTS} times ({e.__class__.__name__}); rerun the same "
                                f"command to resume from {part.stat().st_size if part.exists() else 0} bytes",
                                file=url) from None


def fetch(base_url: str, archive: Archive, out: Path) -> Path:
    """The archive under ``out``, downloaded and checked unless a checked copy is there."""
    path = out / archive.relative
    kept = path.with_name(path.name + ".CHECKSUM")
    if path.exists() and kept.exists() and kept.read_text().split()[:1] == [sha256_of(path)]:
        return path
    url = f"{base_url}/data/{archive.relative}"
    expected = published_sha256(url)
    if path.exists():  # a file hftjax did not check: kept when it is the published archive, never replaced
        if sha256_of(path) != expected:
            raise DataError(f"is there already and differs from the published archive (sha256 {expected}); "
                            "hftjax download replaces no file it did not write: move it away and rerun", file=str(path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")  # only ever this download's own partial file
        transfer(url, part)
        got = sha256_of(part)
        if got != expected:
            part.unlink()
            raise DataError(f"sha256 {got} differs from the published {expected}; the download was removed, rerun "
                            "to fetch it again", file=url)
        os.replace(part, path)
    kept.write_text(f"{expected}  {archive.name}\n")
    return path


def download(symbol: str, start: str, end: str, *, market: str = "spot", out: str | Path = "binance",
             base_url: str | None = None, progress: bool = True) -> list[Path]:
    """Download the 1-minute kline archives of ``symbol`` for the days in [start, end) into
    ``out``; returns their paths, oldest first. Raises ``DataError`` naming the days no archive
    holds, after fetching every other one."""
    symbol = symbol.upper()
    base_url = (base_url or os.environ.get("HFTJAX_BINANCE_URL") or BASE_URL).rstrip("/")
    wanted = plan(symbol, day(start, "START"), day(end, "END"), market)
    paths, missing = [], []
    archives = bar(wanted, desc=f"download {symbol}", total=len(wanted), unit="archive", enabled=progress)
    for archive, fallback in archives:
        try:
            paths.append(fetch(base_url, archive, Path(out)))
        except Missing:
            for one in fallback:
                try:
                    paths.append(fetch(base_url, one, Path(out)))
                except Missing:
                    missing += one.days
            if not fallback:
                missing += archive.days
    if missing:
        raise DataError(f"no {market} archive of {symbol} for {describe(missing)} (not traded then, or not "
                        f"published yet); the {len(paths)} other archive(s) are in {out}", file=base_url)
    return paths


def describe(days: list[dt.date]) -> str:
    """Days as runs, e.g. '2021-03-01..2021-03-31, 2021-05-02'."""
    runs, days = [], sorted(days)
    for d in days:
        if runs and (d - runs[-1][1]).days == 1:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)
