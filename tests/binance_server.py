"""A Binance-archive stand-in on the loopback address for the download tests: kline archives
made on request from one deterministic random walk (a zip holding the day's or month's CSV in the
archive's layout), their ``.CHECKSUM`` files, HTTP range requests, and faults on demand: a
wrong checksum, a missing archive, a transfer cut off halfway, and the hostile ones of
``Server.faults``."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.server
import io
import re
import threading
import zipfile

import numpy as np

EPOCH = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
ARCHIVE = re.compile(r"^/data/(spot|futures/um)/(monthly|daily)/klines/(\w+)/1m/(\w+)-1m-([\d-]+)\.zip(\.CHECKSUM)?$")


def kline_csv(first: dt.datetime, minutes: int) -> bytes:
    """Binance's 12 kline columns (no header, ms open times) from the walk, minute by minute."""
    start = int((first - EPOCH).total_seconds() // 60)
    index = np.arange(start, start + minutes)
    rng = np.random.default_rng(index // 1440)  # one stream per day: any day is made alike on its own
    close = 2000 * np.exp(np.cumsum(rng.normal(0, 1e-3, minutes)) + 0.01 * np.sin(index / 5000))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high, low = np.maximum(open_, close) * 1.0005, np.minimum(open_, close) * 0.9995
    volume = 1 + (index % 97) / 10
    ms = int(first.timestamp() * 1000) + np.arange(minutes) * 60_000
    lines = [f"{t},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v:.3f},{t + 59_999},{v * c:.2f},{10 + i % 7},{v / 2:.3f},"
             f"{v * c / 2:.2f},0" for i, (t, o, h, lo, c, v) in enumerate(zip(ms, open_, high, low, close, volume))]
    return ("\n".join(lines) + "\n").encode()


def archive_bytes(period: str, name: str) -> bytes:
    first = dt.datetime.fromisoformat(period + ("-01" if len(period) == 7 else "")).replace(tzinfo=dt.timezone.utc)
    if len(period) == 7:
        following = (first + dt.timedelta(days=32)).replace(day=1)
        minutes = int((following - first).total_seconds() // 60)
    else:
        minutes = 1440
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name.replace(".zip", ".csv"), kline_csv(first, minutes))
    return buffer.getvalue()


class Server:
    """``missing``: archive names answered 404; ``wrong_checksum``: names whose .CHECKSUM lies;
    ``cut_once``: names whose first full transfer stops halfway. ``log``: (path, Range header).

    ``faults``: file name (an archive's or ``NAME.CHECKSUM``) -> how it is answered, every time:
    ``drip`` (the whole response, headers included, a byte every ``drip_s``), ``stall`` (headers,
    then silence), ``huge`` (50 GB announced, sent until the client hangs up), ``endless`` (no
    length announced, sent until the client hangs up), ``cut`` (half the announced bytes),
    ``hang-up`` (the connection closed before any answer),
    ``bad-status`` (not an HTTP status line), ``elsewhere`` (a redirect to the same path at
    ``localhost``, another host than 127.0.0.1), ``here-once`` (a redirect to the same URL, once).
    ``sent``: bytes of the body written per faulty file before the client hung up."""

    def __init__(self):
        self.missing, self.wrong_checksum, self.cut_once = set(), set(), set()
        self.log: list[tuple[str, str | None]] = []
        self.faults: dict[str, str] = {}
        self.sent: dict[str, int] = {}
        self.drip_s = 0.05
        self.closing = threading.Event()  # set when serving ends: a stalled answer gives up
        self._cache: dict[str, bytes] = {}

    def body(self, name: str, period: str) -> bytes:
        if name not in self._cache:
            self._cache[name] = archive_bytes(period, name)
        return self._cache[name]

    def handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.log.append((self.path, self.headers.get("Range")))
                match = ARCHIVE.match(self.path)
                name = match and f"{match[4]}-1m-{match[5]}.zip"
                if not match or name in server.missing:
                    self.send_error(404)
                    return
                body = server.body(name, match[5])
                requested = name + (match[6] or "")
                if requested in server.faults:
                    self.fault(server.faults[requested], requested)
                    return
                if match[6]:
                    digest = hashlib.sha256(body + (b"x" if name in server.wrong_checksum else b"")).hexdigest()
                    self.reply(200, f"{digest}  {name}\n".encode())
                    return
                offset = int(re.match(r"bytes=(\d+)-", self.headers.get("Range") or "bytes=0-")[1])
                if offset >= len(body) and offset:
                    self.send_error(416)
                    return
                if name in server.cut_once and not offset:
                    server.cut_once.discard(name)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    return
                self.reply(206 if offset else 200, body[offset:], offset, len(body))

            def fault(self, kind, requested):
                port = self.server.server_address[1]
                if kind == "here-once":
                    del server.faults[requested]
                if kind in ("elsewhere", "here-once"):
                    host = "localhost" if kind == "elsewhere" else "127.0.0.1"
                    self.send_response(302)
                    self.send_header("Location", f"http://{host}:{port}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif kind == "hang-up":
                    pass  # closed before a status line
                elif kind == "bad-status":
                    self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
                elif kind == "drip":
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + bytes(100_000):
                        if server.closing.wait(server.drip_s) or not self.send(bytes([byte]), requested):
                            return
                elif kind == "cut":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(bytes(500))
                else:
                    self.send_response(200)
                    if kind in ("stall", "huge"):
                        self.send_header("Content-Length", "10000" if kind == "stall" else str(50 << 30))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if kind == "stall":
                        server.closing.wait(30)
                        return
                    while not server.closing.is_set() and self.send(bytes(1 << 16), requested):
                        pass
                self.close_connection = True

            def send(self, data, requested) -> bool:
                """Whether ``data`` went out (False once the client has hung up)."""
                try:
                    self.wfile.write(data)
                except OSError:
                    return False
                server.sent[requested] = server.sent.get(requested, 0) + len(data)
                return True

            def reply(self, status, payload, offset=0, total=None):
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {offset}-{total - 1}/{total}")
                self.end_headers()
                self.wfile.write(payload)
        return Handler


@contextlib.contextmanager
def serving():
    """(Server, base URL) of a stand-in on 127.0.0.1, for the block's duration."""
    state = Server()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        state.closing.set()
        httpd.shutdown()
        httpd.server_close()
