"""The hyper-agent's episodic memory as pure functions over a pytree ring, kept on device.

A FIFO ring of ``capacity`` entries (key, action, q), plus the market ``row`` and the
``prev_action`` of each entry so that every key can be re-encoded later with the current
network. Query rule (docs/method.md s.5), for a query ``key`` and ``action``:

    s_i = 1 / (||key - key_i||^2 + 1e-3)                    for every entry i
    top k entries by s (``lax.top_k``; ties: lowest ring slot first)
    w_j = s_j / sum(s_top)                                   weights over the top k
    w_j *= [action_j == action];  w_j /= sum(w)              keep the same action only
    q_memory = sum_j w_j q_j

falling back to ``own_q`` while the ring is not full (count < capacity) or when no top-k
entry has the same action (the reference gets NaN there and its caller substitutes the
step's own q). ``memory_step`` queries and then adds (the reference's order), storing the
step's own q with its key.

In place inside a scan. A step that reads the ring and then writes one slot of it makes XLA
copy the whole ring (1.1 MB at the reference's size) every step. So ``memory_step`` writes
first and reads after: its new entry waits in ``pending`` and enters the ring at the start of
the next step (``memory_flush``), before that step's query, which therefore sees exactly the
entries the reference's would. Every other function flushes first, so a memory with a pending
entry behaves as one without. The arrays hold one row more than the capacity, a scratch slot
that the flush writes to when nothing is pending and that queries never see: a write to a
computed slot stays in place under ``vmap``, where a conditional write would become a select
over the whole ring.

The nearest entries are found in two passes: the squared distance as ``|a|^2 - 2 a.b`` (one
matrix-vector product over cached key norms, the same ``|b|^2`` dropped) keeps the
``k * CANDIDATES`` nearest, then their plain sums of squared differences pick the ``k``: the
expansion alone loses precision for near keys, and the plain sum over every entry costs most of
a step. The two agree unless more than ``k * CANDIDATES`` entries lie within float32 rounding of
the ``k``-th distance.

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
CANDIDATES = 4  # the fast pass keeps k * CANDIDATES entries for the exact one


@struct.dataclass
class Memory:
    key: jax.Array          # (C+1, D) float32 encodings (the hyper-agent's 2H vector x); row C: scratch
    norm: jax.Array         # (C+1,) float32 |key|^2 of each entry (the fast pass of the query)
    action: jax.Array       # (C+1,) int32 action taken
    q: jax.Array            # (C+1,) float32 the step's own q target
    row: jax.Array          # (C+1,) int32 market row of the state (for re-encoding)
    prev_action: jax.Array  # (C+1,) int32 previous action of the state (for re-encoding)
    insert: jax.Array       # () int32 next write position (= the oldest entry once full)
    count: jax.Array        # () int32 filled entries (<= C)
    pending: tuple          # (key (D,), action, q, row, prev_action): the newest entry, not yet in the ring
    waiting: jax.Array      # () bool: ``pending`` holds an entry

    @property
    def capacity(self) -> int:
        return self.key.shape[-2] - 1

    @property
    def dim(self) -> int:
        return self.key.shape[-1]


def _entry(key, action, q, row, prev_action) -> tuple:
    return (jnp.asarray(key, jnp.float32), jnp.asarray(action, jnp.int32), jnp.asarray(q, jnp.float32),
            jnp.asarray(row, jnp.int32), jnp.asarray(prev_action, jnp.int32))


def memory_init(capacity: int = CAPACITY, dim: int = 64) -> Memory:
    """An empty ring of ``capacity`` entries with ``dim``-dimensional keys."""
    zeros = lambda dtype, *shape: jnp.zeros((capacity + 1, *shape), dtype)  # noqa: E731  (distinct buffers)
    return Memory(key=zeros(jnp.float32, dim), norm=zeros(jnp.float32), action=zeros(jnp.int32), q=zeros(jnp.float32),
                  row=zeros(jnp.int32), prev_action=zeros(jnp.int32),
                  insert=jnp.int32(0), count=jnp.int32(0), pending=_entry(jnp.zeros(dim), 0, 0.0, 0, 0),
                  waiting=jnp.bool_(False))


def _write(memory: Memory, entry: tuple, real=True) -> Memory:
    """Write ``entry`` at the insert position, overwriting the oldest when full; with ``real``
    false, into the scratch slot instead (nothing changes)."""
    real = jnp.asarray(real, jnp.bool_)
    i = jnp.where(real, memory.insert, memory.capacity)
    key, action, q, row, prev_action = entry
    put = lambda buf, x: jax.lax.dynamic_update_index_in_dim(buf, x, i, 0)  # noqa: E731
    return memory.replace(key=put(memory.key, key), norm=put(memory.norm, jnp.sum(key * key)),
                          action=put(memory.action, action), q=put(memory.q, q), row=put(memory.row, row),
                          prev_action=put(memory.prev_action, prev_action),
                          insert=jnp.where(real, (memory.insert + 1) % memory.capacity, memory.insert),
                          count=jnp.minimum(memory.count + real, memory.capacity))


def memory_flush(memory: Memory) -> Memory:
    """The pending entry, if any, written into the ring."""
    return _write(memory, memory.pending, memory.waiting).replace(waiting=jnp.bool_(False))


def memory_full(memory: Memory) -> jax.Array:
    """Whether the ring (of a flushed memory) holds ``capacity`` entries."""
    return memory.count >= memory.capacity


def _neighbours(memory: Memory, key, k: int) -> tuple[jax.Array, jax.Array]:
    approx = memory.norm - 2.0 * jnp.dot(memory.key, key, precision=jax.lax.Precision.HIGHEST)
    approx = jnp.where(jnp.arange(memory.capacity + 1) < memory.capacity, approx, jnp.inf)  # not the scratch slot
    _, candidates = jax.lax.top_k(-approx, min(k * CANDIDATES, memory.capacity))
    candidates = jnp.sort(candidates)  # slot order: exact ties keep the lowest slots
    diff = memory.key[candidates] - key
    sim = 1.0 / (jnp.sum(diff * diff, axis=-1) + jnp.float32(EPS))
    top_sim, picked = jax.lax.top_k(sim, k)
    return candidates[picked], top_sim


def _lookup(memory: Memory, key, action, own_q, k: int) -> jax.Array:
    slots, top_sim = _neighbours(memory, key, k)
    weights = top_sim / jnp.sum(top_sim)
    same = memory.action[slots] == action
    masked = jnp.where(same, weights, 0.0)
    total = jnp.sum(masked)
    use = memory_full(memory) & jnp.any(same)
    q_mem = jnp.sum((masked / jnp.where(use, total, 1.0)) * memory.q[slots])
    return jnp.where(use, q_mem, own_q)


def memory_neighbours(memory: Memory, key, k: int = TOP_K) -> tuple[jax.Array, jax.Array]:
    """Ring slots of the ``k`` most similar entries (most similar first, ties: lowest slot) and their similarities.

    Two passes (see the module doc); the similarities come from the plain sums of squared
    differences. Every slot takes part, filled or not: only a full ring is ever used.
    """
    return _neighbours(memory_flush(memory), jnp.asarray(key, jnp.float32), k)


def memory_lookup(memory: Memory, key, action, own_q, k: int = TOP_K) -> jax.Array:
    """The memory's q for (``key``, ``action``), or ``own_q`` when it has none (see the module doc)."""
    key, action, own_q, *_ = _entry(key, action, own_q, 0, 0)
    return _lookup(memory_flush(memory), key, action, own_q, k)


