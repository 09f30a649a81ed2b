"""A uniform replay buffer as pure functions over a pytree ring (flashbax-style), kept on device."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Replay:
    data: object            # pytree, every leaf (capacity, ...)
    insert: jax.Array       # () int32 next write position
    count: jax.Array        # () int32 filled entries (<= capacity)

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def replay_init(example, capacity: int) -> Replay:
    """Empty ring shaped like ``example`` (one item, no leading axis)."""
    data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
    return Replay(data=data, insert=jnp.int32(0), count=jnp.int32(0))


def replay_add(replay: Replay, items, mask) -> Replay:
    """Append the items (leading axis n) whose ``mask`` is set, in order, overwriting the oldest."""
    mask = jnp.asarray(mask, bool)
    capacity = replay.capacity
    offsets = jnp.cumsum(mask) - 1
    slots = jnp.where(mask, (replay.insert + offsets) % capacity, capacity)  # capacity = dropped
    data = jax.tree.map(lambda buf, x: buf.at[slots].set(x, mode="drop"), replay.data, items)
    added = mask.sum(dtype=jnp.int32)
    return Replay(data=data, insert=(replay.insert + added) % capacity,
                  count=jnp.minimum(replay.count + added, capacity))


def replay_sample(replay: Replay, key: jax.Array, batch_size: int):
    """``batch_size`` items drawn uniformly with replacement from the filled part."""
    index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(replay.count, 1))
    return jax.tree.map(lambda buf: buf[index], replay.data)
