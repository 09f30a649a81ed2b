"""A population's members side by side: the static ``Setup`` they share and their stacked
``MemberSpec`` (episode lists padded to one length), a vmap over the leading member axis, and each
member's best epoch kept on validation."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hftjax.env.core import tree_select
from hftjax.learner.config import LearnerConfig
from hftjax.learner.dqn import HParams


@struct.dataclass
class MemberSpec:
    train_starts: jax.Array  # (E,) int32 first rows of the member's training chunks (padded)
    num_train: jax.Array     # () int32
    valid_starts: jax.Array  # (V,) int32 first rows of same-label validation chunks (padded)
    num_valid: jax.Array     # () int32
    hp: HParams
    train_jitter: jax.Array  # (E,) int32 most rows an episode may start late (CDQNRP's windows; 0: none)


@dataclasses.dataclass(frozen=True)
class Setup:
    """Static structure shared by all members (hashable: part of the compiled program)."""
    cfg: LearnerConfig       # the learner's options (the sub-agents'), compiled part only
    levels: int
    chunk_len: int
    max_train: int
    max_valid: int
    net: nn.Module           # the sub-agent network, or a baseline's

    def q_fn(self, params, obs):
        """Q (N, K) of observations (``hftjax.env.observe_rows``)."""
        return self.net.apply(params, obs.single, obs.trend, obs.prev_action)


def padded(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    width = max(1, max(len(v) for v in values))
    out = np.zeros((len(values), width), np.int32)
    for i, v in enumerate(values):
        out[i, : len(v)] = v
    return out, np.array([len(v) for v in values], np.int32), width


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
