"""Directories hftjax writes: who owns them, and one process at a time.

Ownership is the ``.hftjax`` mark alone, written when hftjax creates the directory (with its
kind and the hftjax version): file names prove nothing, a user may well have a ``hyper.json``.

- ``claim_run_dir``: a run directory (``run``, ``train-subagents``, ``train-hyper --out``) is
  created empty, or holds the mark; any other non-empty directory is refused, naming a file in
  it, so a command never writes among a user's own files.
- ``check_prepare_out``: ``prepare`` replaces only an earlier prepared output of its own (the
  mark, its manifest and the files that manifest implies), never a directory that holds an
  input or the current directory.
- ``run_lock``: an advisory ``flock`` on ``DIR/.lock`` naming the holder's pid. The kernel
  drops the lock when its holder dies, so a lock file left by a dead process is taken over
  (with a warning); a live holder gets a clear error. Re-entrant within one process.
- ``prepare_lock``: ``prepare`` into a run's ``data/`` takes that run's lock (it cannot swap the
  data under a training run); elsewhere it locks ``.NAME.hftjax.lock`` beside its output while it works.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Iterator

from hftjax.errors import ConfigError, RunDirError

MARKER = ".hftjax"
LOCK = ".lock"
PREPARED_EXTRA = {MARKER, "manifest.json", "normalization.json"}  # beside each split's .parquet and _labels.json
PREPARED_LEGACY = {"teacher"}  # the Q-teacher cache hftjax kept here before it moved beside the run

_held: set[Path] = set()  # resolved directories whose lock this process holds


def mark(path: Path, kind: str) -> None:
    """Write the ownership mark into ``path`` (a directory hftjax just created or emptied)."""
    from hftjax import __version__

    (path / MARKER).write_text(json.dumps({"kind": kind, "hftjax_version": __version__}) + "\n")


def marked(path: str | os.PathLike, kind: str | None = None) -> bool:
    """Whether ``path`` holds hftjax's mark (of ``kind``, when given; the first marks had no kind
    but ``run``)."""
    try:
        found = json.loads((Path(path) / MARKER).read_text()).get("kind", "run")
    except (OSError, ValueError, AttributeError):
        return False
    return kind is None or found == kind


def _foreign(path: Path, option: str, what: str) -> RunDirError:
    first = sorted(p.name for p in path.iterdir())[0]
    return RunDirError(path, f"holds {first} and is not {what} (no {MARKER} mark); give {option} a new or "
                             "empty directory")


def claim_run_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``path`` as a run directory, or accept one hftjax made; refuse anything else."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(option, f"{path} exists and is not a directory")
    if path.is_dir() and not marked(path, "run") and any(path.iterdir()):
        raise _foreign(path, option, "an hftjax run directory")
    path.mkdir(parents=True, exist_ok=True)
    if not marked(path, "run"):
        mark(path, "run")
    return path


def check_prepare_out(out: str | os.PathLike, inputs) -> None:
    """Refuse an ``--out`` that is or contains an input or the current directory, or that holds
    anything other than an earlier output of ``prepare``."""
    out = Path(out)
    resolved = out.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise ConfigError("--out", f"{out} is the current directory (or holds it), which prepare would replace; "
                                   "give a subdirectory, e.g. --out data")
    for source in inputs:
        source = Path(source).resolve()
        if source == resolved or resolved in source.parents:
            raise ConfigError("--out", f"{out} holds the input {source}; give an output directory "
                                       "that contains none of the inputs")
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} exists and is not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        splits = manifest["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        manifest, splits = None, None
    # outputs of hftjax before the mark carry hftjax_version in their manifest
    if splits is None or not (marked(out, "prepared") or "hftjax_version" in manifest):
        raise _foreign(out, "--out", "an earlier hftjax prepare output")
    ours = PREPARED_EXTRA | PREPARED_LEGACY | {f"{s}.parquet" for s in splits} | {f"{s}_labels.json" for s in splits}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
    if foreign:
        raise RunDirError(out, f"holds {', '.join(foreign)}, which hftjax prepare did not write; move it "
                               "or give --out another directory")


def first_unfinished(run_dir: str | Path, resume_from: int | None) -> Callable[[str], int | None]:
    """``resume(stage) -> resume_from`` for a command that trains several stages in turn:
    ``resume_from`` goes to the first one whose ``<stage>.json`` (written when it finishes) is
    missing, None to every other."""
    pending = [resume_from]

    def resume(stage: str) -> int | None:
        if (Path(run_dir) / f"{stage}.json").exists():
            return None
        chosen, pending[0] = pending[0], None
        return chosen
    return resume


def pid_running(pid: int) -> bool:
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
    path.mkdir(parents=True, exist_ok=True)
    with _flock(path, path / LOCK):
        yield


def prepare_lock(out: str | os.PathLike) -> contextlib.AbstractContextManager:
    """The lock ``prepare`` holds while it writes ``out``: the run's own when ``out`` lies in a
    run directory (so it never swaps the data of a training run), else ``.NAME.hftjax.lock`` beside
    ``out`` while it works (``out`` itself is replaced, so it cannot hold the lock)."""
    out = Path(out).resolve()
    if marked(out.parent, "run"):
        return run_lock(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    return _flock(out, out.parent / f".{out.name}.hftjax.lock", remove=True)


@contextlib.contextmanager
def _flock(path: Path, lock: Path, *, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock`` for ``path``; ``remove`` deletes the lock file on
    release (a lock file beside a user's folder should not stay)."""
    if path in _held:  # an outer block of this process holds it (``run`` around its stages)
        yield
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(path, f"is in use by process {holder} (lock {lock}); wait for it to finish "
                                    "or stop it") from None
        try:  # a holder that removed the file while we opened it: ours is a stale inode, open again
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    previous = os.pread(fd, 64, 0).decode(errors="replace").strip()
    if previous and not previous.isdigit():  # a file of the user's that happens to have the name: never ours to clear
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise RunDirError(path, f"{lock} exists and is not an hftjax lock (it holds other text); move it away")
    if previous.isdigit() and int(previous) != os.getpid():
        state = "still running but not holding it" if pid_running(int(previous)) else "no longer running"
        warnings.warn(f"{lock}: took over a stale lock of process {previous} ({state})", stacklevel=3)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held.add(path)
    try:
        yield
    finally:
        _held.discard(path)
        if remove:
            lock.unlink(missing_ok=True)
        else:
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
