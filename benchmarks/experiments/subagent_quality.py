"""Do the sub-agents learn? Train the six agents x 3 seeds on a synthetic market with clear
regimes and compare, on the validation chunks of each agent's own label (both start levels),
the mean return rate of its best epoch with a random policy, buy-and-hold and the teacher's
optimal policy (greedy on the Q-teacher, evaluated at the trading fee).

    python -m benchmarks.experiments.subagent_quality [--rows 80000] [--chunk-len 480] [--epochs 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import record
from hftjax.cli import main as cli
from hftjax.dataset import holding
from hftjax.env import EnvConfig, simulate
from hftjax.subagent.config import load_config
from hftjax.subagent.run import train_subagents


def teacher_actions(teacher: np.ndarray, start: int) -> np.ndarray:
    """Follow argmax_a Q[t, previous, a] from ``start`` (the teacher's optimal policy)."""
    def step(prev, q_row):
        a = jnp.argmax(q_row[prev]).astype(jnp.int32)
        return a, a
    return np.asarray(jax.lax.scan(step, jnp.int32(start), jnp.asarray(teacher[:-1]))[1])


def baselines(close: np.ndarray, teacher: np.ndarray, starts: np.ndarray, chunk_len: int, env: EnvConfig, holding: float,
              seed: int) -> dict:
    """Mean return rate of random, buy-and-hold and teacher policies over chunks x start levels."""
    rng = np.random.default_rng(seed)
    out = {"random": [], "buy_and_hold": [], "teacher": []}
    kw = dict(fee=env.fee, max_holding=holding, levels=env.levels)
    for first in starts:
        c, q = close[first:first + chunk_len], teacher[first:first + chunk_len]
        for start in (0, env.levels - 1):
            random_actions = rng.integers(0, env.levels, (64, chunk_len - 1))
            out["random"].append(float(np.mean(simulate(c, random_actions, initial_action=start, **kw)["return_rate"])))
            hold = np.full(chunk_len - 1, env.levels - 1)
            out["buy_and_hold"].append(float(simulate(c, hold, initial_action=start, **kw)["return_rate"]))
            out["teacher"].append(float(simulate(c, teacher_actions(q, start), initial_action=start, **kw)["return_rate"]))
    return {k: float(np.mean(v)) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=80_000)
    parser.add_argument("--chunk-len", type=int, default=480)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hftjax-quality-"))
    cli(["synth", "--rows", str(args.rows), "--seed", "11", "--out", str(work / "m.parquet")])
    cli(["prepare", str(work / "m.parquet"), "--out", str(work / "data"), "--chunk-len", str(args.chunk_len)])
    cfg = load_config(overrides=[f"epochs={args.epochs}", f"seeds={list(range(args.seeds))}",
                                 f"epsilon_decay_epochs={max(args.epochs - 1, 1)}"])
    t0 = time.perf_counter()
    state, trainer = train_subagents(cfg, work / "data", work / "run")
    wall = time.perf_counter() - t0
    close = np.asarray(trainer.valid_market.close, np.float64)
    teacher = np.asarray(trainer.valid_market.teacher)
    rows = []
    for agent in cfg.agents:
        idx = [i for i, m in enumerate(trainer.members) if m["agent"] == agent]
        starts = np.asarray(trainer.spec.valid_starts[idx[0]])[: int(trainer.spec.num_valid[idx[0]])]
        if len(starts) == 0:
            rows.append({"agent": agent, "valid_chunks": 0})
            continue
        scores = np.asarray(state.best_score)[idx]
        base = baselines(close, teacher, starts, trainer.setup.chunk_len, EnvConfig(), holding(EnvConfig(), work / "data"),
                         seed=len(rows))
        rows.append({"agent": agent, "valid_chunks": len(starts),
                     "subagent_mean": float(scores.mean()), "subagent_min_seed": float(scores.min()),
                     "random": base["random"], "buy_and_hold": base["buy_and_hold"], "teacher_optimal": base["teacher"],
                     "beats_random_all_seeds": bool((scores > base["random"]).all())})
        print(rows[-1], flush=True)
    rows.append({"agent": f"(wall {wall:.0f} s, {args.rows} rows, chunk {args.chunk_len}, {args.epochs} epochs, "
                          f"{args.seeds} seeds, {len(trainer.members)} members)"})
    print(record("subagent_quality", "Sub-agent quality on synthetic regimes (validation return rate)", rows))


if __name__ == "__main__":
    main()
