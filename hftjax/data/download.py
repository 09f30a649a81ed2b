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
import functools
import hashlib
import http.client
import io
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

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


class DeadlinePassed(TimeoutError):
    """The file's overall deadline passed (not worth a retry, unlike a stall)."""


class TransferCut(DataError):
    """A transfer that broke off (a stall, a reset, fewer bytes than announced): resuming may help."""


class _BoundedRaw(io.RawIOBase):
    """A response's socket, read with a timeout of ``stall`` s per read and none past ``deadline``:
    a server dripping a byte a second (headers included) is stopped at the deadline."""

    def __init__(self, sock, deadline: float, stall: float):
        self._sock, self._io, self._deadline, self._stall = sock, sock.makefile("rb", buffering=0), deadline, stall

    def readable(self):
        return True

    def readinto(self, buffer):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed()
        self._sock.settimeout(min(self._stall, left))
        try:
            return self._io.readinto(buffer)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                raise DeadlinePassed() from None
            raise

    def close(self):
        self._io.close()
        super().close()


class _SocketFile:
    """What ``HTTPResponse`` takes as its socket: only ``makefile`` is called, here giving the
    bounded reader."""

    def __init__(self, raw: _BoundedRaw):
        self._raw = raw

    def makefile(self, mode):
        return io.BufferedReader(self._raw)


class _BoundedResponse(http.client.HTTPResponse):
    def __init__(self, sock, *args, deadline: float, stall: float, **kwargs):
        super().__init__(_SocketFile(_BoundedRaw(sock, deadline, stall)), *args, **kwargs)


class _Bounded:
    """An HTTP(S) connection whose responses, headers included, are read through ``_BoundedRaw``."""

    def __init__(self, *args, deadline: float, stall: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.response_class = functools.partial(_BoundedResponse, deadline=deadline, stall=stall)


class _HTTPConnection(_Bounded, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Bounded, http.client.HTTPSConnection):
    pass


class _SameHost(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within ``host``; another host is refused, naming it."""

    def __init__(self, host: str):
        self.host = host

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if target.netloc.lower() != self.host:
            fp.close()
            raise DataError(f"redirected to another host, {target.netloc}; redirects are followed only within "
                            f"{self.host}: to download from there, pass --base-url {target.scheme}://{target.netloc}",
                            file=req.full_url)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class StatusError(DataError):
    """An HTTP error status other than 404; ``code`` says which."""

    def __init__(self, code: int, message: str, *, file: str):
        self.code = code
        super().__init__(message, file=file)


class Session:
    """GET requests to one base URL within ``limits``: ``start_file`` starts a file's deadline,
    ``get`` opens a response whose every failure is one ``DataError`` line naming the URL."""

    def __init__(self, base_url: str, limits: Limits):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("--base-url", f"must be an http:// or https:// URL, got {base_url!r}")
        self.base_url, self.limits, self.host = base_url, limits, parts.netloc.lower()
        self.start_file()

    def start_file(self) -> None:
        self.deadline = time.monotonic() + self.limits.deadline_s
        bounds = {"deadline": self.deadline, "stall": self.limits.stall_s}

        class HTTP(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(functools.partial(_HTTPConnection, **bounds), req)

        class HTTPS(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(functools.partial(_HTTPSConnection, **bounds), req, context=self._context)

        self._opener = urllib.request.build_opener(HTTP, HTTPS, _SameHost(self.host))

    def get(self, url: str, offset: int = 0) -> "Response":
        request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
        try:
            return Response(self, url, self._opener.open(request, timeout=self.limits.stall_s))
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 404:
                raise Missing(url) from None
            raise StatusError(e.code, f"HTTP {e.code} {e.reason}", file=url) from None
        except (OSError, http.client.HTTPException) as e:
            raise self.failure(e, url) from None

    def failure(self, error: BaseException, url: str) -> DataError:
        """``error`` (a socket, HTTP or urllib one) as one line naming ``url``."""
        cause = error.reason if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException) \
            else error
        if isinstance(cause, DeadlinePassed):
            return DataError(f"not finished within the deadline of {self.limits.deadline_s:g} s per file (--deadline)",
                             file=url)
        if isinstance(cause, (socket.gaierror, ConnectionRefusedError)):
            return DataError(f"cannot reach host {urllib.parse.urlsplit(url).hostname} "
                             f"({cause.strerror or cause}): check the network, or set --base-url (or "
                             "HFTJAX_BINANCE_URL) to a mirror that can be reached", file=url)
        if isinstance(cause, TimeoutError):
            return TransferCut(f"no byte for {self.limits.stall_s:g} s (--stall-timeout)", file=url)
        if isinstance(cause, (ConnectionError, http.client.IncompleteRead)):  # RemoteDisconnected included
            return TransferCut(f"the connection broke off ({cause.__class__.__name__})", file=url)
        if isinstance(cause, http.client.HTTPException):
            return DataError(f"not a valid HTTP response ({cause.__class__.__name__}: {str(cause)[:80]!r})", file=url)
        return DataError(f"cannot download ({cause.__class__.__name__}: {str(cause)[:120]!r})", file=url)


class Response:
    """An open response: ``status``, ``length`` (bytes announced and not yet read; None when not
    announced) and ``read``, whose failures are ``Session.failure`` lines."""

    def __init__(self, session: Session, url: str, response):
        self._session, self.url, self._response, self.status = session, url, response, response.status

    @property
    def length(self) -> int | None:
        return self._response.length

    def read(self, size: int) -> bytes:
        try:
            return self._response.read(size)
        except (OSError, http.client.HTTPException) as e:
            raise self._session.failure(e, self.url) from None

    def check_complete(self) -> None:
        if self.length:  # bytes the server announced and never sent: http.client does not raise
            raise TransferCut(f"{self.length:,} bytes announced were never sent", file=self.url)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._response.close()


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


def transfer(session: Session, url: str, part: Path) -> None:
    """Append ``url``'s bytes past ``part``'s length to ``part`` (starting it over when the server
    ignores the range), retrying an interrupted transfer from where it stopped. More than
    ``max_bytes`` in all, announced or received, is refused and the part removed."""
    cap = session.limits.max_bytes
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


def fetch(session: Session, archive: Archive, out: Path) -> Path:
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
        transfer(session, url, part)
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
    session = Session((base_url or os.environ.get("HFTJAX_BINANCE_URL") or BASE_URL).rstrip("/"), limits)
    paths, missing = [], []
    archives = bar(wanted, desc=f"download {symbol}", total=len(wanted), unit="archive", enabled=progress)
    for archive, fallback in archives:
        try:
            paths.append(fetch(session, archive, Path(out)))
        except Missing:
            for one in fallback:
                try:
                    paths.append(fetch(session, one, Path(out)))
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
