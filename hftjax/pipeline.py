"""``hftjax run``: synth (or given files) -> prepare -> sub-agents (and the learned baselines)
-> hyper-agent -> evaluation,
all in one run directory that holds the resolved config (``config.json``), checkpoints, logs and
results. The configuration is one ``RunConfig`` (``hftjax.run_config``; presets in
``hftjax.presets``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hftjax.baselines.train import train_baselines
from hftjax.errors import DataError, RunDirError
from hftjax.evaluate import evaluate
from hftjax.hyper.run import train_hyper
from hftjax.io import write_json
from hftjax.prepare import PrepareConfig, prepare
from hftjax.progress import stages
from hftjax.run_config import RunConfig
from hftjax.rundir import claim_run_dir, run_lock
from hftjax.splits import parse_splits
from hftjax.subagent.run import train_subagents
from hftjax.synth import write_market

log = logging.getLogger(__name__)


def run_pipeline(out: str | Path, config: RunConfig = RunConfig(), *, progress: bool = True) -> dict:
    """Run every stage into ``out`` (resuming what is done); returns {split: metrics}."""
    for path in config.data.inputs:  # before the run directory exists, so a corrected path can reuse it
        if not Path(path).is_file():
            raise DataError("no such file (data.inputs, --data)", file=path)
    out = claim_run_dir(out)
    with run_lock(out):
        resolved = config.to_json()
        if (out / "config.json").exists():
            earlier = json.loads((out / "config.json").read_text())
            changed = sorted(f"{s}.{k}" for s in resolved for k in resolved[s]
                             if earlier.get(s, {}).get(k) != resolved[s][k])
            if changed:
                raise RunDirError(out, f"holds a run made with other settings (differs in {', '.join(changed)}); "
                                       "give --out a new directory")
        write_json(resolved, out / "config.json")
        log.info("run directory %s, config in config.json", out)
        # stage times are logged (hftjax -v); each training stage has its own progress bar
        with stages("run", 6, enabled=False) as advance:
            metrics = _stages(out, config, progress, advance)
    return metrics


def _stages(out: Path, config: RunConfig, progress: bool, advance) -> dict:
    data = config.data
    inputs = list(data.inputs)
    advance("market")
    if not inputs:
        if not (out / "market.parquet").exists():
            write_market(out / "market.parquet", data.synthetic_rows, seed=data.synthetic_seed)
        inputs = [str(out / "market.parquet")]
    advance("prepare")
    if not (out / "data" / "manifest.json").exists():
        prepare(inputs, out / "data", PrepareConfig(
            features=data.features, chunk_len=data.chunk_len, gap_policy=data.gap_policy,
            max_ffill_minutes=data.max_ffill, normalize=data.normalize,
            splits=parse_splits(list(data.splits)) if data.splits else None), progress=progress)
    placement = config.devices.placement()
    advance("sub-agents")
    train_subagents(config.subagents, out / "data", out, env=config.env, progress=progress, placement=placement)
    advance("learned baselines")
    if config.baselines.algorithms:
        train_baselines(config.baselines, config.subagents, out / "data", out, env=config.env, progress=progress,
                        placement=placement)
    advance("hyper-agent")
    train_hyper(out, config.hyper, progress=progress, placement=placement)
    advance("evaluation")
    metrics = {split: evaluate(out, split, progress=progress) for split in config.evaluation.splits}
    write_json(metrics, out / "results" / "summary.json")
    return metrics
