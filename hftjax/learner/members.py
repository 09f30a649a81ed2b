"""A population's members side by side: a vmap over the leading member axis, and each member's
best epoch kept on validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hftjax.env.core import tree_select


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
