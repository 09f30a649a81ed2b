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
- **Bounded.** A symbol is 2 to 20 letters or digits and every path written lies inside ``out``.
  Each file has an overall deadline (its checksum, the archive and the retries) and a stall
  timeout, each archive a size cap (the length announced and the bytes received), a checksum file
  a few KiB. Redirects are followed only within the host of the base URL. Every failure is one
  ``DataError`` line naming the URL (the host, when it cannot be reached).

``HFTJAX_BINANCE_URL`` (or ``base_url``) points at a mirror; the tests serve fixture archives
from the loopback address.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
from pathlib import Path

from hftjax.data.http_session import Missing, Session, StatusError, TransferCut
from hftjax.errors import ConfigError, DataError
from hftjax.progress import bar

BASE_URL = "https://data.binance.vision"
MARKETS = {"spot": "spot", "um": "futures/um"}  # --market -> the archive's folder
ATTEMPTS = 3  # tries per archive within one run; each resumes where the last stopped
BLOCK = 1 << 16
SYMBOL = re.compile(r"[A-Z0-9]{2,20}")  # it becomes part of every path written
CHECKSUM_MAX_BYTES = 4096  # a .CHECKSUM file is one line: a sha256 and the archive's name


@dataclasses.dataclass(frozen=True)
class Limits:
    """How long and how large the download of one archive may be. A monthly 1-minute archive
    is a few MB: the defaults leave a wide margin and still stop a server that drips bytes
    for hours or announces 50 GB."""
    deadline_s: float = 900.0    # one file, from its checksum to its last byte, retries included
    stall_s: float = 60.0        # without a byte received
    max_bytes: int = 512 << 20   # one archive, announced or received

    def __post_init__(self):
        for option, value in (("--deadline", self.deadline_s), ("--stall-timeout", self.stall_s),
                              ("--max-archive-mb", self.max_bytes)):
            if not value > 0:
                raise ConfigError(option, f"must be positive, got {value}")


@dataclasses.dataclass(frozen=True)
class Archive:
    folder: str           # e.g. spot/monthly/klines/ETHUSDT/1m
    name: str             # e.g. ETHUSDT-1m-2021-04.zip
    days: tuple[dt.date, ...]  # the UTC days it holds

    @property
    def relative(self) -> str:
        return f"{self.folder}/{self.name}"


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
    if not SYMBOL.fullmatch(symbol):
        raise ConfigError("SYMBOL", f"must be 2 to 20 capital letters or digits, e.g. ETHUSDT, got {symbol!r}")
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


