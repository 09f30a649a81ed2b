"""The host loop over epochs shared by the sub-agents and the hyper-agent.

Per epoch: one jitted call trains (and validates) every member, then the host logs one JSON
line per member (non-finite values as ``null``), checks for divergence, and checkpoints. A
rerun resumes from the newest checkpoint (or ``resume_from``).

The divergence guard: a non-finite loss or gradient in any update, a non-finite parameter
after the epoch, or (for Q-learners) a Q-value or TD loss past a bound no honest learner
reaches, stops training with a :class:`DivergenceError` naming the member and the epoch, before
that epoch is checkpointed, so the last good checkpoint stays the latest. The bound
(``q_bound``): a Q-value is a discounted sum of rewards, so |Q| <= max|r| / (1 - gamma); one step
of the market pays at most max_holding * (max |close change| + fee * max close). Training stops
when |Q| passes ``Q_BOUND_SLACK`` times that, floored at 1 (the slack and the floor leave room
for bootstrapping's overshoot and for the untrained network's outputs, which are of order 1
whatever the market's price level), or the mean TD loss passes (2 * bound)^2. A finite
mean loss above ``warn_loss_above`` only warns (:class:`LossWarning`). The hyper-agent's Q_mix
is a convex mix of the sub-agents' Q, bounded whatever its params: its divergence is a softmax
saturated until a weight underflows to 0 (``saturated_max``), which stops training too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import signal
import threading
import warnings
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from hftjax.errors import DivergenceError, Interrupted
from hftjax.learner.checkpoint import Checkpoints, resume, truncate_log
from hftjax.progress import bar
from hftjax.sharding import host_values


log = logging.getLogger(__name__)

Q_BOUND_SLACK = 100.0  # see the module docstring


def q_bound(close, trading, gamma) -> np.ndarray:
    """Per member (``gamma`` per member): the |Q| past which a Q-learner on this market with
    these trading settings has diverged (see the module docstring). gamma = 1 takes the split's
    length as the horizon."""
    close = np.asarray(close, np.float64)
    max_holding, fee = float(np.asarray(trading.max_holding)), float(np.asarray(trading.fee))
    max_reward = max_holding * (np.max(np.abs(np.diff(close))) + fee * np.max(close))
    gamma = np.asarray(gamma, np.float64)
    horizon = np.minimum(1.0 / np.maximum(1.0 - gamma, 1e-12), len(close))
    return Q_BOUND_SLACK * np.maximum(max_reward * horizon, 1.0)


class LossWarning(RuntimeWarning):
    """A finite but very large training loss."""


@contextlib.contextmanager
def deferred_interrupt():
    """Yield ``interrupted() -> bool``: the first SIGINT in the block is remembered, not raised;
    it also restores the default action, so a second one ends the process at once. Outside the
    main thread (where signals cannot be handled) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    hits = []

    def remember(signum, frame):
        hits.append(signum)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclasses.dataclass(frozen=True)
class Loop:
    what: str                  # "sub-agent", "hyper-agent": progress bar and messages
    checkpoints: Path          # checkpoint directory
    log: Path                  # JSONL log, one line per member and epoch
    config: dict               # saved with each checkpoint; resuming under another one is refused
    epochs: int
    members: list[dict]        # what identifies each member (agent, seed, sweep values)
    warn_loss_above: float
    q_bound: np.ndarray | None = None  # per member, for Q-learners (``q_bound``); None: not checked

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
    with deferred_interrupt() as interrupted:
        try:
            return _epochs(loop, checkpoints, fresh, epoch_fn, stop_after, resume_from, progress, on_epoch, interrupted)
        finally:
            checkpoints.close()


def _epochs(loop: Loop, checkpoints: Checkpoints, fresh, epoch_fn, stop_after, resume_from, progress, on_epoch,
            interrupted):
    """The epochs of ``run_loop``; ``interrupted()`` is polled after each checkpoint."""
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
        if interrupted():
            epochs.close()
            raise Interrupted(loop.what, epoch + 1)
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
        if loop.q_bound is not None and "q_abs_max" in metrics:
            bound, q, td = float(loop.q_bound[i]), float(metrics["q_abs_max"][i]), float(metrics["td"][i])
            if q > bound:
                problems.append(f"|Q| reached {q:.3g}, past the bound {bound:.3g} ({Q_BOUND_SLACK:g} x the largest "
                                "reward / (1 - gamma))")
            elif td > (2 * bound) ** 2:
                problems.append(f"the TD loss reached {td:.3g}, past (2 x {bound:.3g})^2")
        if metrics.get("saturated_max", np.zeros(count))[i] > 0:
            problems.append("a mixing weight underflowed to 0 (a saturated softmax: its gradient is 0, the "
                            "hyper-agent can no longer learn)")
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
