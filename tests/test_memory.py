from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hftjax.hyper.memory import (memory_add, memory_flush, memory_init, memory_lookup, memory_neighbours,
                                 memory_reencode, memory_step)
from hftjax.learner.members import vmap_members
from tests.memory_oracle import OracleMemory

C, D, K = 16, 8, 5
TOL = dict(rtol=1e-6, atol=1e-6)  # float32 rounding; atol for weighted means that cancel to ~0 (q is O(1))

step = jax.jit(memory_step, static_argnames="k")
neighbours = jax.jit(memory_neighbours, static_argnames="k")


def random_stream(n: int, seed: int, pool: int = 0):
    """keys, actions, own q, rows, previous actions; with ``pool`` > 0 a third of the keys repeat
    one of ``pool`` fixed vectors (duplicate keys: exact ties in similarity)."""
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(n, D)).astype(np.float32)
    if pool:
        fixed = rng.normal(size=(pool, D)).astype(np.float32)
        reuse = rng.random(n) < 1 / 3
        keys[reuse] = fixed[rng.integers(0, pool, reuse.sum())]
    actions = rng.integers(0, 2, n).astype(np.int32)
    q = rng.normal(size=n).astype(np.float32)
    rows = rng.integers(0, 10_000, n).astype(np.int32)
    prev = rng.integers(0, 2, n).astype(np.int32)
    return keys, actions, q, rows, prev


def check_against_oracle(memory, oracle, stream, cases):
    for key, a, q, r, p in zip(*stream):
        if len(oracle.entries) == C:  # same top-k set, same order (ties included)
            slots, _ = neighbours(memory, key, k=K)
            assert np.asarray(slots).tolist() == [s for _, s, _ in oracle.neighbours(key)]
        want, case = oracle.step(key, a, q, r, p)
        got, memory = step(memory, key, a, q, r, p, k=K)
        np.testing.assert_allclose(float(got), want, **TOL)
        if case != "match":
            assert float(got) == float(q)  # the fallback is exactly the step's own q
        cases[case] += 1
    return memory


def check_ring(memory, oracle):
    """The ring's contents, read oldest first from the write position, are the oracle's deque."""
    memory = memory_flush(memory)
    order = [(int(memory.insert) + j) % C for j in range(C)] if len(oracle.entries) == C else range(len(oracle.entries))
    assert int(memory.count) == len(oracle.entries)
    for slot, entry in zip(order, oracle.entries):
        np.testing.assert_array_equal(np.asarray(memory.key[slot]), entry["key"].astype(np.float32))
        assert (int(memory.action[slot]), int(memory.row[slot]), int(memory.prev_action[slot])) == (
            entry["action"], entry["row"], entry["prev_action"])
        assert float(memory.q[slot]) == np.float32(entry["q"])


@pytest.mark.parametrize("pool", [0, 4])
def test_step_sequence_matches_oracle(pool):
    stream = random_stream(400, seed=pool, pool=pool)  # 25 wrap-arounds
    memory, oracle, cases = memory_init(C, D), OracleMemory(C, K), collections.Counter()
    memory = check_against_oracle(memory, oracle, stream, cases)
    check_ring(memory, oracle)
    assert cases["not_full"] == C
    assert cases["no_match"] >= 5 and cases["match"] >= 100, cases  # each fallback case is hit


def test_not_full_falls_back_even_with_an_exact_match():
    memory = memory_init(C, D)
    key = jnp.ones(D)
    for i in range(C - 1):
        memory = memory_add(memory, key, 1, 100.0 + i, i, 0)
    assert float(memory_lookup(memory, key, 1, -3.0, k=K)) == -3.0
    memory = memory_add(memory, key, 1, 7.0, 99, 0)  # now full: all C entries tie; slots 0..4 win
    assert float(memory_lookup(memory, key, 1, -3.0, k=K)) == pytest.approx(np.mean(100.0 + np.arange(5)), rel=1e-6)