def published_sha256(session: Session, url: str) -> str:
    """The sha256 of the ``.CHECKSUM`` file beside ``url`` (``<hex>  <name>``), read only to
    ``CHECKSUM_MAX_BYTES``."""
    url += ".CHECKSUM"
    too_long = DataError(f"is longer than {CHECKSUM_MAX_BYTES} bytes: not a checksum file", file=url)
    with session.get(url) as response:
        if response.length is not None and response.length > CHECKSUM_MAX_BYTES:
            raise too_long
        data = response.read(CHECKSUM_MAX_BYTES + 1)
        if len(data) > CHECKSUM_MAX_BYTES:
            raise too_long
        response.check_complete()
    text = data.decode("ascii", "replace").split()
    if not text or len(text[0]) != 64:
        raise DataError(f"is not a sha256 checksum file: {' '.join(text)[:80]!r}", file=url)
    return text[0].lower()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def transfer(session: Session, url: str, part: Path, max_bytes: int) -> None:
    """Append ``url``'s bytes past ``part``'s length to ``part`` (starting it over when the server
    ignores the range), retrying an interrupted transfer from where it stopped. More than
    ``max_bytes`` in all, announced or received, is refused and the part removed."""
    cap = max_bytes
    for attempt in range(1, ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        try:
            with session.get(url, have) as response:
                start = have if have and response.status == 206 else 0
                if response.length is not None and start + response.length > cap:
                    raise DataError(f"announces {start + response.length:,} bytes, over the cap of {cap:,} per archive "
                                    "(--max-archive-mb)", file=url)
                size = start
                with open(part, "ab" if start else "wb") as f:
                    while size <= cap and (block := response.read(BLOCK)):
                        size += len(block)
                        f.write(block)
                if size > cap:
                    part.unlink()
                    raise DataError(f"sent more than the cap of {cap:,} bytes per archive (--max-archive-mb); "
                                    "the part received was removed", file=url)
                response.check_complete()
            return
        except StatusError as e:
            if e.code == 416 and have:  # the range starts past the end: the part is not this file's
                part.unlink()
                continue
            raise
        except TransferCut as e:
            if attempt == ATTEMPTS:
                raise DataError(f"transfer interrupted {ATTEMPTS} times (last: {e.reason}); rerun the same command "
                                f"to resume from {part.stat().st_size if part.exists() else 0} bytes", file=url) from None


def fetch(session: Session, archive: Archive, out: Path, max_bytes: int) -> Path:
    """The archive under ``out``, downloaded and checked unless a checked copy is there."""
    path = inside(out, archive.relative)
    kept = path.with_name(path.name + ".CHECKSUM")
    if path.exists() and kept.exists() and kept.read_text().split()[:1] == [sha256_of(path)]:
        return path
    url = f"{session.base_url}/data/{archive.relative}"
    session.start_file()
    expected = published_sha256(session, url)
    if path.exists():  # a file hftjax did not check: kept when it is the published archive, never replaced
        if sha256_of(path) != expected:
            raise DataError(f"is there already and differs from the published archive (sha256 {expected}); "
                            "hftjax download replaces no file it did not write: move it away and rerun", file=str(path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")  # only ever this download's own partial file
        transfer(session, url, part, max_bytes)
        got = sha256_of(part)
        if got != expected:
            part.unlink()
            raise DataError(f"sha256 {got} differs from the published {expected}; the download was removed, rerun "
                            "to fetch it again", file=url)
        os.replace(part, path)
    kept.write_text(f"{expected}  {archive.name}\n")
    return path


def inside(out: Path, relative: str) -> Path:
    """``out / relative``, refused unless it lies inside ``out`` (compared after resolving ``..``)."""
    path = out / relative
    if not Path(os.path.normpath(path.absolute())).is_relative_to(os.path.normpath(out.absolute())):
        raise DataError(f"would be written outside --out {out}; refused", file=str(path))
    return path


def download(symbol: str, start: str, end: str, *, market: str = "spot", out: str | Path = "binance",
             base_url: str | None = None, limits: Limits = Limits(), progress: bool = True) -> list[Path]:
    """Download the 1-minute kline archives of ``symbol`` for the days in [start, end) into
    ``out``; returns their paths, oldest first. Raises ``DataError`` naming the days no archive
    holds, after fetching every other one."""
    symbol = symbol.upper()
    wanted = plan(symbol, day(start, "START"), day(end, "END"), market)
    session = Session((base_url or os.environ.get("HFTJAX_BINANCE_URL") or BASE_URL).rstrip("/"),
                      deadline_s=limits.deadline_s, stall_s=limits.stall_s)
    paths, missing = [], []
    archives = bar(wanted, desc=f"download {symbol}", total=len(wanted), unit="archive", enabled=progress)
    for archive, fallback in archives:
        try:
            paths.append(fetch(session, archive, Path(out), limits.max_bytes))
        except Missing:
            for one in fallback:
                try:
                    paths.append(fetch(session, one, Path(out), limits.max_bytes))
                except Missing:
                    missing += one.days
            if not fallback:
                missing += archive.days
    if missing:
        raise DataError(f"no {market} archive of {symbol} for {describe(missing)} (not traded then, or not "
                        f"published yet); the {len(paths)} other archive(s) are in {out}", file=session.base_url)
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
