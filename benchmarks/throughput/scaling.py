"""Throughput against device count: the same work spread over 1, 2, 4, ... devices with
``hftjax.sharding`` (the env's parallel episodes, and a sub-agent population's members).

On a CPU, ``--cpu-devices N`` splits the host into N XLA devices (the cores are shared, so the
rows show the mechanism and its overhead, not a speed-up); on a multi-GPU host or a TPU slice
the rows are the real scaling. Each row is a ratio against the 1-device row of the same run.

    python -m benchmarks.throughput.scaling [--quick] [--cpu-devices 8]    (also: hftjax bench scaling)
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def device_counts(total: int) -> list[int]:
    counts, n = [], 1
    while n <= total:
        counts.append(n)
        n *= 2
    return counts


def env_rows(episodes: int, steps: int) -> list[dict]:
    import jax

    from hftjax.env import make_params
    from hftjax.progress import bar
    from hftjax.sharding import Placement
    from hftjax.throughput import env_steps_per_s, synthetic_market

    params = make_params(synthetic_market(20_000)[-1], episode_len=4320)
    rows = []
    for n in bar(device_counts(jax.device_count()), desc="env over devices", unit="count"):
        rows.append({"what": f"env, {episodes:,} episodes x {steps} steps", "devices": n,
                     "steps_per_s": env_steps_per_s(params, episodes, steps, Placement.over(n), repeats=1)})
        print(rows[-1], flush=True)
    return rows


def training_rows(seeds: int, rows_synth: int) -> list[dict]:
    import jax

    from hftjax.prepare import PrepareConfig, prepare
    from hftjax.progress import bar
    from hftjax.sharding import Placement
    from hftjax.subagent.config import load_config
    from hftjax.synth import write_market
    from hftjax.throughput import subagent_epoch_rate

    work = Path(tempfile.mkdtemp(prefix="hftjax-scaling-"))
    write_market(work / "m.parquet", rows_synth, 0)
    prepare([work / "m.parquet"], work / "data", PrepareConfig(chunk_len=720))
    cfg = load_config(epochs=1, seeds=list(range(seeds)), batch_size=128)
    members = 6 * seeds
    rows = []
    for n in bar(device_counts(jax.device_count()), desc="training over devices", unit="count"):
        if members % n:
            continue
        rows.append({"what": f"sub-agent training, {members} members", "devices": n,
                     **subagent_epoch_rate(cfg, work / "data", Placement.over(n))})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller work (a smoke run)")
    parser.add_argument("--cpu-devices", type=int, default=8, help="XLA devices a CPU host is split into (default 8)")
    args = parser.parse_args()
    if "XLA_FLAGS" not in os.environ:  # must be set before JAX starts; ignored by GPUs and TPUs
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.cpu_devices}"
    import jax

    from benchmarks.common import environment, record

    episodes, steps, seeds, rows_synth = (4096, 100, 2, 12_000) if args.quick else (65_536, 500, 4, 30_000)
    rows = env_rows(episodes, steps) + training_rows(seeds, rows_synth)
    for r in rows:  # speed-up against the 1-device row of the same work
        base = next(b for b in rows if b["what"] == r["what"] and b["devices"] == 1)
        key = "steps_per_s" if "steps_per_s" in r else "samples_per_s"
        r["vs 1 device"] = r[key] / base[key]
    env = environment()
    env["load_avg_1m"] = round(os.getloadavg()[0], 2)
    env["mode"] = "quick" if args.quick else "full"
    platform = jax.devices()[0].platform
    print(record(f"scaling_{platform}", f"Throughput against device count ({platform})", rows, env))


if __name__ == "__main__":
    main()
