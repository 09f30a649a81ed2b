"""Every accelerator row of ``RESULTS.md`` in one budgeted command, for a short device window.

    hftjax bench gpu [--budget SECONDS]          (python -m benchmarks.throughput.gpu_check; default 480)

In order, each step sized for the budget and skipped (with a row saying so) when the time left is
below what it needs: env steps/s at 4k, 16k and 64k parallel episodes; the episodic memory's
latency per step; env steps/s against device count; sub-agent training samples/s, faithful and
fast; one ETH-scale sub-agent epoch (525,600 training rows, 6 agents); hyper-agent env steps/s. Each step writes its table ``gpu_check_<step>_<platform>`` at once, so a window that
closes early keeps what was measured. A budget under ``FULL_BUDGET`` runs every step at tiny
sizes (the same code: how the test suite checks this command on a CPU) and records its tables
under ``..._<platform>_budget<SECONDS>``, never over a full run's.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import jax

from benchmarks.common import record
from benchmarks.throughput.hyper_throughput import time_epoch as hyper_epoch
from benchmarks.throughput.memory_latency import scan_ms
from benchmarks.throughput.scaling import env_rows
from benchmarks.throughput.train_throughput import ETH_TRAIN_ROWS
from benchmarks.throughput.train_throughput import time_epoch as subagent_epoch
from hftjax.cli import main as cli
from hftjax.env import make_params
from hftjax.subagent.config import load_config
from hftjax.subagent.run import train_subagents
from hftjax.throughput import EPISODE_LEN, env_steps_per_s, synthetic_market

FULL_BUDGET = 300  # seconds: below it every step runs at its tiny size

# step -> (full size, tiny size, seconds to keep for it at each size: a step starts only with that
# much left). Cheap steps first, so a window that closes early has banked them; at the tiny size
# the ETH-scale epoch is the training step's faithful epoch again (the same compiled program).
SIZES = {
    "env": ({"rows": 100_000, "episodes": [4_096, 16_384, 65_536], "steps": 512},
            {"rows": 6_000, "episodes": [64, 256], "steps": 32}, (40, 8)),
    "memory": ({"steps": 2_000, "batch": 64}, {"steps": 50, "batch": 4}, (20, 4)),
    "scaling": ({"episodes": 16_384, "steps": 256}, {"episodes": 64, "steps": 16}, (30, 4)),
    "train": ({"rows": 60_000, "chunk_len": 720, "seeds": 4}, {"rows": 4_000, "chunk_len": 240, "seeds": 1}, (120, 30)),
    "eth_epoch": ({"rows": int(ETH_TRAIN_ROWS / 0.7) + 400, "chunk_len": 4320}, {"rows": 4_000, "chunk_len": 240},
                  (180, 8)),
    "hyper": ({"rows": 60_000, "seeds": [0, 1, 2]}, {"rows": 4_000, "seeds": [0]}, (60, 30)),
}


class Budget:
    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)


def prepared(work: Path, name: str, rows: int, chunk_len: int) -> Path:
    if not (work / name / "manifest.json").exists():
        cli(["synth", "--rows", str(rows), "--seed", "0", "--out", str(work / f"{name}.parquet"), "-q"])
        cli(["prepare", str(work / f"{name}.parquet"), "--out", str(work / name), "--chunk-len", str(chunk_len), "-q"])
    return work / name


def env_step(size: dict, work: Path) -> list[dict]:
    params = make_params(synthetic_market(size["rows"])[-1], episode_len=min(EPISODE_LEN, size["rows"] // 4))
    return [{"episodes": n, "steps": size["steps"], "env_steps_per_s": env_steps_per_s(params, n, size["steps"])}
            for n in size["episodes"]]


def train_step(size: dict, work: Path) -> list[dict]:
    data = prepared(work, "train", size["rows"], size["chunk_len"])
    seeds = f"seeds={list(range(size['seeds']))}"
    return [{"mode": mode, "members": 6 * size["seeds"], **subagent_epoch(load_config(overrides=[seeds], mode=mode), data)}
            for mode in ("faithful", "fast")]


def hyper_step(size: dict, work: Path) -> list[dict]:
    data = prepared(work, "hyper", size["rows"], 240)
    train_subagents(load_config(epochs=1, seeds=size["seeds"], batch_size=64), data, work / "hyper-run", progress=False)
    return [hyper_epoch(work / "hyper-run", {"seeds": size["seeds"]})]


def memory_step(size: dict, work: Path) -> list[dict]:
    return [{"batch": batch or 1, "ms_per_step": scan_ms(size["steps"], batch, repeats=3)[0]}
            for batch in (None, size["batch"])]


def eth_epoch_step(size: dict, work: Path) -> list[dict]:
    name = "eth" if size["rows"] > 100_000 else "train"  # tiny: the training step's data and program
    data = prepared(work, name, size["rows"], size["chunk_len"])
    rows = json.loads((data / "manifest.json").read_text())["splits"]["train"]["rows"]
    return [{"train_rows": rows, **subagent_epoch(load_config(overrides=["seeds=[0]"], mode="faithful"), data)}]


def scaling_step(size: dict, work: Path) -> list[dict]:
    return env_rows(size["episodes"], size["steps"])


STEPS = {"env": env_step, "memory": memory_step, "scaling": scaling_step, "train": train_step,
         "eth_epoch": eth_epoch_step, "hyper": hyper_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for every step together (default 480)")
    parser.add_argument("--work", type=Path, help="where the synthetic data goes (default: a temporary folder)")
    args = parser.parse_args()
    budget = Budget(args.budget)
    full = args.budget >= FULL_BUDGET
    if not full:  # tiny sizes: recorded beside, never over, a full run's tables
        os.environ["HFTJAX_BENCH_TAG"] = f"budget{int(args.budget)}"
    platform = jax.devices()[0].platform
    work = args.work or Path(tempfile.mkdtemp(prefix="hftjax-gpu-check-"))
    for name, step in STEPS.items():
        full_size, tiny_size, reserve = SIZES[name]
        size, needs = (full_size, reserve[0]) if full else (tiny_size, reserve[1])
        title = f"GPU check: {name.replace('_', ' ')} ({platform}, budget {args.budget:g} s)"
        if budget.left() < needs:
            rows = [{"skipped": f"{budget.left():.0f} s left of the budget, the step keeps {needs} s"}]
        else:
            t0 = time.perf_counter()
            rows = [{**row, "step_wall_s": round(time.perf_counter() - t0, 1)} for row in step(size, work)]
        print(record(f"gpu_check_{name}_{platform}", title, rows), flush=True)
    print(f"gpu check done in {args.budget - budget.left():.0f} s of {args.budget:g}", flush=True)


if __name__ == "__main__":
    main()
