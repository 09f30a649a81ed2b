"""The host loop over epochs shared by the sub-agents and the hyper-agent.

Per epoch: one jitted call trains (and validates) every member, then the host logs one JSON
line per member (non-finite values as ``null``), checks for divergence, and checkpoints. A
rerun resumes from the newest checkpoint (or ``resume_from``).

The divergence guard: a non-finite loss or gradient in any update, or a non-finite parameter
after the epoch, stops training with a :class:`DivergenceError` naming the member and the
epoch, before that epoch is checkpointed, so the last good checkpoint stays the latest. A
finite mean loss above ``warn_loss_above`` only warns (:class:`LossWarning`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from hftjax.checkpoint import Checkpoints, resume, truncate_log
from hftjax.errors import DivergenceError
from hftjax.progress import bar
from hftjax.sharding import host_values


log = logging.getLogger(__name__)


class LossWarning(RuntimeWarning):
    """A finite but very large training loss."""


@dataclasses.dataclass(frozen=True)
class Loop:
    what: str                  # "sub-agent", "hyper-agent": progress bar and messages
    checkpoints: Path          # checkpoint directory
    log: Path                  # JSONL log, one line per member and epoch
    config: dict               # saved with each checkpoint; resuming under another one is refused
    epochs: int
    members: list[dict]        # what identifies each member (agent, seed, sweep values)
    warn_loss_above: float

    def member_name(self, i: int) -> str:
        return f"{self.what} " + ", ".join(f"{k}={v}" for k, v in self.members[i].items())


def _short(x) -> str:
    return "nan" if x is None else f"{x:.4g}"


def json_value(x):
    """A float for JSON: non-finite values become None (``null``)."""
    x = float(x)
    return x if math.isfinite(x) else None


def run_loop(loop: Loop, fresh, epoch_fn: Callable, *, stop_after: int | None = None,
             resume_from: int | None = None, progress: bool = True,
             on_epoch: Callable[[int, list[dict]], None] | None = None):
    """Train from ``fresh`` (or resume) to ``loop.epochs`` epochs (or ``stop_after`` in total);
    ``epoch_fn(state) -> (state, per-member metrics)``. Returns the final state."""
    checkpoints = Checkpoints(loop.checkpoints)
    try:
        state, start = resume(checkpoints, fresh, loop.config, loop.what, resume_from)
        truncate_log(loop.log, start)
        epochs = bar(range(start, loop.epochs if stop_after is None else min(loop.epochs, stop_after)),
                     desc=f"{loop.what}s", total=loop.epochs, unit="epoch", initial=start, enabled=progress)
        if start:
            log.info("%ss: resumed after epoch %d of %d from %s", loop.what, start, loop.epochs, loop.checkpoints)
        for epoch in epochs:
            state, metrics = epoch_fn(state)
            metrics, best_epoch, best_score = host_values((metrics, state.best_epoch, state.best_score))
            lines = [{"epoch": epoch, **member, **{k: json_value(v[i]) for k, v in metrics.items()},
                      "best_epoch": int(best_epoch[i]), "best_valid_score": json_value(best_score[i])}
                     for i, member in enumerate(loop.members)]
            with open(loop.log, "a") as f:
                f.writelines(json.dumps(line, allow_nan=False) + "\n" for line in lines)
            if on_epoch is not None:
                on_epoch(epoch, lines)
            for i, line in enumerate(lines):
                log.info("%s, epoch %d: loss %s, validation return rate %s (best epoch %d)", loop.member_name(i),
                         epoch, _short(line.get("loss")), _short(line.get("valid_return_rate")), line["best_epoch"])
            check_divergence(loop, epoch, state.params, metrics, checkpoints)
            epochs.set_postfix(valid_return=f"{np.nanmean(metrics['valid_return_rate']):.4f}",
                               loss=f"{np.mean(metrics['loss']):.3g}")
            checkpoints.save(epoch + 1, state, {"epoch": epoch + 1, "config": loop.config})
    finally:
        checkpoints.close()
    return state


def check_divergence(loop: Loop, epoch: int, params, metrics: dict, checkpoints: Checkpoints) -> None:
    """Raise for the first member with a non-finite update or parameter; warn on large losses."""
    count = len(loop.members)
    finite_params = np.all([np.isfinite(x).reshape(count, -1).all(axis=1)
                            for x in jax.tree.leaves(host_values(params))], axis=0)
    for i in range(count):
        problems = []
        if metrics["nonfinite"][i] > 0:
            problems.append(f"non-finite loss or gradient in {int(metrics['nonfinite'][i])} of "
                            f"{int(metrics['updates'][i])} updates")
        if not finite_params[i]:
            problems.append("non-finite parameters")
        if problems:
            latest = checkpoints.latest_epoch()
            kept = (f"the latest checkpoint is still {checkpoints.directory / str(latest)}" if latest is not None
                    else "no checkpoint was written")
            raise DivergenceError(loop.member_name(i), epoch,
                                  f"{'; '.join(problems)}; {kept}. Lower the learning rate (lr) or check the data")
        loss = float(metrics["loss"][i])
        if loss > loop.warn_loss_above:
            warnings.warn(f"{loop.member_name(i)}: mean loss {loss:.3g} in epoch {epoch} is above "
                          f"warn_loss_above={loop.warn_loss_above:g}; training may be diverging (lower lr?)",
                          LossWarning, stacklevel=2)
