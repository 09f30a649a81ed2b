"""Sub-agent training throughput: env steps/s and gradient updates/s for 1 agent, 6 agents and
6 agents x 16 seeds, in faithful and fast mode, and the wall time to train 6 sub-agents for
15 epochs on a 525,600-row training split (ETH scale).

Each configuration runs one epoch to compile, then times a second epoch. The ETH-scale wall
time is measured directly with ``--eth-scale`` (GPU machines); otherwise it is extrapolated from
the measured per-transition cost of the 6-agent run, and labelled as such.

    python -m benchmarks.train_throughput [--rows 12000] [--chunk-len 360] [--eth-scale]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks.common import record
from hftjax.cli import main as cli
from hftjax.env import EnvConfig
from hftjax.subagent.config import load_config
from hftjax.subagent.run import SubAgentTrainer

ETH_TRAIN_ROWS = 525_600
EPOCHS = 15


def time_epoch(cfg, data_dir) -> dict:
    trainer = SubAgentTrainer(cfg, EnvConfig(), data_dir)
    state = trainer.init()
    t0 = time.perf_counter()
    state, _ = trainer.epoch(state)
    jax.block_until_ready(state.params)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, metrics = trainer.epoch(state)
    jax.block_until_ready(state.params)
    seconds = time.perf_counter() - t0
    transitions = float(np.sum(np.asarray(trainer.spec.num_train)) * (trainer.setup.chunk_len - 1))
    updates = float(np.sum(np.asarray(metrics["updates"])))
    return {"members": len(trainer.members), "epoch_s": seconds, "first_epoch_s": compile_s,
            "env_steps_per_s": transitions / seconds, "updates_per_s": updates / seconds,
            "samples_per_s": updates * cfg.batch_size / seconds, "transitions": transitions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=12_000)
    parser.add_argument("--chunk-len", type=int, default=360)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--eth-scale", action="store_true", help="also train 15 epochs at ETH scale (slow on CPU)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hftjax-train-bench-"))
    cli(["synth", "--rows", str(args.rows), "--seed", "0", "--out", str(work / "m.parquet")])
    cli(["prepare", str(work / "m.parquet"), "--out", str(work / "data"), "--chunk-len", str(args.chunk_len)])
    rows = []
    populations = {"1 agent": ['agents=["slope_1"]', "seeds=[0]"], "6 agents": ["seeds=[0]"],
                   f"6 agents x {args.seeds} seeds": [f"seeds={list(range(args.seeds))}"]}
    for mode in ("faithful", "fast"):
        for name, overrides in populations.items():
            result = time_epoch(load_config(overrides=overrides, mode=mode), work / "data")
            rows.append({"mode": mode, "population": name, **result})
            print(rows[-1], flush=True)
    six = next(r for r in rows if r["mode"] == "faithful" and r["population"] == "6 agents")
    # each label holds ~30% of the training chunks, so an agent-epoch covers ~0.3 of the rows
    eth_transitions = 6 * 0.3 * ETH_TRAIN_ROWS * EPOCHS
    rows.append({"mode": "faithful", "population": "6 agents, 15 epochs, 525,600 train rows",
                 "wall_s": eth_transitions / six["env_steps_per_s"],
                 "how": "extrapolated from the measured 6-agent epoch (same code, smaller split)"})
    if args.eth_scale:
        cli(["synth", "--rows", str(int(ETH_TRAIN_ROWS / 0.7) + 400), "--seed", "0", "--out", str(work / "eth.parquet")])
        cli(["prepare", str(work / "eth.parquet"), "--out", str(work / "eth")])
        t0 = time.perf_counter()
        cli(["train-subagents", str(work / "eth"), "--out", str(work / "eth-run"), "--quiet", "seeds=[0]"])
        rows.append({"mode": "faithful", "population": "6 agents, 15 epochs, 525,600 train rows",
                     "wall_s": time.perf_counter() - t0, "how": "measured (includes compile and checkpoints)"})
    platform = jax.devices()[0].platform
    print(record(f"train_throughput_{platform}", f"Sub-agent training throughput ({platform})", rows))


if __name__ == "__main__":
    main()
