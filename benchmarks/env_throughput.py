"""Env steps/s against the number of parallel episodes, and ``simulate`` against the Python loop.

The policy is random, drawn inside ``lax.scan``; every observation field is folded into a
checksum so that nothing the step produces can be optimised away. The baseline is the plain
step-by-step reference (``tests/env_oracle.py``), measured in the same run.

    python -m benchmarks.env_throughput [--quick]    (also: hftjax bench env)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import record
from hftjax.env import episode_teacher, make_params, market_from_arrays, reset, simulate, step
from hftjax.features import compute_features, resolve_feature_set
from hftjax.synth import generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from env_oracle import OracleEnv, oracle_simulate  # noqa: E402  the step-by-step reference

CHUNK = 4320


def synthetic_market(rows: int, seed: int = 0):
    """A prepared-like synthetic market: lob features (warm-up dropped) and the chunk teacher."""
    table = generate(rows, seed).table
    fs = resolve_feature_set("lob", table)
    feats, warmup = compute_features(table, fs)
    close = table["close"][warmup:]
    single = np.column_stack([feats[c][warmup:] for c in fs.single])
    trend = np.column_stack([feats[c][warmup:] for c in fs.trend])
    context = np.column_stack([feats[c][warmup:] for c in fs.context])
    teacher = episode_teacher(close, CHUNK, max_holding=0.2)
    return close, single, trend, context, market_from_arrays(close, teacher, single, trend, context)


def rollout_fn(num_envs: int, num_steps: int):
    def rollout(key, params):
        keys = jax.random.split(key, num_envs)
        _, states = jax.vmap(reset, in_axes=(0, None))(keys, params)

        def one_step(carry, key):
            states, checksum = carry
            k_act, k_step = jax.random.split(key)
            # uniform over levels (exact for K = 2); half a hash per env, where randint takes one
            actions = (jax.random.bits(k_act, (num_envs,)) % params.levels.astype(jnp.uint32)).astype(jnp.int32)
            obs, states, reward, done, _, _ = jax.vmap(step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_step, num_envs), states, actions, params)
            folded = sum(jnp.sum(x) for x in jax.tree.leaves(obs)) + reward.sum() + done.sum()
            return (states, checksum + folded), None

        (_, checksum), _ = jax.lax.scan(one_step, (states, jnp.float32(0)), jax.random.split(key, num_steps))
        return checksum

    return jax.jit(rollout)


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def loop_env_steps_per_s(close, single, trend, context, steps: int) -> float:
    env = OracleEnv(close, fee=2e-4, max_holding=0.2, single=single, trend=trend, context=context)
    rng = np.random.default_rng(0)
    t0, done_steps = time.perf_counter(), 0
    while done_steps < steps:
        env.reset(int(rng.integers(0, len(close) // CHUNK)) * CHUNK, CHUNK, int(rng.integers(0, 2)))
        for _ in range(CHUNK - 1):
            env.step(int(rng.integers(0, 2)))
            done_steps += 1
    return done_steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and steps (smoke run)")
    parser.add_argument("--max-envs", type=int, default=65_536)
    args = parser.parse_args()
    close, single, trend, context, market = synthetic_market(30_000 if args.quick else 100_000)
    params = make_params(market, episode_len=CHUNK)
    loop_rate = loop_env_steps_per_s(close, single, trend, context, 5_000 if args.quick else 20_000)
    rows = [{"what": "env step, Python loop (1 episode)", "parallel": 1, "steps_per_s": loop_rate, "speedup": 1.0}]
    sizes = [1, 64, 1024, 4096] if args.quick else [1, 64, 1024, 4096, 16_384, 65_536]
    for n in [s for s in sizes if s <= args.max_envs]:
        num_steps = max(64, min(4096, 2_000_000 // n))
        rollout = rollout_fn(n, num_steps)
        key = jax.random.key(0)
        jax.block_until_ready(rollout(key, params))  # compile
        rate = n * num_steps / best_of(lambda: rollout(key, params))
        rows.append({"what": "env step, jit + vmap + scan", "parallel": n, "steps_per_s": rate,
                     "speedup": rate / loop_rate})
        print(rows[-1], flush=True)

    batch, length = (256, 4320) if args.quick else (4096, 4320)
    actions = np.random.default_rng(1).integers(0, 2, (batch, length - 1))
    prices = close[:length]
    t0 = time.perf_counter()
    loop_n = 4
    for b in range(loop_n):
        oracle_simulate(prices, actions[b], fee=2e-4, max_holding=0.2)
    loop_sim = loop_n * (length - 1) / (time.perf_counter() - t0)
    run = lambda: simulate(prices, actions, fee=2e-4, max_holding=0.2)["final_balance"]  # noqa: E731
    jax.block_until_ready(run())
    sim_rate = batch * (length - 1) / best_of(run)
    rows.append({"what": "simulate, Python loop", "parallel": 1, "steps_per_s": loop_sim, "speedup": 1.0})
    rows.append({"what": "simulate, vmapped", "parallel": batch, "steps_per_s": sim_rate,
                 "speedup": sim_rate / loop_sim})
    print(rows[-1])
    platform = jax.devices()[0].platform
    print(record(f"env_throughput_{platform}", f"Env throughput ({platform})", rows))


if __name__ == "__main__":
    main()
