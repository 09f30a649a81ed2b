"""Orbax checkpoints of a trained population (params, optimizer state, replay, RNG, epoch) and resuming.

Checkpoint ``N`` in ``RUN_DIR/<checkpoints>/N`` holds the state after N epochs. An unreadable
checkpoint is reported by path, with the earlier ones to resume from (``--resume-from N``);
resuming from an earlier one moves the later ones aside to ``<checkpoints>.discarded/``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from hftjax.errors import ConfigError, RunDirError


def _to_disk(state):
    return state.replace(key=jax.random.key_data(state.key))  # typed keys -> raw uint32


def _from_disk(state):
    return state.replace(key=jax.random.wrap_key_data(state.key))


class Checkpoints:
    """Per-epoch checkpoints in ``directory/<epoch>`` (the newest ``keep`` are kept)."""

    def __init__(self, directory: str | Path, keep: int = 2):
        self.directory = Path(directory).resolve()
        self.keep = keep
        self._open()

    def _open(self) -> None:
        options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def epochs(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_epoch(self) -> int | None:
        return self.manager.latest_step()

    def save(self, epoch: int, state, meta: dict) -> None:
        self.manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(_to_disk(state)),
                                                         meta=ocp.args.JsonSave(meta)))
        self.manager.wait_until_finished()

    def restore(self, epoch: int, like) -> tuple[object, dict]:
        """The checkpoint of ``epoch``; an unreadable one raises ``RunDirError`` naming it."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_disk(like))
        try:
            out = self.manager.restore(epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                      meta=ocp.args.JsonRestore()))
        except Exception as e:  # orbax/tensorstore raise many types for a damaged file
            earlier = [e for e in self.epochs() if e < epoch]
            hint = (f"resume from an earlier one with --resume-from {earlier[-1]} (available: "
                    f"{', '.join(map(str, earlier))}) or start over with --resume-from 0" if earlier
                    else "start over with --resume-from 0")
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise RunDirError(self.directory / str(epoch), f"checkpoint cannot be read ({reason}); {hint}") from e
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
        self.manager.close()


def save_best(path: Path, state) -> None:
    """The best-epoch params, scores and epochs of a trained population, in ``path``."""
    best = {"best_params": state.best_params, "best_score": state.best_score, "best_epoch": state.best_epoch}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(Path(path).resolve(), best, force=True)


def restore_best(path: Path, rerun: str) -> dict:
    """What ``save_best`` wrote; a missing or damaged one raises ``RunDirError`` saying to ``rerun``."""
    path = Path(path).resolve()
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            return checkpointer.restore(path)
    except Exception as e:  # orbax raises many types for a missing or damaged checkpoint
        raise RunDirError(path, f"cannot be read ({type(e).__name__}); rerun {rerun}") from e


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
