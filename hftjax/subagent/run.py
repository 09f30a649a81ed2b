"""``train-subagents``: the host loop over epochs around the jitted, vmapped population epoch.

Per epoch: train (one jit call for every member), validate, keep the best epoch, log one JSON
line per member (and TensorBoard scalars when tensorboardX is installed), checkpoint. A rerun
with the same RUN_DIR resumes from the newest checkpoint.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from hftjax.env.dataset import load_split
from hftjax.checkpoint import Checkpoints, resume, truncate_log
from hftjax.io import write_json
from hftjax.subagent.config import SubAgentConfig
from hftjax.subagent.epoch import train_epoch
from hftjax.subagent.population import build_population, init_member, member_keys
from hftjax.rl import keep_best
from hftjax.subagent.validation import validate


class SubAgentTrainer:
    """Markets, population spec and the compiled epoch/validation functions of one run."""

    def __init__(self, cfg: SubAgentConfig, data_dir: str | Path):
        load = functools.partial(load_split, data_dir, max_holding=cfg.max_holding, levels=cfg.levels,
                                 teacher_fee=cfg.teacher_fee)
        self.train_market, train_labels = load("train")
        self.valid_market, valid_labels = load("valid")
        self.setup, self.spec, self.members = build_population(cfg, train_labels, valid_labels)

    def init(self):
        return population_init(self.setup, member_keys(self.members), self.spec.hp, self.train_market)

    def epoch(self, state):
        """Train every member one epoch, then validate and keep each member's best params."""
        state, metrics = population_epoch(self.setup, state, self.spec, self.train_market)
        state, score = population_validate(self.setup, state, self.spec, self.valid_market)
        return state, {**metrics, "valid_return_rate": score}


# Module-level with the (hashable) Setup static: trainers of the same shape share one compile.
@functools.partial(jax.jit, static_argnums=0)
def population_init(setup, keys, hp, market):
    return jax.vmap(functools.partial(init_member, setup), (0, 0, None))(keys, hp, market)


@functools.partial(jax.jit, static_argnums=0)
def population_epoch(setup, state, spec, market):
    return jax.vmap(functools.partial(train_epoch, setup), (0, 0, None))(state, spec, market)


@functools.partial(jax.jit, static_argnums=0)
def population_validate(setup, state, spec, market):
    def one(state, spec):
        score = validate(setup, state, spec, market)
        return keep_best(state, score), score
    return jax.vmap(one)(state, spec)


def _log_lines(members, epoch, metrics, state) -> list[dict]:
    metrics = jax.tree.map(np.asarray, metrics)
    return [{"epoch": epoch, "agent": m["agent"], "seed": m["seed"],
             **{k: float(v[i]) for k, v in metrics.items()},
             "best_epoch": int(state.best_epoch[i]), "best_valid_return_rate": float(state.best_score[i])}
            for i, m in enumerate(members)]


def _tensorboard(run_dir: Path):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def train_subagents(cfg: SubAgentConfig, data_dir: str | Path, run_dir: str | Path, *,
                    stop_after: int | None = None, progress: bool = True) -> tuple[object, SubAgentTrainer]:
    """Train (or resume) the population; ``stop_after`` ends after that many epochs in total
    (used to test resuming). Returns the final population state and the trainer."""
    run_dir = Path(run_dir)
    trainer = SubAgentTrainer(cfg, data_dir)
    checkpoints = Checkpoints(run_dir / "checkpoints")
    state, start = resume(checkpoints, trainer.init(), cfg.to_json(), str(run_dir))
    write_json({"config": cfg.to_json(), "members": trainer.members, "data_dir": str(Path(data_dir).resolve())},
               run_dir / "subagents.json")
    log_path, writer = run_dir / "subagents_log.jsonl", _tensorboard(run_dir)
    truncate_log(log_path, start)
    end = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    epochs = range(start, end)
    if progress:
        from tqdm.auto import tqdm
        epochs = tqdm(epochs, initial=start, total=cfg.epochs, desc="sub-agents", unit="epoch")
    for epoch in epochs:
        state, metrics = trainer.epoch(state)
        lines = _log_lines(trainer.members, epoch, metrics, state)
        with open(log_path, "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
        if writer is not None:
            for i, line in enumerate(lines):
                for k in ("valid_return_rate", "train_reward", "loss", "td", "kl"):
                    writer.add_scalar(f"{line['agent']}_seed{line['seed']}_{i}/{k}", line[k], epoch)
        if progress:
            scores = np.asarray(metrics["valid_return_rate"])
            epochs.set_postfix(valid_return=f"{np.nanmean(scores):.4f}", loss=f"{float(np.mean(metrics['loss'])):.3g}")
        checkpoints.save(epoch + 1, state, {"epoch": epoch + 1, "config": cfg.to_json()})
    checkpoints.close()
    best = {"best_params": state.best_params, "best_score": state.best_score, "best_epoch": state.best_epoch}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save((run_dir / "subagents_best").resolve(), best, force=True)
    return state, trainer
