"""The hyper-agent's episodic memory as pure functions over a pytree ring, kept on device.

A FIFO ring of ``capacity`` entries (key, action, q), plus the market ``row`` and the
``prev_action`` of each entry so that every key can be re-encoded later with the current
network. Query rule (MACROHFT.md section 5), for a query ``key`` and ``action``:

    s_i = 1 / (||key - key_i||^2 + 1e-3)                    for every entry i
    top k entries by s (``lax.top_k``; ties: lowest ring slot first)
    w_j = s_j / sum(s_top)                                   weights over the top k
    w_j *= [action_j == action];  w_j /= sum(w)              keep the same action only
    q_memory = sum_j w_j q_j

falling back to ``own_q`` while the ring is not full (count < capacity) or when no top-k
entry has the same action (the reference gets NaN there and its caller substitutes the
step's own q). ``memory_step`` queries and then adds (the reference's order), storing the
step's own q with its key.

Everything is jit/vmap-able: the capacity is static (the leading axis of ``key``), the
write position and fill count are arrays, so a batch of memories (one per seed) is just
a ``Memory`` with a leading batch axis under ``jax.vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

CAPACITY = 4320
TOP_K = 5
EPS = 1e-3


@struct.dataclass
class Memory:
    key: jax.Array          # (C, D) float32 encodings (the hyper-agent's 2H vector x)
    action: jax.Array       # (C,) int32 action taken
    q: jax.Array            # (C,) float32 the step's own q target
    row: jax.Array          # (C,) int32 market row of the state (for re-encoding)
    prev_action: jax.Array  # (C,) int32 previous action of the state (for re-encoding)
    insert: jax.Array       # () int32 next write position (= the oldest entry once full)
    count: jax.Array        # () int32 filled entries (<= C)

    @property
    def capacity(self) -> int:
        return self.key.shape[-2]

    @property
    def dim(self) -> int:
        return self.key.shape[-1]


def memory_init(capacity: int = CAPACITY, dim: int = 64) -> Memory:
    """An empty ring of ``capacity`` entries with ``dim``-dimensional keys."""
    zeros_i = jnp.zeros((capacity,), jnp.int32)
    return Memory(key=jnp.zeros((capacity, dim), jnp.float32), action=zeros_i,
                  q=jnp.zeros((capacity,), jnp.float32), row=zeros_i, prev_action=zeros_i,
                  insert=jnp.int32(0), count=jnp.int32(0))


def memory_full(memory: Memory) -> jax.Array:
    return memory.count >= memory.capacity


def memory_neighbours(memory: Memory, key, k: int = TOP_K) -> tuple[jax.Array, jax.Array]:
    """Ring slots of the ``k`` most similar entries (most similar first, ties: lowest slot) and their similarities.

    The squared distance is the plain sum of squared differences (not the
    ``|a|^2 - 2ab + |b|^2`` expansion, which loses precision for near keys).
    Every slot takes part, filled or not: only a full ring is ever used.
    """
    diff = memory.key - jnp.asarray(key, jnp.float32)
    d2 = jnp.sum(diff * diff, axis=-1)
    sim = 1.0 / (d2 + jnp.float32(EPS))
    top_sim, slots = jax.lax.top_k(sim, k)
    return slots, top_sim


def memory_lookup(memory: Memory, key, action, own_q, k: int = TOP_K) -> jax.Array:
    """The memory's q for (``key``, ``action``), or ``own_q`` when it has none (see the module doc)."""
    slots, top_sim = memory_neighbours(memory, key, k)
    weights = top_sim / jnp.sum(top_sim)
    same = memory.action[slots] == jnp.asarray(action, jnp.int32)
    masked = jnp.where(same, weights, 0.0)
    total = jnp.sum(masked)
    use = memory_full(memory) & jnp.any(same)
    q_mem = jnp.sum((masked / jnp.where(use, total, 1.0)) * memory.q[slots])
    return jnp.where(use, q_mem, jnp.asarray(own_q, jnp.float32))


def memory_add(memory: Memory, key, action, q, row, prev_action) -> Memory:
    """Write one entry at the insert position, overwriting the oldest when full."""
    i = memory.insert
    put = lambda buf, x, dtype: jax.lax.dynamic_update_index_in_dim(buf, jnp.asarray(x, dtype), i, 0)  # noqa: E731
    return Memory(key=put(memory.key, key, jnp.float32), action=put(memory.action, action, jnp.int32),
                  q=put(memory.q, q, jnp.float32), row=put(memory.row, row, jnp.int32),
                  prev_action=put(memory.prev_action, prev_action, jnp.int32),
                  insert=(i + 1) % memory.capacity,
                  count=jnp.minimum(memory.count + 1, memory.capacity))


def memory_step(memory: Memory, key, action, own_q, row, prev_action,
                k: int = TOP_K) -> tuple[jax.Array, Memory]:
    """Query, then add (key, action, own_q): returns (q_memory, updated memory)."""
    q_mem = memory_lookup(memory, key, action, own_q, k)
    return q_mem, memory_add(memory, key, action, own_q, row, prev_action)


def memory_reencode(memory: Memory, keys) -> Memory:
    """Replace every key (``keys``: (C, D), computed by the caller from ``row`` / ``prev_action``)."""
    keys = jnp.asarray(keys, jnp.float32)
    if keys.shape != memory.key.shape:
        raise ValueError(f"keys of shape {keys.shape}, the memory holds {memory.key.shape}")
    return memory.replace(key=keys)
