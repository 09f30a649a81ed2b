"""``train-subagents``: the six sub-agents trained as one population (``hftjax.learner.population``:
the jitted, vmapped epoch and validation, shared with the learned baselines).

Per epoch: train (one jit call for every member), validate and keep the best epoch; the shared
host loop (``hftjax.learner.loop``) logs, guards against divergence and checkpoints (TensorBoard
scalars under ``RUN/tb/`` with the ``tb`` extra, ``hftjax.learner.tensorboard``). A rerun with the same RUN_DIR resumes.
"""

from __future__ import annotations

import functools
from pathlib import Path

from hftjax.env.config import EnvConfig
from hftjax.learner.population import PopulationTrainer, member_keys, train_population
from hftjax.sharding import Placement
from hftjax.subagent.config import AGENTS, HPARAMS, SubAgentConfig
from hftjax.subagent.population import build_population


class SubAgentTrainer(PopulationTrainer):
    def __init__(self, cfg: SubAgentConfig, env: EnvConfig, data_dir: str | Path, placement: Placement = Placement(),
                 run_dir: str | Path | None = None):
        super().__init__(env, data_dir, functools.partial(build_population, cfg), subagent_keys, placement, run_dir)


def subagent_keys(members: list[dict]):
    return member_keys(members, AGENTS, HPARAMS)


def member_ids(cfg: SubAgentConfig) -> list[dict]:
    """What names each member in logs and errors: agent, seed and its sweep values."""
    swept = [k for k, _ in cfg.sweep]
    return [{"agent": m["agent"], "seed": m["seed"], **{k: m[k] for k in swept}} for m in cfg.members]


def train_subagents(cfg: SubAgentConfig, data_dir: str | Path, run_dir: str | Path, *,
                    env: EnvConfig = EnvConfig(), stop_after: int | None = None, resume_from: int | None = None,
                    progress: bool = True, placement: Placement = Placement()) -> tuple[object, SubAgentTrainer]:
    """Train (or resume) the sub-agent population; ``stop_after`` ends after that many epochs in
    total (used to test resuming). Returns the final population state and the trainer."""
    return train_population("subagents", "sub-agent", lambda run: SubAgentTrainer(cfg, env, data_dir, placement, run),
                            cfg.to_json(), member_ids(cfg), cfg, env, data_dir, run_dir, stop_after=stop_after,
                            resume_from=resume_from, progress=progress)
