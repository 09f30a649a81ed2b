"""``hftjax download`` against a Binance-archive stand-in on the loopback address
(``tests.binance_server``): the archives planned, checksums, resuming, missing days, the
files ``prepare`` reads directly, and the bounds that hold against a hostile or broken server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import re
import socket
import time

import pytest

from hftjax.cli import main
from hftjax.data.download import Archive, Limits, download, fetch, plan
from hftjax.data.http_session import Session
from hftjax.errors import DataError
from tests.binance_server import serving

D = dt.date


def test_plan_takes_whole_months_monthly_and_the_rest_daily():
    wanted = plan("ETHUSDT", D(2021, 3, 30), D(2021, 6, 3))
    names = [a.name for a, _ in wanted]
    assert names == ["ETHUSDT-1m-2021-03-30.zip", "ETHUSDT-1m-2021-03-31.zip", "ETHUSDT-1m-2021-04.zip",
                     "ETHUSDT-1m-2021-05.zip", "ETHUSDT-1m-2021-06-01.zip", "ETHUSDT-1m-2021-06-02.zip"]
    april, fallback = wanted[2]
    assert april.folder == "spot/monthly/klines/ETHUSDT/1m" and len(fallback) == 30 and len(april.days) == 30
    assert plan("BTCUSDT", D(2024, 2, 1), D(2024, 3, 1), "um")[0][0].relative == \
        "futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-02.zip"


def test_downloads_check_and_become_a_prepared_dataset(tmp_path):
    with serving() as (server, url):
        paths = download("ethusdt", "2021-04-29", "2021-05-03", out=tmp_path / "raw", base_url=url, progress=False)
        assert [p.name for p in paths] == [f"ETHUSDT-1m-2021-{d}.zip" for d in ("04-29", "04-30", "05-01", "05-02")]
        for p in paths:
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.with_name(p.name + ".CHECKSUM").read_text().split()[0]
        fetched = len(server.log)
        assert download("ETHUSDT", "2021-04-29", "2021-05-03", out=tmp_path / "raw", base_url=url, progress=False) == paths
        assert len(server.log) == fetched  # checked copies are not fetched again
    assert main(["prepare", *map(str, paths), "--out", str(tmp_path / "data"), "--features", "ohlcv", "--chunk-len", "720", "-q"]) == 0
    import json
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["market"] == {"symbol": "ETHUSDT", "venue": "Binance spot"}
    assert sum(s["rows"] for s in manifest["splits"].values()) == 4 * 1440 - 360  # every minute, less the warm-up


def test_a_wrong_checksum_is_named_and_the_file_removed(tmp_path):
    with serving() as (server, url):
        server.wrong_checksum.add("ETHUSDT-1m-2021-04-02.zip")
        with pytest.raises(DataError, match=r"2021-04-02\.zip: sha256 [0-9a-f]{64} differs from the published"):
            download("ETHUSDT", "2021-04-01", "2021-04-03", out=tmp_path, base_url=url, progress=False)
        folder = tmp_path / "spot/daily/klines/ETHUSDT/1m"
        assert (folder / "ETHUSDT-1m-2021-04-01.zip").exists()
        assert not list(folder.glob("*04-02.zip*"))  # neither the archive nor a part of it
        server.wrong_checksum.clear()
        assert len(download("ETHUSDT", "2021-04-01", "2021-04-03", out=tmp_path, base_url=url, progress=False)) == 2


def test_a_missing_month_falls_back_to_days_and_missing_days_are_named(tmp_path, capsys):
    with serving() as (server, url):
        server.missing.add("ETHUSDT-1m-2021-02.zip")  # not published monthly: its days are fetched
        paths = download("ETHUSDT", "2021-02-01", "2021-03-01", out=tmp_path, base_url=url, progress=False)
        assert len(paths) == 28 and paths[0].name == "ETHUSDT-1m-2021-02-01.zip"
        server.missing |= {"ETHUSDT-1m-2021-03.zip", *(f"ETHUSDT-1m-2021-03-{d:02d}.zip" for d in range(1, 32))}
        code = main(["download", "ETHUSDT", "2021-02-27", "2021-03-02", "--out", str(tmp_path), "--base-url", url, "-q"])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no spot archive of ETHUSDT for 2021-03-01 (" in err[0] and "2 other archive(s)" in err[0]


def test_an_interrupted_transfer_resumes_where_it_stopped(tmp_path):
    with serving() as (server, url):
        name = "ETHUSDT-1m-2021-04-05.zip"
        server.cut_once.add(name)
        [path] = download("ETHUSDT", "2021-04-05", "2021-04-06", out=tmp_path, base_url=url, progress=False)
        ranges = [r for p, r in server.log if p.endswith(name)]
        assert ranges[0] is None and ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0  # the rest only
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.with_name(name + ".CHECKSUM").read_text().split()[0]
        # a part left by a killed run: the next run asks for the rest only
        other = "ETHUSDT-1m-2021-04-06.zip"
        whole = server.body(other, "2021-04-06")
        part = path.with_name(other + ".part")
        part.write_bytes(whole[:1000])
        download("ETHUSDT", "2021-04-06", "2021-04-07", out=tmp_path, base_url=url, progress=False)
        assert [r for p, r in server.log if p.endswith(other)] == ["bytes=1000-"]
        assert path.with_name(other).read_bytes() == whole and not part.exists()


def test_a_file_already_in_place_is_kept_when_published_and_never_replaced(tmp_path):
    with serving() as (server, url):
        name = "ETHUSDT-1m-2021-04-08.zip"
        folder = tmp_path / "spot/daily/klines/ETHUSDT/1m"
        folder.mkdir(parents=True)
        (folder / name).write_bytes(b"the user's own file")
        with pytest.raises(DataError, match=r"is there already and differs from the published archive"):
            download("ETHUSDT", "2021-04-08", "2021-04-09", out=tmp_path, base_url=url, progress=False)
        assert (folder / name).read_bytes() == b"the user's own file" and not (folder / (name + ".part")).exists()
        (folder / name).write_bytes(server.body(name, "2021-04-08"))  # the published archive, fetched elsewhere
        download("ETHUSDT", "2021-04-08", "2021-04-09", out=tmp_path, base_url=url, progress=False)
        assert not [p for p, _ in server.log if p.endswith(".zip")]  # kept as it is, only its checksum fetched


# --- bounded: hostile or broken servers (issue 30) ------------------------------------------------

DAY = "ETHUSDT-1m-2021-04-10.zip"
FAST = Limits(deadline_s=1.0, stall_s=0.3, max_bytes=1 << 20)  # a daily fixture archive is ~100 KB


def fetch_day(tmp_path, url, limits=FAST):
    return download("ETHUSDT", "2021-04-10", "2021-04-11", out=tmp_path, base_url=url, limits=limits, progress=False)


def one_line_error(argv, capsys) -> str:
    """The error of ``hftjax download ARGV``, which must be one line with exit 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hftjax download: error: "), err
    return err[0].removeprefix("hftjax download: error: ")


