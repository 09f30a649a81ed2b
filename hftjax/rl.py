"""Pieces shared by the sub-agent and hyper-agent learners."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def make_optimizer(grad_clip: float) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam whose learning rate lives in the optimizer state."""
    return optax.chain(optax.clip_by_global_norm(grad_clip),
                       optax.inject_hyperparams(optax.adam)(learning_rate=1e-4))


def set_learning_rate(opt_state, lr):
    adam = opt_state[1]
    return (opt_state[0], adam._replace(hyperparams={**adam.hyperparams, "learning_rate": lr}))


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


def apply_gradients(optimizer, params, target_params, opt_state, grads, tau):
    """Optimizer step, then the soft target update (after every gradient step)."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, optax.incremental_update(params, target_params, tau), opt_state


def update_metrics(loss, parts: dict, grads) -> dict:
    """Per-update metrics: the loss and its parts, the gradient norm, and ``nonfinite`` (1 when
    the loss or the gradient is NaN or infinite: the divergence guard counts these)."""
    grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
    bad = ~(jnp.isfinite(loss) & jnp.isfinite(grad_norm))
    return {"loss": loss, **parts, "grad_norm": grad_norm, "nonfinite": bad.astype(jnp.float32)}


def is_maximum(key: str) -> bool:
    """Metrics named ``*_max`` are maxima over the updates, not sums or means."""
    return key.endswith("_max")


def accumulate(totals: dict, metrics: dict) -> dict:
    """Running per-epoch totals: sums, and maxima for ``*_max`` metrics."""
    return {k: jnp.maximum(totals[k], v) if is_maximum(k) else totals[k] + v for k, v in metrics.items()}


def epoch_metrics(totals: dict, averaged: tuple[str, ...]) -> dict:
    """Per-epoch metrics from per-update totals: ``averaged`` keys (and the gradient norm) as
    means over the updates done, ``nonfinite`` as a count, ``*_max`` maxima as they are."""
    updates = jnp.maximum(totals["updates"], 1)
    return {"updates": totals["updates"], "nonfinite": totals["nonfinite"],
            **{k: totals[k] for k in totals if is_maximum(k)},
            **{k: totals[k] / updates for k in (*averaged, "grad_norm")}}


def tree_select(cond, on_true, on_false):
    """Leaf-wise ``jnp.where(cond, on_true, on_false)`` over two pytrees of the same structure."""
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), on_true, on_false)


def keep_best(state, score, scored=True):
    """Keep ``state.params`` as the best if ``score`` beats every earlier epoch (``state.epoch``
    counts the epochs done). A NaN score never counts as best; a member with nothing to
    validate on (``scored`` false) keeps its latest epoch."""
    better = jnp.where(scored, score > state.best_score, True)
    return state.replace(best_params=tree_select(better, state.params, state.best_params),
                         best_score=jnp.where(better, score, state.best_score),
                         best_epoch=jnp.where(better, state.epoch - 1, state.best_epoch))


def vmap_members(fn):
    """``jax.vmap(fn)`` over the leading (member) axis of every argument, except that a single
    member runs unbatched: under a vmap of size 1, XLA copies a buffer that a scan updates in
    place (the episodic memory's ring, every step) instead of updating it."""
    def mapped(*args):
        if jax.tree.leaves(args)[0].shape[0] > 1:
            return jax.vmap(fn)(*args)
        return jax.tree.map(lambda x: x[None], fn(*jax.tree.map(lambda x: x[0], args)))
    return mapped
