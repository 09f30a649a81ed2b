"""The whole pipeline at ETH scale, measured stage by stage (no extrapolation).

A synthetic market from 2022-02-01 cut at the paper's ETH dates: 525,600 training rows (one
year), 172,800 validation and 220,320 test rows. The reference's sizes and epochs (the library
defaults: six sub-agents and the hyper-agent, 15 epochs each, faithful mode, the 5-level book's
features), 1 seed, no learned baselines. Each stage is its own ``hftjax`` process, timed, with its
peak resident memory (``wait4``) and the machine's load average before and after; the table is
recorded after every stage, so a stopped run keeps what it measured.

    hftjax bench eth-scale [--quick] [--out DIR]

``--quick``: 6,000 rows, 70/15/15, 1 epoch at small sizes (the same code; how the tests run it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import record
from hftjax.presets import PRESETS

ROWS = 525_600 + 172_800 + 220_320  # the paper's ETH train, validation and test splits (minutes)
SPLITS = PRESETS["paper-eth"]["data"]["splits"]
ESTIMATE_S = 4_732  # the extrapolation this replaces (RESULTS.md, hyper_throughput, from per-epoch rates)
QUICK_OPTIONS = ["epochs=1", "hidden=16", "batch_size=64", "buffer_size=20000", "learning_starts=100"]


def stages(work: Path, quick: bool) -> list[tuple[str, list[str]]]:
    market, data, run = work / "market.parquet", work / "data", work / "run"
    small = QUICK_OPTIONS if quick else []
    return [
        ("synth", ["synth", "--rows", str(6_000 if quick else ROWS), "--out", str(market)]),
        ("prepare", ["prepare", str(market), "--out", str(data), *(["--chunk-len", "240"] if quick else
                                                                    [a for s in SPLITS for a in ("--split", s)])]),
        ("sub-agents", ["train-subagents", str(data), "--out", str(run), "seeds=[0]", *small]),
        ("hyper-agent", ["train-hyper", str(run), "seeds=[0]", *small, *(["memory_capacity=512"] if quick else [])]),
        ("evaluate test", ["evaluate", str(run), "--split", "test"]),
    ]


def timed(args: list[str], log: Path) -> dict:
    """Run ``hftjax ARGS`` in its own process (its output appended to ``log``): wall seconds,
    peak RSS and the load around it."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("a") as out:
        process = subprocess.Popen([sys.executable, "-m", "hftjax.cli", *args, "--quiet"], stdout=out, stderr=out)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"hftjax {' '.join(args)} failed (exit {os.waitstatus_to_exitcode(status)}); see {log}")
    return {"wall s": round(wall, 1), "peak RSS GiB": round(usage.ru_maxrss / 2**20, 2),
            "load before": round(load, 2), "load after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="6,000 rows, 1 epoch, small sizes")
    parser.add_argument("--out", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="hftjax-eth-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    name = "eth_scale_quick" if args.quick else "eth_scale"
    rows, total = [], 0.0
    for stage, command in stages(work, args.quick):
        rows.append({"stage": stage, **timed(command, work / "stages.log")})
        total += rows[-1]["wall s"]
        print(rows[-1], flush=True)
        record(name, "The whole pipeline at ETH scale, measured per stage (1 seed)",
               [*rows, {"stage": "total (measured)", "wall s": round(total, 1)},
                *([] if args.quick else [{"stage": "total (the extrapolation it replaces)", "wall s": ESTIMATE_S}]),
                {"stage": f"{len(rows)} of {len(stages(work, args.quick))} stages done; "
                          f"{'quick: 6,000 rows' if args.quick else f'{ROWS:,} rows, paper ETH splits'}"}])


if __name__ == "__main__":
    main()