def test_a_server_dripping_bytes_is_stopped_at_the_file_deadline(tmp_path):
    with serving() as (server, url):
        server.faults[DAY] = "drip"  # a byte every 0.05 s, headers included: never a stall
        began = time.monotonic()
        with pytest.raises(DataError, match=rf"{DAY}: not finished within the deadline of 1 s per file \(--deadline\)"):
            fetch_day(tmp_path, url)
        assert time.monotonic() - began < 3


def test_a_stalled_transfer_is_retried_then_named(tmp_path):
    with serving() as (server, url):
        server.faults[DAY] = "stall"
        began = time.monotonic()
        with pytest.raises(DataError, match=r"interrupted 3 times \(last: no byte for 0.3 s \(--stall-timeout\)\)"):
            fetch_day(tmp_path, url, dataclasses.replace(FAST, deadline_s=10))
        assert time.monotonic() - began < 3


@pytest.mark.parametrize("fault, message", [("huge", r"announces 53,687,091,200 bytes, over the cap of 1,048,576"),
                                            ("endless", r"sent more than the cap of 1,048,576 bytes")])
def test_an_archive_over_the_size_cap_is_refused(tmp_path, fault, message):
    with serving() as (server, url):
        server.faults[DAY] = fault
        with pytest.raises(DataError, match=rf"{DAY}: {message} per archive"):
            fetch_day(tmp_path, url)
        assert server.sent.get(DAY, 0) < 64 << 20  # what the socket buffers took, not 50 GB
    assert not list(tmp_path.rglob("*.zip*"))  # no part left to fill the disk


