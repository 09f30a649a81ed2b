"""Directories hftjax writes: who owns them, and one process at a time.

- ``claim_run_dir``: a run directory (``run``, ``train-subagents``, ``train-hyper --out``) is
  created empty, or is one hftjax made before (it holds ``.hftjax``, a
  ``subagents.json`` or ``hyper.json``); any other non-empty directory is refused, so a
  command never writes among a user's own files.
- ``check_prepare_out``: ``prepare`` replaces only an earlier prepared output of its own (its
  manifest and the files that manifest implies), never a directory that holds an input.
- ``run_lock``: an advisory ``flock`` on ``DIR/.lock`` naming the holder's pid. The kernel
  drops the lock when its holder dies, so a lock file left by a dead process is taken over
  (with a warning); a live holder gets a clear error. Re-entrant within one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from pathlib import Path
from typing import Iterator

from hftjax.errors import ConfigError, RunDirError

MARKER = ".hftjax"
RUN_FILES = (MARKER, "subagents.json", "hyper.json")  # any one marks a run directory
LOCK = ".lock"
PREPARED_EXTRA = {"manifest.json", "teacher", "normalization.json"}  # beside each split's .parquet and _labels.json

_held: set[Path] = set()  # resolved directories whose lock this process holds


def claim_run_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``path`` as a run directory, or accept one hftjax made; refuse anything else."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(option, f"{path} exists and is not a directory")
    if path.is_dir() and not any((path / name).exists() for name in RUN_FILES) and any(path.iterdir()):
        raise RunDirError(path, f"is not empty and is not an hftjax run directory (no {MARKER} file); "
                                f"give {option} a new or empty directory")
    path.mkdir(parents=True, exist_ok=True)
    if not (path / MARKER).exists():
        (path / MARKER).write_text(json.dumps({"kind": "run"}) + "\n")
    return path


def check_prepare_out(out: str | os.PathLike, inputs) -> None:
    """Refuse an ``--out`` that is or contains an input, or that holds anything other than an
    earlier output of ``prepare``."""
    out = Path(out)
    resolved = out.resolve()
    for source in inputs:
        source = Path(source).resolve()
        if source == resolved or resolved in source.parents:
            raise ConfigError("--out", f"{out} holds the input {source}; give an output directory "
                                       "that contains none of the inputs")
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} exists and is not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    manifest = out / "manifest.json"
    try:
        splits = json.loads(manifest.read_text())["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RunDirError(out, "is not empty and is not an earlier hftjax prepare output (no readable "
                               "manifest.json); give --out a new or empty directory") from None
    ours = PREPARED_EXTRA | {f"{s}.parquet" for s in splits} | {f"{s}_labels.json" for s in splits}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
    if foreign:
        raise RunDirError(out, f"holds {', '.join(foreign)}, which hftjax prepare did not write; move it "
                               "or give --out another directory")


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``path``'s lock for the block; raise ``RunDirError`` naming the holder's pid."""
    path = Path(path).resolve()
    if path in _held:  # an outer block of this process holds it (``run`` around its stages)
        yield
        return
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunDirError(path, f"is in use by process {holder} (lock {lock}); wait for it to finish "
                                "or stop it") from None
    previous = os.pread(fd, 64, 0).decode(errors="replace").strip()
    if previous.isdigit() and int(previous) != os.getpid():
        state = "still running but not holding it" if _pid_running(int(previous)) else "no longer running"
        warnings.warn(f"{lock}: took over a stale lock of process {previous} ({state})", stacklevel=3)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held.add(path)
    try:
        yield
    finally:
        _held.discard(path)
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
