"""The host loop over epochs shared by the sub-agents and the hyper-agent.

Per epoch: one jitted call trains (and validates) every member, then the host logs one JSON
line per member (non-finite values as ``null``), checks for divergence, and checkpoints. A
rerun resumes from the newest checkpoint (or ``resume_from``).

The divergence guard: a non-finite loss or gradient in any update, a non-finite parameter
after the epoch, or (for Q-learners) a Q-value or TD loss past a bound no honest learner
reaches, stops training before that epoch is checkpointed. The bound (``q_bound``): a Q-value
is a discounted sum of rewards, so |Q| <= max|r| / (1 - gamma); one step of the market pays at
most max_holding * (max |close change| + fee * max close). Training stops when |Q| passes
``Q_BOUND_SLACK`` times that, floored at 1 (the slack and the floor leave room for
bootstrapping's overshoot and for the untrained network's outputs, which are of order 1
whatever the market's price level), or the mean TD loss passes (2 * bound)^2. A finite mean
loss above ``warn_loss_above`` only warns (:class:`LossWarning`).

A stop never loses the run: the population goes back to its last checkpoint, whose best
validated params are what the stage keeps, and ``run_loop`` returns it with a :class:`Stopped`
record (member, epoch, reason) that the stage writes into its JSON, with one warning line
(:class:`TrainingStopped`). Only a stop in the first epoch, before any checkpoint, has nothing
to keep and raises :class:`DivergenceError`.

The hyper-agent's Q_mix is a convex mix of the sub-agents' Q, bounded whatever its params, so
it has no |Q| bound; a softmax that puts 0 weight on one of the six agents in some state is a
legitimate state, not a divergence: its ``saturated`` share of updates is logged per epoch and
counted in the evaluation (``training_status``), never a stop.
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


class TrainingStopped(RuntimeWarning):
    """Training stopped early on a divergence; the stage keeps its last checkpoint's best params."""


@dataclasses.dataclass(frozen=True)
class Stopped:
    """Why and where a stage's training stopped early (written into its JSON as ``stopped``)."""
    member: str
    epoch: int   # the epoch that diverged (0-based): training went back to checkpoint ``epoch``, epochs 0..epoch-1
    reason: str


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
    ``epoch_fn(state) -> (state, per-member metrics)``. Returns (final state, None), or (the last
    checkpoint's state, :class:`Stopped`) when training diverged after it (see the module docstring)."""
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
        diverged = check_divergence(loop, epoch, state.params, metrics)
        if diverged is not None:
            epochs.close()
            return stop(loop, checkpoints, fresh, epoch, *diverged)
        epochs.set_postfix(valid_return=f"{np.nanmean(metrics['valid_return_rate']):.4f}",
                           loss=f"{np.mean(metrics['loss']):.3g}")
        checkpoints.save(epoch + 1, state, {"epoch": epoch + 1, "config": loop.config})
        if interrupted():
            epochs.close()
            raise Interrupted(loop.what, epoch + 1)
    return state, None


def stopped_record(stopped: Stopped | None) -> dict | None:
    """What a stage's JSON records of an early stop (None: trained every epoch)."""
    return None if stopped is None else dataclasses.asdict(stopped)


def describe_stop(record: dict) -> str:
    """One line on a stage that stopped early: a ``stopped_record`` with the ``stage`` named."""
    kept = record["epoch"]
    return (f"{record['stage']} training stopped in epoch {kept} (training diverged for {record['member']}: "
            f"{record['reason']}); the stage keeps the best validated params of "
            f"{f'epochs 0-{kept - 1}' if kept > 1 else 'epoch 0'}")


def stop(loop: Loop, checkpoints: Checkpoints, fresh, epoch: int, member: int, reason: str):
    """(the last checkpoint's state, :class:`Stopped`) after ``member`` diverged in ``epoch``;
    :class:`DivergenceError` when no checkpoint was written yet (nothing validated to keep)."""
    if checkpoints.latest_epoch() is None:
        raise DivergenceError(loop.member_name(member), epoch,
                              f"{reason}; no checkpoint was written. Lower the learning rate (lr) or check the data")
    state, _ = checkpoints.restore(epoch, fresh)  # every epoch before it was checkpointed
    stopped = Stopped(loop.member_name(member), epoch, f"{reason}; lower the learning rate (lr) or check the data")
    warnings.warn(describe_stop({"stage": loop.what, **stopped_record(stopped)}), TrainingStopped, stacklevel=3)
    return state, stopped


def check_divergence(loop: Loop, epoch: int, params, metrics: dict) -> tuple[int, str] | None:
    """(member, what diverged) for the first member with a non-finite update or parameter or a
    Q-value past its bound; None when none did. Warns on large losses and logs a saturated
    softmax (a diagnostic)."""
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
        if problems:
            return i, "; ".join(problems)
        if metrics.get("saturated", np.zeros(count))[i] > 0:
            log.info("%s, epoch %d: a mixing weight was 0 in %.1f%% of the updates (a saturated softmax; a "
                     "diagnostic, training goes on)", loop.member_name(i), epoch, 100 * float(metrics["saturated"][i]))
        loss = float(metrics["loss"][i])
        if loss > loop.warn_loss_above:
            warnings.warn(f"{loop.member_name(i)}: mean loss {loss:.3g} in epoch {epoch} is above "
                          f"warn_loss_above={loop.warn_loss_above:g}; training may be diverging (lower lr?)",
                          LossWarning, stacklevel=2)
    return None
