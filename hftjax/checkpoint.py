"""Orbax checkpoints of a trained population (params, optimizer state, replay, RNG, epoch) and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import orbax.checkpoint as ocp


def _to_disk(state):
    return state.replace(key=jax.random.key_data(state.key))  # typed keys -> raw uint32


def _from_disk(state):
    return state.replace(key=jax.random.wrap_key_data(state.key))


class Checkpoints:
    """Per-epoch checkpoints in ``RUN_DIR/checkpoints/<epoch>`` (the newest ``keep`` are kept)."""

    def __init__(self, directory: str | Path, keep: int = 2):
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self.manager = ocp.CheckpointManager(Path(directory).resolve(), options=options)

    def latest_epoch(self) -> int | None:
        return self.manager.latest_step()

    def save(self, epoch: int, state, meta: dict) -> None:
        self.manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(_to_disk(state)),
                                                         meta=ocp.args.JsonSave(meta)))
        self.manager.wait_until_finished()

    def restore(self, epoch: int, like) -> tuple[object, dict]:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_disk(like))
        out = self.manager.restore(epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                  meta=ocp.args.JsonRestore()))
        return _from_disk(out.state), out.meta

    def close(self) -> None:
        self.manager.close()


def resume(checkpoints: Checkpoints, fresh, config: dict, what: str) -> tuple[object, int]:
    """(state, first epoch to run): the newest checkpoint when there is one, else ``fresh``.
    A checkpoint written under another configuration is refused."""
    epoch = checkpoints.latest_epoch()
    if epoch is None:
        return fresh, 0
    state, meta = checkpoints.restore(epoch, fresh)
    if meta["config"] != json.loads(json.dumps(config)):
        raise ValueError(f"{what} holds a run with another configuration; use a new run directory")
    return state, meta["epoch"]


def truncate_log(path: Path, start: int) -> None:
    """Keep only the JSONL lines of epochs before ``start`` (a resumed run rewrites the rest)."""
    lines = path.read_text().splitlines() if path.exists() else []
    path.write_text("".join(x + "\n" for x in lines if json.loads(x)["epoch"] < start))
