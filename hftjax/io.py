"""Atomic writes: every output goes to a temporary path first, then is renamed into place.

A temporary is named ``.NAME.<pid>.XXXX.tmp`` after the path it becomes and the process writing
it, so the next write of that path removes what a process that died (kill -9, power loss) left.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

from hftjax.rundir import pid_running


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: Path, path: Path, mode: int) -> None:
    """Give the temporary (private by construction) the usual permissions, then rename it."""
    os.chmod(tmp, mode & ~_umask())
    os.replace(tmp, path)

import pyarrow as pa
import pyarrow.parquet as pq


# a temporary's owner is this host and process: on a filesystem that several hosts share, a pid
# says nothing about another host's processes, so only this host's temporaries are ever cleared
HOST = re.sub(r"[^A-Za-z0-9]", "-", socket.gethostname())[:40] or "host"


def _prefix(path: Path) -> str:
    return f".{path.name}.{HOST}-{os.getpid()}."


def clear_stale(path: Path) -> None:
    """Remove the temporaries of ``path`` whose process (on this host) is gone, and put back an
    old ``path`` that ``atomic_dir`` had moved aside when its process died before the new one took
    its place. A live process's temporaries are its work in progress, another host's are not
    ours to judge: kept."""
    stale = re.compile(rf"\.{re.escape(path.name)}\.{re.escape(HOST)}-(\d+)\.\w+\.(tmp|old)")
    for entry in list(path.parent.iterdir()):
        found = stale.fullmatch(entry.name)
        if not found or pid_running(int(found[1])):
            continue
        if found[2] == "old" and not path.exists():
            os.replace(entry, path)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        _publish(tmp, path, 0o666)
    finally:
        tmp.unlink(missing_ok=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links
        shutil.copy2(src, dst)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, keep: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory; it replaces ``path`` only if the block succeeds.
    The old ``path`` is renamed aside first (and put back if the new one cannot take its place),
    then removed once the new one is in place: nothing is left behind either way. ``keep``: the
    temporary starts with (hard links to) what ``path`` holds, so the block adds or replaces
    files and the others stay, all in one step; the block replaces a file (``atomic_path``), never
    writes into one, which is the old ``path``'s too."""
    path = Path(path).resolve()  # "." or "x/.." have no name to make a sibling of
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        if keep and path.is_dir():
            shutil.copytree(path, tmp, dirs_exist_ok=True, copy_function=_link_or_copy)
        yield tmp
        for child in tmp.rglob("*"):
            os.chmod(child, (0o777 if child.is_dir() else 0o666) & ~_umask())
        old = path.with_name(f"{tmp.name[:-len('.tmp')]}.old")  # unique: named after the temporary
        if path.exists():
            os.replace(path, old)
        try:
            _publish(tmp, path, 0o777)
        except BaseException:
            if old.exists():
                os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float as None, so the file is standard JSON (``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Standard JSON: infinite or undefined numbers (a ratio over a zero risk) are written as null."""
    write_text(json.dumps(strict_json(obj), indent=2, sort_keys=False, allow_nan=False) + "\n", path)
