"""Env steps/s against the number of parallel episodes, and ``simulate`` against the Python loop.

The policy is random, drawn inside ``lax.scan`` (``hftjax.throughput.random_rollout``). The baseline is the plain
step-by-step reference (``tests/env_oracle.py``), measured in the same run.

    python -m benchmarks.throughput.env_throughput [--quick]    (also: hftjax bench env)
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from benchmarks.common import record
from hftjax.env import make_params, simulate
from hftjax.progress import bar
from hftjax.throughput import EPISODE_LEN, best_of, env_steps_per_s, synthetic_market
from tests.env_oracle import OracleEnv, oracle_simulate  # the step-by-step reference


def loop_env_steps_per_s(close, single, trend, context, steps: int) -> float:
    env = OracleEnv(close, fee=2e-4, max_holding=0.2, single=single, trend=trend, context=context)
    rng = np.random.default_rng(0)
    t0, done_steps = time.perf_counter(), 0
    while done_steps < steps:
        env.reset(int(rng.integers(0, len(close) // EPISODE_LEN)) * EPISODE_LEN, EPISODE_LEN, int(rng.integers(0, 2)))
        for _ in range(EPISODE_LEN - 1):
            env.step(int(rng.integers(0, 2)))
            done_steps += 1
    return done_steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and steps (smoke run)")
    parser.add_argument("--max-envs", type=int, default=65_536)
    args = parser.parse_args()
    close, single, trend, context, market = synthetic_market(30_000 if args.quick else 100_000)
    params = make_params(market, episode_len=EPISODE_LEN)
    loop_rate = loop_env_steps_per_s(close, single, trend, context, 5_000 if args.quick else 20_000)
    rows = [{"what": "env step, Python loop (1 episode)", "parallel": 1, "steps_per_s": loop_rate, "speedup": 1.0}]
    sizes = [1, 64, 1024, 4096] if args.quick else [1, 64, 1024, 4096, 16_384, 65_536]
    for n in bar([s for s in sizes if s <= args.max_envs], desc="env sizes", unit="size"):
        rate = env_steps_per_s(params, n, max(64, min(4096, 2_000_000 // n)))
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
