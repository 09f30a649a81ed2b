"""The Double-DQN learner both MacroHFT agents specialise (docs/method.md s.4-5), as pure functions.

- ``HParams``: the traced hyper-parameters of one learner (a sweep or a seed population is a
  vmap over them, one compile);
- ``Transition``: one step stored as market row indices (the hyper-agent adds its memory's q);
- ``LearnerState``: params, target, optimizer, replay, RNG, epoch and the best epoch so far, plus
  the hyper-agent's episodic memory (None for sub-agents);
- ``ddqn_loss``: the TD target with the online argmax and the target value, the KL to the
  teacher's softmax, and the memory regression when the transitions carry ``q_memory``;
- ``collect_then_learn``: the epoch as a ``lax.scan`` of iterations: collect
  ``steps_per_iteration`` env steps (agent-specific), then run up to ``updates_per_iteration``
  updates once more than ``learning_starts`` transitions are stored.

A network enters as ``q_fn(params, observation) -> Q (N, K)``; observations come from
``hftjax.env.observe_rows``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hftjax.env.core import accounts, observe_rows, start_state, transition
from hftjax.env.market import MarketData
from hftjax.env.params import TradingSettings, split_params
from hftjax.learner.optimizer import apply_gradients, make_optimizer, set_learning_rate
from hftjax.learner.replay import Replay, replay_init, replay_sample
from hftjax.learner.stats import accumulate, epoch_metrics, is_maximum, update_metrics


@struct.dataclass
class HParams:
    """Traced per-learner hyper-parameters (see each agent config's ``traced`` fields)."""
    lr: jax.Array
    gamma: jax.Array
    tau: jax.Array
    kl_weight: jax.Array             # sub-agents: alpha; hyper-agent: beta; 0 for the DQN baselines
    memory_weight: jax.Array         # hyper-agent: alpha_memory; 0 otherwise
    double: jax.Array                # 1: Double DQN (online argmax); 0: DQN (target argmax)
    epsilon_start: jax.Array
    epsilon_end: jax.Array
    epsilon_decay_epochs: jax.Array


DEFAULTS = {"kl_weight": 0.0, "memory_weight": 0.0, "double": 1.0}  # of the leaves a learner may not set


def hparams(values: dict) -> HParams:
    """HParams from a config's traced leaves, scalars or stacked per member (missing ones take
    ``DEFAULTS``), as float32 arrays."""
    shape = np.shape(next(iter(values.values())))
    return HParams(**{k: jnp.asarray(values[k] if k in values else np.full(shape, DEFAULTS[k]), jnp.float32)
                      for k in HParams.__dataclass_fields__})


def linear_epsilon(start, end, decay_epochs, epoch) -> jax.Array:
    """Linear per-epoch decay from ``start`` to ``end`` over ``decay_epochs``, then flat."""
    frac = jnp.clip(epoch / jnp.maximum(decay_epochs, 1e-9), 0.0, 1.0)
    return start + (end - start) * frac


def kl_to_teacher(demo, q) -> jax.Array:
    """KL(softmax(demo) || softmax(q)) averaged over the batch (torch's kl_div "batchmean")."""
    p = jax.nn.softmax(demo)
    return jnp.mean(jnp.sum(p * (jax.nn.log_softmax(demo) - jax.nn.log_softmax(q)), axis=-1))


def take(q, action) -> jax.Array:
    """q[n, action[n]]."""
    return jnp.take_along_axis(q, action[:, None], axis=-1)[:, 0]


def epsilon(hp: HParams, epoch) -> jax.Array:
    return linear_epsilon(hp.epsilon_start, hp.epsilon_end, hp.epsilon_decay_epochs, epoch)


@struct.dataclass
class Transition:
    row: jax.Array                   # () int32 market row t of the state
    prev_action: jax.Array           # () int32 level held coming into t
    action: jax.Array                # () int32
    reward: jax.Array                # () float32
    done: jax.Array                  # () bool
    q_memory: jax.Array | None = None  # () float32 the episodic memory's q (hyper-agent only)


@struct.dataclass
class LearnerState:
    params: Any
    target_params: Any
    opt_state: Any
    replay: Replay
    key: jax.Array
    epoch: jax.Array                 # () int32 epochs completed
    best_params: Any
    best_score: jax.Array            # () float32 best validation return rate so far
    best_epoch: jax.Array            # () int32 (-1 before any validation)
    memory: Any = None               # the hyper-agent's episodic memory


def init_learner(params, hp: HParams, grad_clip: float, example: Transition, buffer_size: int, key,
                 memory=None) -> LearnerState:
    opt_state = set_learning_rate(make_optimizer(grad_clip).init(params), hp.lr)
    return LearnerState(params=params, target_params=params, opt_state=opt_state,
                        replay=replay_init(example, buffer_size), key=key, epoch=jnp.int32(0),
                        best_params=params, best_score=jnp.float32(-jnp.inf), best_epoch=jnp.int32(-1),
                        memory=memory)


def epsilon_greedy(k_explore, k_action, q, eps, levels: int) -> jax.Array:
    """argmax of ``q`` (leading shape N), or a uniform level with probability ``eps``."""
    shape = q.shape[:-1]
    explore = jax.random.uniform(k_explore, shape) < eps
    return jnp.where(explore, jax.random.randint(k_action, shape, 0, levels), jnp.argmax(q, axis=-1)).astype(jnp.int32)


def ddqn_loss(params, target_params, q_fn: Callable, market: MarketData, batch: Transition, hp: HParams,
              memory_term: bool = True):
    """TD (Double DQN, or DQN when ``hp.double`` is 0) [+ memory_weight * MSE(Q(s,a), q_memory)]
    + kl_weight * KL(teacher || Q).
    The memory part exists when the transitions carry ``q_memory`` (``memory_term`` False logs it
    as 0: the no-memory ablation)."""
    obs = observe_rows(market, batch.row, batch.prev_action)
    after = observe_rows(market, batch.row + 1, batch.action)
    q = q_fn(params, obs)
    q_taken = take(q, batch.action)
    q_after = q_fn(target_params, after)
    best_next = jnp.where(hp.double > 0, jnp.argmax(q_fn(params, after), axis=-1), jnp.argmax(q_after, axis=-1))
    q_next = take(q_after, best_next)
    target = jax.lax.stop_gradient(batch.reward + hp.gamma * (1.0 - batch.done) * q_next)
    td = jnp.mean((q_taken - target) ** 2)
    kl = kl_to_teacher(obs.demo, q)
    loss, parts = td, {"td": td, "q_abs_max": jnp.max(jnp.abs(q))}  # the bounded-divergence guard reads q_abs_max
    if batch.q_memory is not None:
        parts["memory"] = jnp.mean((q_taken - batch.q_memory) ** 2) if memory_term else jnp.float32(0)
        loss = loss + hp.memory_weight * parts["memory"]
    return loss + hp.kl_weight * kl, {**parts, "kl": kl}


@struct.dataclass
class Schedule:
    """The static shape of an epoch's collect-then-learn loop."""
    iterations: int = struct.field(pytree_node=False)
    steps_per_iteration: int = struct.field(pytree_node=False)
    updates_per_iteration: int = struct.field(pytree_node=False)
    batch_size: int = struct.field(pytree_node=False)
    learning_starts: int = struct.field(pytree_node=False)
    grad_clip: float = struct.field(pytree_node=False)


def collect_then_learn(schedule: Schedule, loss_fn: Callable, hp: HParams, collect: Callable, env, state: LearnerState,
                       key, budget: Callable | None = None, refresh: Callable | None = None):
    """One epoch: ``schedule.iterations`` rounds of collecting, then learning.

    ``collect(params, first) -> step(carry, t) -> (carry, stats)`` runs one env step (``first``:
    the iteration's first ``t``), with carry (env, replay, key) and stats {"reward",
    "collected"}; ``refresh(params, env) -> env`` runs after each collection (the memory
    re-encoding); ``budget(it, stats) -> (updates, active)``
    caps an iteration's updates (default: all of them, always). ``loss_fn(params, target,
    batch) -> (loss, parts)``. Returns (env, state, per-epoch metrics).
    """
    s = schedule
    optimizer = make_optimizer(s.grad_clip)

    def iteration(carry, it):
        env, replay, params, target, opt_state, key = carry
        first = it * s.steps_per_iteration
        (env, replay, key), stats = jax.lax.scan(collect(params, first), (env, replay, key),
                                                 first + jnp.arange(s.steps_per_iteration))
        if refresh is not None:
            env = refresh(params, env)
        key, k_updates = jax.random.split(key)
        n_updates, active = (s.updates_per_iteration, True) if budget is None else budget(it, stats)
        ready = (replay.count > s.learning_starts) & active
        keys = jax.random.split(k_updates, s.updates_per_iteration)

        def one_update(x, k):
            p, tp, os = x
            (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, tp, replay_sample(replay, k, s.batch_size))
            return apply_gradients(optimizer, p, tp, os, grads, hp.tau), update_metrics(loss, parts, grads)

        # a while loop, not a masked scan: a member with fewer updates due (fast mode's idle
        # slots, the last round of an epoch) does not pay for the rest
        def body(carry):
            j, x, totals = carry
            x, m = one_update(x, keys[j])
            return j + 1, x, accumulate(totals, m)

        x = (params, target, opt_state)
        zero = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), jax.eval_shape(lambda: one_update(x, keys[0])[1]))
        _, (params, target, opt_state), metrics = jax.lax.while_loop(
            lambda carry: carry[0] < jnp.where(ready, n_updates, 0), body, (jnp.int32(0), x, zero))
        metrics["updates"] = ready * n_updates
        return (env, replay, params, target, opt_state, key), {"reward": stats["reward"].sum(), **metrics}

    carry = (env, state.replay, state.params, state.target_params, state.opt_state, key)
    (env, replay, params, target, opt_state, _), per_iteration = jax.lax.scan(iteration, carry, jnp.arange(s.iterations))
    totals = {k: v.max() if is_maximum(k) else v.sum() for k, v in per_iteration.items()}
    averaged = tuple(k for k in totals if k not in ("reward", "updates", "nonfinite", "grad_norm") and not is_maximum(k))
    metrics = {"train_reward": totals["reward"], "epsilon": epsilon(hp, state.epoch), **epoch_metrics(totals, averaged)}
    state = state.replace(params=params, target_params=target, opt_state=opt_state, replay=replay,
                          epoch=state.epoch + 1)
    return env, state, metrics


def greedy_rollout(policy: Callable, market: MarketData, trading: TradingSettings, levels: int, start_action: int = 0):
    """Greedy run over a whole split as one episode: ``policy(observation of one state) -> Q (1, K)``.
    Returns (actions (T-1,), rewards (T-1,), final accounting)."""
    env = split_params(market, trading, levels)
    state = start_state(jnp.int32(0), jnp.int32(start_action), env)

    def one_step(state, _):
        action = jnp.argmax(policy(observe_rows(market, state.row[None], state.prev_action[None]))[0]).astype(jnp.int32)
        state, reward, _, _ = transition(state, action, env)
        return state, (action, reward)

    state, (actions, rewards) = jax.lax.scan(one_step, state, None, length=market.num_rows - 1)
    return actions, rewards, accounts(state)