def tie_memory(insert_offset: int):
    """A full ring where the query (0) has 2 near entries and 4 entries tied at d2 = 1, of which
    only 3 fit in the top 5: the rule takes the 3 lowest slots. Keys are exact in float32.
    ``insert_offset`` writes the entries after that many throw-away ones, so ring slots and age
    order differ (wrap-around)."""
    memory, oracle = memory_init(C, D), OracleMemory(C, K)
    far = np.full(D, 10.0, np.float32)
    near = np.zeros(D, np.float32)
    near[0] = 0.5
    tied = np.zeros(D, np.float32)
    tied[1] = 1.0
    for i in range(insert_offset):
        memory = memory_add(memory, far, 0, 0.0, -1, 0)
        oracle.add(far, 0, 0.0, -1, 0)
    layout = {}  # slot -> (key, action, q)
    for slot in range(C):
        layout[slot] = (far, 1, -50.0)
    layout[3] = layout[7] = (near, 1, 1.0)
    layout[1], layout[5], layout[9], layout[12] = (tied, 1, 2.0), (tied, 0, 4.0), (tied, 1, 8.0), (tied, 1, 16.0)
    for n in range(C):
        slot = (insert_offset + n) % C
        key, a, q = layout[slot]
        memory = memory_add(memory, key, a, q, slot, 0)
        oracle.add(key, a, q, slot, 0)
    assert int(memory.count) == C and int(memory.insert) == insert_offset % C
    return memory, oracle


@pytest.mark.parametrize("insert_offset", [0, 11])
def test_exact_ties_take_the_lowest_slots(insert_offset):
    memory, oracle = tie_memory(insert_offset)
    query = np.zeros(D, np.float32)
    slots, sims = neighbours(memory, query, k=K)
    assert np.asarray(slots).tolist() == [3, 7, 1, 5, 9]  # slot 12 ties with 1, 5, 9 but loses
    assert [s for _, s, _ in oracle.neighbours(query)] == [3, 7, 1, 5, 9]
    s_near, s_tied = 1 / (0.25 + 1e-3), 1 / (1 + 1e-3)
    total = 2 * s_near + 3 * s_tied
    w = np.array([s_near, s_near, s_tied, s_tied]) / total  # action 1: slots 3, 7, 1, 9
    expected = (w * [1.0, 1.0, 2.0, 8.0]).sum() / w.sum()
    for action, want in [(1, expected), (0, 4.0)]:  # action 0: only slot 5 is in the top 5
        got = float(memory_lookup(memory, query, action, 0.0, k=K))
        assert got == pytest.approx(want, rel=1e-6)
        assert oracle.lookup(query, action, 0.0) == (pytest.approx(want, rel=1e-12), "match")
    # full, but no top-5 neighbour with action 2: own q
    assert float(memory_lookup(memory, query, 2, -9.0, k=K)) == -9.0
    assert oracle.lookup(query, 2, -9.0) == (-9.0, "no_match")


def test_duplicate_query_key_dominates():
    memory, oracle = tie_memory(0)
    near = np.zeros(D, np.float32)
    near[0] = 0.5  # the query equals slots 3 and 7: weight 1/1e-3 each
    got = float(memory_lookup(memory, near, 1, 0.0, k=K))
    want, case = oracle.lookup(near, 1, 0.0)
    assert case == "match" and got == pytest.approx(want, rel=1e-6)
    assert abs(got - 1.0) < 0.01


def encode(rows, prev):
    """A stand-in network: a deterministic function of (row, previous action)."""
    rows = np.asarray(rows, np.float32)[..., None]
    return np.sin(0.01 * rows * np.arange(1, D + 1, dtype=np.float32) + np.asarray(prev, np.float32)[..., None]).astype(
        np.float32)


def test_reencode_then_continue_matches_oracle():
    stream = random_stream(120, seed=7)
    memory, oracle, cases = memory_init(C, D), OracleMemory(C, K), collections.Counter()
    memory = check_against_oracle(memory, oracle, [x[:50] for x in stream], cases)
    before = memory_flush(memory)
    memory = memory_reencode(memory, encode)
    oracle.reencode(lambda r, p: encode(r, p))
    for name in ("action", "q", "row", "prev_action", "insert", "count"):
        np.testing.assert_array_equal(np.asarray(getattr(memory, name)), np.asarray(getattr(before, name)))
    np.testing.assert_array_equal(np.asarray(memory.key), encode(np.asarray(before.row), np.asarray(before.prev_action)))
    check_ring(memory, oracle)
    memory = check_against_oracle(memory, oracle, [x[50:] for x in stream], cases)
    check_ring(memory, oracle)
    with pytest.raises(ValueError):
        memory_reencode(memory, lambda row, prev: np.zeros((C + 1, D + 1), np.float32))


