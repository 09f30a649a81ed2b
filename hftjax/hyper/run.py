"""``train-hyper``: the hyper-agent over the frozen best sub-agents of a run directory.

Each seed's hyper-agent mixes the six sub-agents trained with the same seed (the lowest seed's
when the sub-agent run has fewer seeds). Seeds are vmapped; per epoch: train, validate greedily
on the whole validation split from position 0, keep the best epoch; the shared host loop
(``hftjax.learner.loop``) logs, guards against divergence and checkpoints (resumable).
"""

from __future__ import annotations

import os
from pathlib import Path

from hftjax.hyper.artifacts import load_subagents, reading
from hftjax.hyper.config import HyperConfig
from hftjax.hyper.trainer import HyperTrainer
from hftjax.io import write_json
from hftjax.learner.loop import Loop, run_loop, stopped_record
from hftjax.learner.tensorboard import scalar_writer
from hftjax.rundir import claim_run_dir, run_lock
from hftjax.sharding import Placement
from hftjax.software import software_provenance


def train_hyper(run_dir: str | Path, cfg: HyperConfig, *, out: str | Path | None = None,
                stop_after: int | None = None, resume_from: int | None = None,
                progress: bool = True, placement: Placement = Placement()) -> tuple[object, HyperTrainer]:
    """Train (or resume) the hyper-agent over the sub-agents of ``run_dir``, writing into ``out``
    (default: ``run_dir`` itself; another directory keeps an ablation beside the main result)."""
    with reading(run_dir):  # the sub-agents and their data, shared with other readers
        subagents = load_subagents(run_dir)
        run = HyperTrainer(subagents, cfg, placement)
        out = claim_run_dir(run_dir if out is None else out)
        with run_lock(out):
            loop = Loop("hyper-agent", out / "hyper_checkpoints", out / "hyper_log.jsonl",
                        {**cfg.to_json(), "dataset_sha256": subagents.dataset_sha256}, cfg.epochs,
                        [{"seed": s} for s in cfg.seeds], cfg.warn_loss_above, run.q_bound())
            state, stopped = run_loop(loop, run.init(), run.epoch, stop_after=stop_after, resume_from=resume_from,
                                      progress=progress, on_epoch=scalar_writer(out, "hyper"))
            write_json({"config": cfg.to_json(), "subagents": os.path.relpath(Path(run_dir).resolve(), out.resolve()),
                        "dataset_sha256": subagents.dataset_sha256, "stopped": stopped_record(stopped),
                        "software": software_provenance()}, out / "hyper.json")
    return state, run
