"""Directories hftjax writes: who owns them, and one process at a time.

Ownership is the ``.hftjax`` mark alone, written when hftjax creates the directory (with its
kind and the hftjax version): file names prove nothing, a user may well have a ``hyper.json``.

- ``claim_run_dir``: a run directory (``run``, ``train-subagents``, ``train-hyper --out``) is
  created empty, or holds the mark; any other non-empty directory is refused, naming a file in
  it, so a command never writes among a user's own files.
- ``check_prepare_out``: ``prepare`` replaces only an earlier prepared output of its own (the
  mark, its manifest and the files that manifest implies), never a directory that holds an
  input or the current directory.
- ``run_lock``: an advisory ``flock`` on ``DIR/.lock`` naming the holders' pids: exclusive for a
  stage that writes ``DIR``, shared for one that reads it (any number of readers, no writer). The
  kernel drops the lock when its holder dies, so a lock file left by a dead process is taken over
  (with a warning); a live holder gets a clear error. Re-entrant within one process (a shared hold
  is made exclusive for a block that writes).
- ``prepare_lock``: ``prepare`` into a run's ``data/`` takes that run's lock exclusive (it cannot
  swap the data under a stage that reads it, which holds it shared); elsewhere the lock is
  ``.NAME.hftjax.lock`` beside the prepared directory, present while someone holds it.
  ``results_lock``: the same beside ``RUN/results``, which ``evaluate`` writes in a run it reads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator

from hftjax.errors import ConfigError, RunDirError

MARKER = ".hftjax"
LOCK = ".lock"
PREPARED_EXTRA = {MARKER, "manifest.json", "normalization.json"}  # beside each split's .parquet and _labels.json
PREPARED_LEGACY = {"teacher"}  # the Q-teacher cache hftjax kept here before it moved beside the run

JOIN_WAIT = 0.2  # seconds a reader waits out another reader's brief exclusive hold (see _acquire)

# the record each training stage writes into a run directory when it is done, in the order the
# stages run (``run`` resumes at the first one missing; its ``stopped`` says it stopped early)
TRAINED = (("subagents.json", "sub-agents"), ("baselines.json", "DQN-family baselines"), ("ppo.json", "PPO"),
           ("hyper.json", "hyper-agent"))

def read_record(path: str | os.PathLike) -> dict:
    """A JSON record hftjax wrote into a run or dataset (a stage's ``<stage>.json``, a manifest);
    one that is not a JSON object (damaged, cut short) is one line naming it."""
    try:
        record = json.loads(Path(path).read_text())
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise RunDirError(path, "is damaged (not a JSON object): rerun the command that wrote it, or move it away")
    return record


_held: dict[Path, tuple[int, bool]] = {}  # resolved directory -> (its lock's fd, exclusive), held by this process


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
def run_lock(path: str | os.PathLike, *, shared: bool = False) -> Iterator[None]:
    """Hold ``path``'s lock for the block: exclusive for a stage that writes ``path``, shared for
    one that only reads it (several may); raise ``RunDirError`` naming a holder's pid."""
    path = Path(path).resolve()
    if not shared:
        path.mkdir(parents=True, exist_ok=True)
    with _flock(path, path / LOCK, shared=shared):
        yield


def prepare_lock(out: str | os.PathLike, *, shared: bool = False) -> contextlib.AbstractContextManager:
    """The lock of a prepared directory ``out``: ``prepare`` holds it exclusive while it writes
    ``out``, a stage that reads ``out`` holds it shared. It is the run's own when ``out`` lies in
    a run directory (so the data of a training run is never swapped), else ``.NAME.hftjax.lock``
    beside ``out`` (``out`` itself is replaced, so it cannot hold the lock)."""
    out = Path(out).resolve()
    if marked(out.parent, "run"):
        return run_lock(out.parent, shared=shared)
    if not shared:
        out.parent.mkdir(parents=True, exist_ok=True)
    return _beside(out, shared=shared)


def results_lock(out: str | os.PathLike) -> contextlib.AbstractContextManager:
    """The lock ``evaluate`` holds while it writes ``RUN/results``, a run it otherwise only reads
    (so another reader of the run may go on): ``.results.hftjax.lock`` beside it."""
    return _beside(Path(out).resolve(), shared=False)


def _beside(out: Path, *, shared: bool) -> contextlib.AbstractContextManager:
    """``.NAME.hftjax.lock`` beside ``out``, present while held (a lock file beside a user's folder
    should not stay)."""
    return _flock(out, out.parent / f".{out.name}.hftjax.lock", shared=shared, remove=True)


def _holders(fd: int) -> list[str]:
    """The pids a lock file records: its exclusive holder, or every process that joined it shared
    (one a line; a reader that left while others stayed may still be listed)."""
    return os.pread(fd, 4096, 0).decode(errors="replace").split()


def _in_use(path: Path, lock: Path, fd: int) -> RunDirError:
    recorded = [pid for pid in _holders(fd) if pid != str(os.getpid())]  # this process: when its upgrade failed
    running = [pid for pid in recorded if pid.isdigit() and pid_running(int(pid))]
    named = running or recorded or ["unknown"]
    return RunDirError(path, f"is in use by process{'es' if len(named) > 1 else ''} {', '.join(named)} (lock {lock}); "
                             "wait for it to finish or stop it")


@contextlib.contextmanager
def _flock(path: Path, lock: Path, *, shared: bool = False, remove: bool = False) -> Iterator[None]:
    """Hold a ``flock`` on ``lock`` for ``path``, exclusive or ``shared``; ``remove`` deletes the
    lock file when its last holder leaves.

    Whoever finds the lock free records its own pid alone (a recorded one is then stale); a reader
    that joins other readers adds its own. No request waits for a holder."""
    if path in _held:  # an outer block of this process holds it (``run`` around its stages)
        fd, exclusive = _held[path]
        if shared or exclusive:
            yield
            return
        with _upgraded(path, lock, fd):
            yield
        return
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as e:
            if shared and e.errno in (errno.EACCES, errno.EROFS):
                # prepared data on a mount this process may not write: it cannot replace it either
                yield
                return
            raise
        alone = _acquire(fd, shared)
        if alone is None:
            error = _in_use(path, lock, fd)
            os.close(fd)
            raise error
        try:  # a holder that removed the file while we opened it: ours is a stale inode, open again
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    previous = _holders(fd)
    if not all(pid.isdigit() for pid in previous):  # a file of the user's that happens to have the name: never ours to clear
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise RunDirError(path, f"{lock} exists and is not an hftjax lock (it holds other text); move it away")
    if alone:
        stale = [pid for pid in previous if int(pid) != os.getpid()]
        if stale:
            state = ("still running but not holding it" if any(pid_running(int(pid)) for pid in stale)
                     else "no longer running")
            warnings.warn(f"{lock}: took over a stale lock of process {', '.join(stale)} ({state})", stacklevel=3)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        if shared:  # recorded while alone; now let other readers join
            fcntl.flock(fd, fcntl.LOCK_SH)
    else:  # O_APPEND: readers joining at once each add their line whole
        os.write(fd, f"\n{os.getpid()}".encode())
    _held[path] = (fd, not shared)
    try:
        yield
    finally:
        del _held[path]
        # the last holder clears the record (a failed conversion drops this reader's lock: others hold it)
        if _try_flock(fd, fcntl.LOCK_EX):
            if remove:
                lock.unlink(missing_ok=True)
            else:
                os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def _upgraded(path: Path, lock: Path, fd: int) -> Iterator[None]:
    """This process's shared hold on ``path`` made exclusive for the block (a stage that read a
    directory, then writes it); refused while another process shares it. Linux drops the shared
    hold when the conversion fails, so the error ends the stage that held it."""
    if not _try_flock(fd, fcntl.LOCK_EX):
        raise _in_use(path, lock, fd)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held[path] = (fd, True)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_SH)
        _held[path] = (fd, False)


def _acquire(fd: int, shared: bool) -> bool | None:
    """Take the lock: True when this process is its only holder (it then holds it exclusive),
    False when it joined other readers, None when refused. A reader waits ``JOIN_WAIT`` at most,
    for another reader that holds it exclusive only while it records or clears the pids."""
    deadline = time.monotonic() + (JOIN_WAIT if shared else 0)
    while True:
        if _try_flock(fd, fcntl.LOCK_EX):
            return True
        if shared and _try_flock(fd, fcntl.LOCK_SH):
            return False
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _try_flock(fd: int, operation: int) -> bool:
    """Take (or convert to) ``operation`` without waiting; whether it was granted."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
