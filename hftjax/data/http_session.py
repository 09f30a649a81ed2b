"""HTTP GET for ``hftjax download``, bounded: each file has an overall deadline (headers
included, so a server dripping a byte a second is stopped) and a stall timeout, redirects are
followed only within the base URL's host, and every failure (an HTTP status, a malformed or
broken response, a timeout, an unreachable host) is one ``DataError`` line naming the URL."""

from __future__ import annotations

import errno
import functools
import http.client
import io
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from hftjax.errors import ConfigError, DataError


class Missing(Exception):
    """The file does not exist on the server (HTTP 404)."""


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
    """GET requests to one base URL: ``start_file`` starts a file's deadline,
    ``get`` opens a response whose every failure is one ``DataError`` line naming the URL."""

    def __init__(self, base_url: str, *, deadline_s: float, stall_s: float):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("--base-url", f"must be an http:// or https:// URL, got {base_url!r}")
        self.base_url, self.host, self.deadline_s, self.stall_s = base_url, parts.netloc.lower(), deadline_s, stall_s
        self.start_file()

    def start_file(self) -> None:
        bounds = {"deadline": time.monotonic() + self.deadline_s, "stall": self.stall_s}

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
            return Response(self, url, self._opener.open(request, timeout=self.stall_s))
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
            return DataError(f"not finished within the deadline of {self.deadline_s:g} s per file (--deadline)",
                             file=url)
        unreachable = isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
        if isinstance(cause, (socket.gaierror, ConnectionRefusedError)) or unreachable:  # offline, or no such host
            return DataError(f"cannot reach host {urllib.parse.urlsplit(url).hostname} "
                             f"({cause.strerror or cause}): check the network, or set --base-url (or "
                             "HFTJAX_BINANCE_URL) to a mirror that can be reached", file=url)
        if isinstance(cause, TimeoutError):
            return TransferCut(f"no byte for {self.stall_s:g} s (--stall-timeout)", file=url)
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