@pytest.mark.parametrize("fault", ["huge", "endless"])
def test_a_huge_checksum_file_is_refused_without_being_read(tmp_path, fault):
    with serving() as (server, url):
        server.faults[DAY + ".CHECKSUM"] = fault
        with pytest.raises(DataError, match=rf"{DAY}.CHECKSUM: is longer than 4096 bytes: not a checksum file"):
            fetch_day(tmp_path, url)
        assert server.sent.get(DAY + ".CHECKSUM", 0) < 64 << 20
        assert not [p for p, _ in server.log if p.endswith(".zip")]  # the archive is not asked for


def test_a_redirect_is_followed_only_within_the_base_urls_host(tmp_path):
    with serving() as (server, url):
        server.faults[DAY] = "elsewhere"
        port = url.rsplit(":", 1)[1]
        with pytest.raises(DataError, match=rf"{DAY}: redirected to another host, localhost:{port}; .* pass --base-url "
                                            rf"http://localhost:{port}"):
            fetch_day(tmp_path, url)
        assert not [p for p, _ in server.log if p.endswith(".zip")][1:]  # the other host was not asked
        server.faults[DAY] = "here-once"
        [path] = fetch_day(tmp_path, url)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.with_name(DAY + ".CHECKSUM").read_text().split()[0]


@pytest.mark.parametrize("fault, file, message", [
    ("bad-status", DAY, r"not a valid HTTP response \(BadStatusLine: "),
    ("cut", DAY + ".CHECKSUM", r"500 bytes announced were never sent"),
    ("hang-up", DAY + ".CHECKSUM", r"the connection broke off \(RemoteDisconnected\)"),
    ("cut", DAY, r"transfer interrupted 3 times \(last: 500 bytes announced were never sent\)"),
    ("hang-up", DAY, r"transfer interrupted 3 times \(last: the connection broke off \(RemoteDisconnected\)\)"),
])
def test_a_broken_response_is_one_line_naming_the_url(tmp_path, capsys, fault, file, message):
    with serving() as (server, url):
        server.faults[file] = fault
        line = one_line_error(["download", "ETHUSDT", "2021-04-10", "2021-04-11", "--out", str(tmp_path),
                               "--base-url", url, "-q"], capsys)
    assert re.search(rf"^{url}/data/spot/daily/klines/ETHUSDT/1m/{re.escape(file)}: {message}", line), line


@pytest.mark.parametrize("host, call, error", [
    ("archive.example.invalid", "getaddrinfo", socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
    ("192.0.2.1", "create_connection", OSError(errno.ENETUNREACH, "Network is unreachable")),  # offline, an IP
])
def test_an_unreachable_host_is_named_with_the_base_url_option(tmp_path, capsys, monkeypatch, host, call, error):
    def offline(*args, **kwargs):
        raise error

    monkeypatch.setattr(socket, call, offline)
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    line = one_line_error(["download", "ETHUSDT", "2021-04-10", "2021-04-11", "--out", str(tmp_path),
                           "--base-url", f"http://{host}", "-q"], capsys)
    assert f"cannot reach host {host} ({error.strerror}): check the network" in line
    assert "--base-url (or HFTJAX_BINANCE_URL)" in line and "Traceback" not in line


def test_a_symbol_that_is_a_path_is_refused_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "x" / "inner"
    with serving() as (server, url):
        line = one_line_error(["download", "../../../../../ESC", "2021-01-01", "2021-01-02", "--out", str(out),
                               "--base-url", url, "-q"], capsys)
        assert not server.log  # refused before any request
    assert line == "option 'SYMBOL': must be 2 to 20 capital letters or digits, e.g. ETHUSDT, got '../../../../../ESC'"
    assert not list(tmp_path.rglob("*"))


def test_every_path_written_lies_inside_out(tmp_path):
    escaping = Archive("spot/daily/klines/../../../../elsewhere", "ETHUSDT-1m-2021-01-01.zip", (D(2021, 1, 1),))
    with pytest.raises(DataError, match=r"would be written outside --out .*; refused"):
        fetch(Session("http://127.0.0.1:9", deadline_s=1, stall_s=1), escaping, tmp_path / "out", FAST.max_bytes)
    assert not list(tmp_path.rglob("*"))


def test_limits_are_checked(capsys):
    line = one_line_error(["download", "ETHUSDT", "2021-04-10", "2021-04-11", "--stall-timeout", "0"], capsys)
    assert line == "option '--stall-timeout': must be positive, got 0.0"
