"""Hyper-agent training steps/s (with and without the episodic memory, 1 and 3 seeds) and the
full-pipeline wall time at ETH scale, extrapolated from measured rates unless ``--eth-scale``.

    python -m benchmarks.throughput.hyper_throughput [--rows 40000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks.common import HERE, record
from hftjax.hyper.artifacts import load_subagents
from hftjax.hyper.config import load_hyper_config
from hftjax.hyper.trainer import HyperTrainer
from hftjax.prepare import PrepareConfig, prepare
from hftjax.progress import bar
from hftjax.subagent.config import load_config
from hftjax.subagent.run import train_subagents
from hftjax.synth import write_market

ETH_TRAIN_ROWS = 525_600
EPOCHS = 15


def time_epoch(run_dir: Path, overrides: dict) -> dict:
    run = HyperTrainer(load_subagents(run_dir), load_hyper_config(**overrides))
    state = run.init()
    state, _ = run.epoch(state)  # compile
    jax.block_until_ready(state.params)
    t0 = time.perf_counter()
    state, metrics = run.epoch(state)
    jax.block_until_ready(state.params)
    seconds = time.perf_counter() - t0
    steps = (run.market("train")[0].num_rows - 1) * len(run.cfg.seeds)
    return {"seeds": len(run.cfg.seeds), "memory": run.cfg.memory, "epoch_s": seconds,
            "env_steps_per_s": steps / seconds,
            "updates_per_s": float(np.sum(np.asarray(metrics["updates"]))) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=40_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hftjax-hyper-bench-"))
    write_market(work / "m.parquet", args.rows, 0)
    prepare([work / "m.parquet"], work / "data", PrepareConfig(chunk_len=720))
    train_subagents(load_config(epochs=1, seeds=[0, 1, 2], batch_size=64), work / "data", work / "run", progress=False)
    rows = []
    for overrides in bar(({"seeds": [0]}, {"seeds": [0], "memory": False}, {"seeds": [0, 1, 2]}), desc="hyper-agent settings",
                         unit="setting"):
        rows.append(time_epoch(work / "run", overrides))
        print(rows[-1], flush=True)
    one = rows[0]
    hyper_s = EPOCHS * ETH_TRAIN_ROWS / one["env_steps_per_s"]
    platform = jax.devices()[0].platform
    train_json = HERE / "results" / f"train_throughput_{platform}.json"
    sub_s = None
    if train_json.exists():
        extrapolated = [r for r in json.loads(train_json.read_text())["rows"] if "wall_s" in r]
        sub_s = extrapolated[0]["wall_s"] if extrapolated else None
    rows.append({"seeds": "pipeline at ETH scale (1 seed)", "epoch_s": (sub_s or 0) + hyper_s,
                 "how": f"extrapolated: sub-agents {sub_s or float('nan'):.0f} s (train_throughput) + "
                        f"hyper-agent {hyper_s:.0f} s (15 epochs x 525,600 steps at the measured rate)"})
    print(record(f"hyper_throughput_{platform}", f"Hyper-agent training throughput ({platform})", rows))


if __name__ == "__main__":
    main()
