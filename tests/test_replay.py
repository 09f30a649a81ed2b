from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.learner.replay import replay_add, replay_init, replay_sample


def test_masked_ring_matches_a_python_deque():
    replay = replay_init({"x": jnp.int32(0), "y": jnp.zeros(2)}, capacity=7)
    add = jax.jit(replay_add)
    expected, counter = [], 0
    rng = np.random.default_rng(0)
    for _ in range(6):
        n = 4
        xs = np.arange(counter, counter + n)
        mask = rng.random(n) < 0.7
        counter += n
        replay = add(replay, {"x": jnp.asarray(xs, jnp.int32), "y": jnp.asarray(np.stack([xs, -xs], 1), jnp.float32)}, mask)
        expected = (expected + list(xs[mask]))[-7:]
    assert int(replay.count) == len(expected)
    stored = np.asarray(replay.data["x"])
    start = int(replay.insert)
    ordered = np.concatenate([stored[start:], stored[:start]])[-len(expected):] if len(expected) == 7 else stored[:len(expected)]
    assert ordered.tolist() == expected
    np.testing.assert_array_equal(np.asarray(replay.data["y"])[:, 1], -stored)


def test_sample_only_from_filled_entries():
    replay = replay_init(jnp.int32(0), capacity=100)
    replay = replay_add(replay, jnp.arange(1, 6, dtype=jnp.int32), jnp.ones(5, bool))
    batch = replay_sample(replay, jax.random.key(0), 1000)
    assert set(np.asarray(batch).tolist()) == {1, 2, 3, 4, 5}