def scan_steps(memory, stream):
    def body(m, xs):
        q_mem, m = memory_step(m, *xs, k=K)
        return m, q_mem
    return jax.lax.scan(body, memory, stream)


def test_jit_scan_and_eager_agree():
    stream = random_stream(60, seed=3, pool=3)
    memory, out_loop = memory_init(C, D), []
    for xs in zip(*stream):
        q_mem, memory = step(memory, *xs, k=K)
        out_loop.append(float(q_mem))
    eager = memory_init(C, D)
    out_eager = []
    for xs in zip(*stream):
        q_mem, eager = memory_step(eager, *xs, k=K)
        out_eager.append(float(q_mem))
    final, out_scan = jax.jit(scan_steps)(memory_init(C, D), tuple(map(jnp.asarray, stream)))
    np.testing.assert_allclose(out_eager, out_loop, **TOL)
    np.testing.assert_allclose(np.asarray(out_scan), out_loop, **TOL)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(memory)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_vmap_over_memories_matches_a_loop():
    streams = [random_stream(80, seed=10 + s, pool=2 * s) for s in range(3)]
    batched = jax.tree.map(lambda *x: jnp.stack(x), *[tuple(map(jnp.asarray, s)) for s in streams])
    memories = jax.vmap(lambda _: memory_init(C, D))(jnp.arange(3))
    finals, outs = jax.jit(jax.vmap(scan_steps))(memories, batched)
    assert finals.key.shape == (3, C + 1, D)  # and the scratch slot
    for s, stream in enumerate(streams):
        oracle, memory = OracleMemory(C, K), memory_init(C, D)
        for t, xs in enumerate(zip(*stream)):
            want, _ = oracle.step(*xs)
            got, memory = step(memory, *xs, k=K)
            assert float(outs[s, t]) == pytest.approx(float(got), rel=1e-6, abs=1e-6)
            np.testing.assert_allclose(float(outs[s, t]), want, **TOL)
        for a, b in zip(jax.tree.leaves(finals), jax.tree.leaves(memory)):
            np.testing.assert_array_equal(np.asarray(a[s]), np.asarray(b))
        check_ring(jax.tree.map(lambda x: x[s], finals), oracle)


def test_reference_style_loop_matches_oracle():
    """The benchmark's baseline (the reference's array layout and loop) follows the same rule."""
    from tests.memory_oracle import ReferenceStyleMemory

    for pool in (0, 4):
        stream = random_stream(200, seed=20 + pool, pool=pool)
        oracle, ref = OracleMemory(C, K), ReferenceStyleMemory(C, D, K)
        for xs in zip(*stream):
            want, _ = oracle.step(*xs)
            assert ref.step(*xs) == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seeds", [None, 1, 3])
def test_scanned_steps_update_the_ring_in_place(seeds):
    """Inside a ``lax.scan``, alone or mapped over seeds (``vmap_members``, which runs a single
    seed unbatched), no step copies the ring (the pending-entry design, module doc): the only
    copy of the keys in the compiled program is of the scan's input, outside the loop."""
    capacity, dim = 512, 64
    stream = tuple(map(jnp.asarray, random_stream(8, seed=1)))
    stream = (jnp.zeros((8, dim)),) + stream[1:]

    def run(memory, xs):
        return jax.lax.scan(lambda m, x: memory_step(m, *x, k=K)[::-1], memory, xs)
    memory = memory_init(capacity, dim)
    if seeds:
        run = vmap_members(run)
        memory, stream = jax.tree.map(lambda x: jnp.stack([x] * seeds), (memory, stream))
    text = jax.jit(run).lower(memory, stream).compile().as_text()
    shape = "f32[" + ",".join(map(str, memory.key.shape)) + "]"
    copies = [line for line in text.splitlines() if " copy(" in line and shape in line]
    assert len(copies) <= 1, copies
