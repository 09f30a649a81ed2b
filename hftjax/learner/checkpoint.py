"""Orbax checkpoints of a trained population (params, optimizer state, replay, RNG, epoch) and resuming.

Checkpoint ``N`` in ``RUN_DIR/<checkpoints>/N`` holds the state after N epochs. Once orbax has
finished writing one, ``CHECKSUMS`` beside its files records the sha256 of each; it is checked
before every restore, so a damaged checkpoint (a flipped byte keeps the size, which orbax does
not notice) is reported by path, with the earlier ones to resume from (``--resume-from N``), as
a truncated or unreadable one is; resuming from an earlier one moves the later ones aside to
``<checkpoints>.discarded/``. A checkpoint without the file (written before checksums, or
interrupted between orbax's commit and the checksums) is read on orbax's own checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from hftjax.errors import ConfigError, RunDirError
from hftjax.io import write_json
from hftjax.provenance import sha256_file

CHECKSUMS = "hftjax_checksums.json"
# how a refused write reaches a save: OSError (ENOSPC, EDQUOT, EIO) from orbax's own writes,
# ValueError from tensorstore's, which writes the arrays and reports every failed status so
DISK_ERRORS = (OSError, ValueError)


def write_checksums(directory: Path) -> None:
    """Record the sha256 of every file of a finished checkpoint."""
    write_json(_digests(directory), directory / CHECKSUMS)


def _digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): sha256_file(p) for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != CHECKSUMS and not p.name.startswith(f".{CHECKSUMS}")}


def verify_checksums(directory: Path) -> str | None:
    """None when the checkpoint matches its checksums (or has none); else what differs."""
    path = directory / CHECKSUMS
    if not path.exists():
        return None
    try:
        recorded = json.loads(path.read_text())
    except ValueError:
        return f"{CHECKSUMS} is damaged"
    found = _digests(directory)
    for name, digest in recorded.items():
        if name not in found:
            return f"{name} is missing"
        if found[name] != digest:
            return f"{name} differs from its checksum"
    extra = sorted(set(found) - set(recorded))
    return f"{extra[0]} was added after the save" if extra else None


def _to_disk(state):
    return state.replace(key=jax.random.key_data(state.key))  # typed keys -> raw uint32


def _from_disk(state):
    return state.replace(key=jax.random.wrap_key_data(state.key))


class Checkpoints:
    """Per-epoch checkpoints in ``directory/<epoch>`` (the newest ``keep`` are kept)."""

    def __init__(self, directory: str | Path, keep: int = 2):
        self.directory = Path(directory).resolve()
        self.keep = keep
        self._failed = False  # a save failed (``close`` then raises its error again)
        self._open()

    def _open(self) -> None:
        options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def epochs(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_epoch(self) -> int | None:
        return self.manager.latest_step()

    def save(self, epoch: int, state, meta: dict) -> None:
        """Checkpoint ``epoch``; a full or failing disk raises ``RunDirError`` with the earlier
        checkpoints intact (orbax's partial ``<epoch>.orbax-checkpoint-tmp`` is not a checkpoint,
        and the rerun's save of that epoch replaces it)."""
        try:
            self.manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(_to_disk(state)),
                                                             meta=ocp.args.JsonSave(meta)))
            self.manager.wait_until_finished()
            write_checksums(self.directory / str(epoch))
        except DISK_ERRORS as e:
            self._failed = True
            raise _unwritable(self.directory, f"checkpoint {epoch}", e, "the earlier checkpoints are kept",
                              "rerun the same command to resume from the latest")

    def restore(self, epoch: int, like, resume: str = "rerun with {option}") -> tuple[object, dict]:
        """The checkpoint of ``epoch``; a damaged or unreadable one raises ``RunDirError`` naming
        it and the earlier ones; ``resume`` is the command that resumes from one, with
        ``{option}`` where ``--resume-from N`` goes (by default: the command being run, again)."""
        damage = verify_checksums(self.directory / str(epoch))
        try:
            if damage is not None:
                raise RunDirError(self.directory, damage)
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_disk(like))
            out = self.manager.restore(epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                      meta=ocp.args.JsonRestore()))
        except Exception as e:  # orbax/tensorstore raise many types for a damaged file
            earlier = [e for e in self.epochs() if e < epoch]
            hint = (f"resume from an earlier one: {resume.format(option=f'--resume-from {earlier[-1]}')} "
                    f"(available: {', '.join(map(str, earlier))}), or start over: "
                    f"{resume.format(option='--resume-from 0')}" if earlier
                    else f"start over: {resume.format(option='--resume-from 0')}")
            reason = (damage or str(e).strip().splitlines()[0][:200]) if (damage or str(e).strip()) else type(e).__name__
            raise RunDirError(self.directory / str(epoch), f"checkpoint is damaged ({reason}); {hint}") from None
        return _from_disk(out.state), out.meta

    def discard_after(self, epoch: int) -> list[Path]:
        """Move the checkpoints of later epochs to ``<directory>.discarded/`` (never deleted)."""
        later = [e for e in self.epochs() if e > epoch]
        if not later:
            return []
        self.manager.close()
        aside = self.directory.with_name(self.directory.name + ".discarded")
        moved = []
        for e in later:
            target = aside / str(e)
            n = 1
            while target.exists():
                target, n = aside / f"{e}.{n}", n + 1
            aside.mkdir(exist_ok=True)
            shutil.move(self.directory / str(e), target)
            moved.append(target)
        self._open()
        return moved

    def close(self) -> None:
        """Close the manager; after a failed save it raises that save's error again, which the
        caller has already been given as one line."""
        try:
            self.manager.close()
        except DISK_ERRORS:
            if not self._failed:
                raise


