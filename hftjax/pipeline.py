"""``hftjax run``: synth (or given files) -> prepare -> sub-agents -> hyper-agent -> evaluation,
all in one run directory that holds the resolved config, checkpoints, logs and results.

Presets:
- ``default``: the embedded synthetic market at a size that finishes on a 2-core CPU in a few
  minutes (shorter chunks, fewer epochs); the README's main job.
- ``paper``: the reference's hyper-parameters at ETH scale (525,600 training rows, 3-day
  chunks, 15 epochs each): a GPU job.
- ``smoke``: tiny, for tests.
"""

from __future__ import annotations

import json
from pathlib import Path

from hftjax.errors import ConfigError, RunDirError
from hftjax.evaluate import evaluate
from hftjax.hyper.config import load_hyper_config
from hftjax.hyper.run import train_hyper
from hftjax.io import write_json
from hftjax.prepare import PrepareConfig, prepare
from hftjax.rundir import claim_run_dir, run_lock
from hftjax.subagent.config import load_config
from hftjax.subagent.run import train_subagents
from hftjax.synth import write_market

PRESETS = {
    "default": {"rows": 60_000, "chunk_len": 720,
                "subagents": {"epochs": 3, "epsilon_decay_epochs": 2, "batch_size": 256},
                "hyper": {"epochs": 3, "epsilon_decay_epochs": 2, "batch_size": 256}},
    "paper": {"rows": 751_200, "chunk_len": 4320, "subagents": {}, "hyper": {}},
    "smoke": {"rows": 12_000, "chunk_len": 240,
              "subagents": {"epochs": 1, "hidden": 16, "batch_size": 64, "buffer_size": 20_000, "learning_starts": 100},
              "hyper": {"epochs": 1, "hidden": 8, "batch_size": 64, "buffer_size": 20_000, "memory_capacity": 512}},
}


def run_pipeline(out: str | Path, *, preset: str = "default", data: list[str] | None = None,
                 seeds: tuple[int, ...] = (0,), progress: bool = True) -> dict:
    if preset not in PRESETS:
        raise ConfigError("--preset", f"must be one of {', '.join(PRESETS)}, got {preset!r}")
    out = claim_run_dir(out)
    with run_lock(out):
        return _run(out, PRESETS[preset], preset, data, seeds, progress)


def _run(out: Path, p: dict, preset: str, data: list[str] | None, seeds: tuple[int, ...], progress: bool) -> dict:
    sub_cfg = load_config(seeds=list(seeds), **p["subagents"])
    hyper_cfg = load_hyper_config(seeds=list(seeds), **p["hyper"])
    resolved = {"preset": preset, "data": data, "seeds": list(seeds), "rows": p["rows"], "chunk_len": p["chunk_len"],
                "subagents": sub_cfg.to_json(), "hyper": hyper_cfg.to_json()}
    if (out / "run.json").exists():
        earlier = json.loads((out / "run.json").read_text())
        changed = sorted(k for k in resolved.keys() | earlier.keys() if json.loads(json.dumps(resolved.get(k))) != earlier.get(k))
        if changed:
            raise RunDirError(out, f"holds a run made with other settings (differs in {', '.join(changed)}); "
                                   "give --out a new directory")
    write_json(resolved, out / "run.json")
    if data is None:
        if not (out / "market.parquet").exists():
            write_market(out / "market.parquet", p["rows"], seed=0)
        data = [str(out / "market.parquet")]
    if not (out / "data" / "manifest.json").exists():
        prepare(data, out / "data", PrepareConfig(chunk_len=p["chunk_len"]))
    train_subagents(sub_cfg, out / "data", out, progress=progress)
    train_hyper(out, hyper_cfg, progress=progress)
    metrics = {split: evaluate(out, split) for split in ("valid", "test")}
    write_json(metrics, out / "results" / "summary.json")
    return metrics
