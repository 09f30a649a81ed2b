"""Episodic memory query+add latency: JAX (jit, and inside ``lax.scan``) against the reference's loop.

A full memory of 4320 entries, keys of D = 64, k = 5, 2 actions. The baseline is the
reference's rule and layout (``tests/memory_oracle.py: ReferenceStyleMemory``: one NumPy
kernel call per stored entry, then ``argsort``), measured in the same run. The JAX rows:
``memory_step`` jitted and called once per step from Python (synced on its q every step, as
a Python training loop would be), and the per-step cost inside one ``lax.scan`` of 1000 steps
(alone, and vmapped over a few memories, one per seed).

    python -m benchmarks.throughput.memory_latency [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import environment, record
from hftjax.hyper.memory import Memory, memory_add, memory_init, memory_step
from tests.memory_oracle import ReferenceStyleMemory  # the reference-style loop

CAPACITY, DIM, K, ACTIONS = 4320, 64, 5, 2
add = jax.jit(memory_add, donate_argnums=0)


def stream(n: int, seed: int):
    """n steps of (key, action, own q, row, prev action); each field from its own generator, so a
    shorter stream is a prefix of a longer one with the same seed."""
    rng = [np.random.default_rng([seed, field]) for field in range(5)]
    return (rng[0].normal(size=(n, DIM)).astype(np.float32), rng[1].integers(0, ACTIONS, n).astype(np.int32),
            rng[2].normal(size=n).astype(np.float32), rng[3].integers(0, 100_000, n).astype(np.int32),
            rng[4].integers(0, ACTIONS, n).astype(np.int32))


def full_memory(seed: int) -> Memory:
    key, action, q, row, prev = stream(CAPACITY, seed)
    memory = memory_init(CAPACITY, DIM)
    for xs in zip(key, action, q, row, prev):  # one jitted write each (the ring's own arithmetic)
        memory = add(memory, *xs)
    return memory


def reference_ms(steps: int) -> tuple[float, list[float]]:
    ref = ReferenceStyleMemory(CAPACITY, DIM, K)
    for xs in zip(*stream(CAPACITY, 0)):
        ref.add(*xs)
    xs_all = list(zip(*stream(steps, 1)))
    t0 = time.perf_counter()
    out = [ref.step(*xs) for xs in xs_all]
    return 1e3 * (time.perf_counter() - t0) / steps, out


def jit_ms(steps: int) -> tuple[float, list[float]]:
    step = jax.jit(memory_step, static_argnames="k", donate_argnums=0)
    xs_all = list(zip(*stream(steps, 1)))
    memory = full_memory(0)
    q, _ = step(full_memory(0), *xs_all[0], k=K)  # compile
    float(q)
    out = []
    t0 = time.perf_counter()
    for xs in xs_all:
        q, memory = step(memory, *xs, k=K)
        out.append(float(q))  # a Python loop uses the value: sync every step
    return 1e3 * (time.perf_counter() - t0) / steps, out


def scan_fn(batch: int | None):
    def run(memory, xs):
        def body(m, x):
            q, m = memory_step(m, *x, k=K)
            return m, q
        return jax.lax.scan(body, memory, xs)
    return jax.jit(run if batch is None else jax.vmap(run))


def scan_ms(steps: int, batch: int | None, repeats: int) -> tuple[float, np.ndarray]:
    fn = scan_fn(batch)
    if batch is None:
        memory, xs = full_memory(0), tuple(map(jnp.asarray, stream(steps, 1)))
    else:
        memory = jax.tree.map(lambda *m: jnp.stack(m), *[full_memory(s) for s in range(batch)])
        xs = tuple(jnp.stack(x) for x in zip(*[tuple(map(jnp.asarray, stream(steps, 1 + s))) for s in range(batch)]))
    _, out = jax.block_until_ready(fn(memory, xs))  # compile
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(memory, xs))
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best / (steps * (batch or 1)), np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    args = parser.parse_args()
    ref_steps, jit_steps, scan_steps, repeats, batch = (30, 200, 1000, 2, 4) if args.quick else (200, 1000, 1000, 3, 8)
    common = {"capacity": CAPACITY, "dim": DIM, "k": K}

    ref, ref_out = reference_ms(ref_steps)
    rows = [{"what": "reference-style Python loop (NumPy)", **common, "steps": ref_steps, "ms_per_step": ref,
             "speedup": 1.0}]
    print(rows[-1], flush=True)
    jit, jit_out = jit_ms(jit_steps)
    np.testing.assert_allclose(jit_out[:ref_steps], ref_out, rtol=1e-5, atol=1e-5)  # same rule, same answers
    rows.append({"what": "JAX jit, one call per step (synced)", **common, "steps": jit_steps, "ms_per_step": jit,
                 "speedup": ref / jit})
    print(rows[-1], flush=True)
    scan, scan_out = scan_ms(scan_steps, None, repeats)
    np.testing.assert_allclose(scan_out[:ref_steps], ref_out, rtol=1e-5, atol=1e-5)
    rows.append({"what": f"JAX lax.scan of {scan_steps} steps", **common, "steps": scan_steps, "ms_per_step": scan,
                 "speedup": ref / scan})
    print(rows[-1], flush=True)
    vscan, _ = scan_ms(scan_steps, batch, repeats)
    rows.append({"what": f"JAX lax.scan of {scan_steps} steps, vmap {batch} memories (per memory-step)", **common,
                 "steps": scan_steps * batch, "ms_per_step": vscan, "speedup": ref / vscan})
    print(rows[-1], flush=True)

    env = environment()
    env["cpus"] = os.cpu_count()
    env["load_avg_1m"] = round(os.getloadavg()[0], 2)
    env["mode"] = "quick" if args.quick else "full"
    print(record("memory_latency", "Episodic memory query+add latency", rows, env))


if __name__ == "__main__":
    main()
