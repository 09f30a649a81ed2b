"""hftjax's two CPU changes compute what JAX computes: threefry unrolled gives the same bits as
JAX's rolled loop, and ``dense``'s gradient is the product's (NumPy's closed form); the epoch
profile's bookkeeping (``benchmarks/throughput/epoch_profile.py``) on a hand-made trace."""

from __future__ import annotations

import gzip
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.throughput.epoch_profile import op_class, own_times, profile_rows
from hftjax.cpu_lowering import threefry_on_cpu
from hftjax.learner.layers import dense


def draws(key):
    keys = jax.random.split(key, 6)
    return (jax.random.bits(key, (5,)), keys, jax.vmap(lambda k: jax.random.randint(k, (3,), 0, 9))(keys),
            jax.vmap(lambda k: jax.random.uniform(k, (2,)))(keys))


def compiled(form: str):
    if not threefry_on_cpu(form):
        pytest.skip("this JAX has no threefry CPU lowerings to choose from")
    jax.clear_caches()
    try:
        fn = jax.jit(draws).lower(jax.random.key(7)).compile()
        return fn.as_text(), fn(jax.random.key(7))
    finally:
        threefry_on_cpu("unrolled")
        jax.clear_caches()


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU lowering")
def test_unrolled_threefry_gives_the_rolled_loops_bits_without_a_loop():
    rolled_text, rolled = compiled("rolled")
    unrolled_text, unrolled = compiled("unrolled")
    assert " while(" in rolled_text and " while(" not in unrolled_text  # the change takes effect
    for a, b in zip(jax.tree.leaves(rolled), jax.tree.leaves(unrolled)):
        a, b = (jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x for x in (a, b))
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("fan_in, fan_out", [(256, 2), (36, 64), (8, 8)])
def test_dense_gradients_are_the_products(fan_in, fan_out):
    rng = np.random.default_rng(fan_in)
    x = rng.normal(size=(3, 5, fan_in)).astype(np.float32)  # members x rows x features, as under vmap
    kernel = rng.normal(size=(3, fan_in, fan_out)).astype(np.float32)
    weight = rng.normal(size=(3, 5, fan_out)).astype(np.float32)
    loss = lambda x, k: jnp.sum(weight * jax.vmap(dense)(x, k))  # noqa: E731
    value, (dx, dk) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(x, kernel)
    np.testing.assert_allclose(value, np.sum(weight * (x @ kernel)), rtol=1e-4)
    np.testing.assert_allclose(dx, weight @ kernel.transpose(0, 2, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk, x.transpose(0, 2, 1) @ weight, rtol=1e-4, atol=1e-4)
    # rows with any leading shape: the kernel gradient sums over all of them
    dk_3d = jax.grad(lambda k: jnp.sum(weight[0] * dense(x[0][None], k)[0]))(kernel[0])
    np.testing.assert_allclose(dk_3d, x[0].T @ weight[0], rtol=1e-4, atol=1e-4)


def test_profile_counts_each_ops_own_time_and_classes_it(tmp_path):
    op = lambda name, ts, dur, tid=1: {"ph": "X", "name": name, "ts": ts, "dur": dur, "tid": tid,  # noqa: E731
                                       "args": {"hlo_op": name}}
    events = [op("while.1", 0, 100), op("dot.2", 10, 30), op("copy.3", 50, 20), op("dot.2", 0, 7, tid=2),
              {"ph": "X", "name": "ThunkExecutor::Execute", "ts": 0, "dur": 500, "tid": 1, "args": {}}]
    trace = tmp_path / "plugins" / "profile" / "run"
    trace.mkdir(parents=True)
    with gzip.open(trace / "perfetto_trace.json.gz", "wt") as f:
        json.dump({"traceEvents": events}, f)
    assert own_times(tmp_path) == {"while.1": 50, "dot.2": 37, "copy.3": 20}
    assert op_class("dot.2", "jit(population_epoch)/vmap()/while/body/transpose(jvp(SubAgentNet))/fc1/dot_general") \
        == "network backward"
    assert op_class("fusion.4", "jit(f)/jvp(SubAgentNet)/advantage_hidden/dot_general") == "network forward"
    assert op_class("fusion.5", "jit(f)/jit(_randint)/vmap(jit(_threefry_split))/xor") == "random numbers"
    assert op_class("copy.3", None) == "copies" and op_class("while.1", None) == "loop control"
    assert op_class("add.6", "jit(f)/transition/add") == "other arithmetic"
    rows = profile_rows({"copies": 30.0, "network forward": 10.0}, {"copies": 5.0, "network forward": 10.0})
    assert [r["class"] for r in rows] == ["copies", "network forward", "all ops"]
    assert rows[0]["before %"] == pytest.approx(75.0) and rows[0]["after %"] == pytest.approx(100 / 3)
    assert rows[-1]["before ms"] == 40.0 and rows[-1]["after ms"] == 15.0