def memory_add(memory: Memory, key, action, q, row, prev_action) -> Memory:
    """Write one entry at the insert position, overwriting the oldest when full."""
    return _write(memory_flush(memory), _entry(key, action, q, row, prev_action))


def memory_step(memory: Memory, key, action, own_q, row, prev_action, k: int = TOP_K,
                active=True) -> tuple[jax.Array, Memory]:
    """Query, then add (key, action, own_q): returns (q_memory, updated memory). An inactive
    step (``active`` false: past an episode's end) queries and adds nothing."""
    memory = memory_flush(memory)
    entry = _entry(key, action, own_q, row, prev_action)
    q_mem = _lookup(memory, entry[0], entry[1], entry[2], k)
    return q_mem, memory.replace(pending=entry, waiting=jnp.asarray(active, jnp.bool_))


def memory_reencode(memory: Memory, encode) -> Memory:
    """Every key replaced by ``encode(row, prev_action)`` ((C+1,) each -> (C+1, D), the scratch
    slot included): the entries re-encoded by the current network."""
    memory = memory_flush(memory)
    keys = jnp.asarray(encode(memory.row, memory.prev_action), jnp.float32)
    if keys.shape != memory.key.shape:
        raise ValueError(f"keys of shape {keys.shape}, the memory holds {memory.key.shape}")
    return memory.replace(key=keys, norm=jnp.sum(keys * keys, axis=-1))