def save_best(path: Path, state) -> None:
    """The best-epoch params, scores and epochs of a trained population, in ``path`` (with its
    checksums)."""
    best = {"best_params": state.best_params, "best_score": state.best_score, "best_epoch": state.best_epoch}
    path = Path(path).resolve()
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(path, best, force=True)
        write_checksums(path)
    except DISK_ERRORS as e:
        raise _unwritable(path, "the best parameters", e, "the epoch checkpoints are kept", "rerun the same command")


def _unwritable(directory: Path, what: str, error: Exception, kept: str, then: str) -> RunDirError:
    """The one-line error for a save that the disk refused (full, over quota or failing)."""
    code = re.search(r"os_error_code='(\d+)'", str(error))  # tensorstore's message names the errno
    reason = (getattr(error, "strerror", None) or (os.strerror(int(code[1])) if code else None)
              or (str(error).strip().splitlines() or [type(error).__name__])[0][:200])
    return RunDirError(directory, f"cannot save {what} ({reason}); {kept}: free space on that disk (or fix it), "
                                  f"then {then}")


def restore_best(path: Path, rerun: str) -> dict:
    """What ``save_best`` wrote; a missing or damaged one raises ``RunDirError`` saying to ``rerun``."""
    path = Path(path).resolve()
    damage = verify_checksums(path) if path.is_dir() else "missing"
    try:
        if damage is not None:
            raise RunDirError(path, damage)
        with ocp.StandardCheckpointer() as checkpointer:
            return checkpointer.restore(path)
    except Exception as e:  # orbax raises many types for a missing or damaged checkpoint
        raise RunDirError(path, f"cannot be read ({damage or type(e).__name__}); rerun {rerun}") from None


def resume(checkpoints: Checkpoints, fresh, config: dict, what: str,
           resume_from: int | None = None) -> tuple[object, int]:
    """(state, first epoch to run): the newest checkpoint (or that of ``resume_from`` epochs;
    0 starts over) when there is one, else ``fresh``. A checkpoint written under another
    configuration is refused."""
    if resume_from is not None:
        if resume_from != 0 and resume_from not in checkpoints.epochs():
            available = ", ".join(map(str, checkpoints.epochs())) or "none"
            raise ConfigError("--resume-from", f"{checkpoints.directory} has no checkpoint {resume_from} "
                                               f"(available: {available}; 0 starts over)")
        checkpoints.discard_after(resume_from)
    epoch = checkpoints.latest_epoch()
    if epoch is None:
        return fresh, 0
    state, meta = checkpoints.restore(epoch, fresh)
    config = json.loads(json.dumps(config))
    if meta["config"] != config:
        changed = sorted(k for k in config.keys() | meta["config"].keys() if config.get(k) != meta["config"].get(k))
        raise RunDirError(checkpoints.directory.parent, f"holds a {what} run with another configuration "
                                                        f"(differs in {', '.join(changed)}); give --out a new "
                                                        "directory to train this one beside it")
    return state, meta["epoch"]


def truncate_log(path: Path, start: int) -> None:
    """Keep only the JSONL lines of epochs before ``start`` (a resumed run rewrites the rest)."""
    lines = path.read_text().splitlines() if path.exists() else []
    path.write_text("".join(x + "\n" for x in lines if json.loads(x)["epoch"] < start))
