"""``train-subagents``: the host loop over epochs around the jitted, vmapped population epoch
(shared with the learned baselines, ``hftjax.baselines.learned``).

Per epoch: train (one jit call for every member), validate and keep the best epoch; the shared
host loop (``hftjax.learner.loop``) logs, guards against divergence and checkpoints (TensorBoard
scalars too when tensorboardX is installed). A rerun with the same RUN_DIR resumes.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jax

from hftjax.learner.checkpoint import save_best
from hftjax.env.config import EnvConfig
from hftjax.io import write_json
from hftjax.provenance import check_sources, dataset_digest
from hftjax.rundir import claim_run_dir, run_lock
from hftjax.sharding import Placement, host_values
from hftjax.subagent.config import SubAgentConfig
from hftjax.subagent.epoch import train_epoch
from hftjax.subagent.population import build_population, init_member, member_keys
from hftjax.learner.members import keep_best
from hftjax.subagent.validation import validate
from hftjax.learner.loop import Loop, q_bound, run_loop


class PopulationTrainer:
    """Markets, population spec and the compiled epoch/validation functions of one run;
    ``build(levels, train_labels, valid_labels) -> (setup, spec, members)`` makes the members,
    ``keys`` their random keys; ``placement`` spreads the members over devices."""

    def __init__(self, env: EnvConfig, data_dir: str | Path, build, keys=member_keys,
                 placement: Placement = Placement()):
        train_market, train_labels = env.load(data_dir, "train")
        valid_market, valid_labels = env.load(data_dir, "valid")
        self.train_market, self.valid_market, self.trading = placement.replicated(
            (train_market, valid_market, env.learning(data_dir)))
        self.setup, spec, self.members = build(env.levels, train_labels, valid_labels)
        self.spec = placement.members(spec)
        self.keys = lambda: placement.members(keys(self.members))

    def init(self):
        return population_init(self.setup, self.keys(), self.spec.hp, self.train_market)

    def q_bound(self):
        """Per member, the |Q| that means divergence (``hftjax.learner.loop.q_bound``)."""
        return q_bound(host_values(self.train_market.close), self.trading, host_values(self.spec.hp.gamma))

    def epoch(self, state):
        """Train every member one epoch, then validate and keep each member's best params."""
        state, metrics = population_epoch(self.setup, state, self.spec, self.train_market, self.trading)
        state, score = population_validate(self.setup, state, self.spec, self.valid_market, self.trading)
        return state, {**metrics, "valid_return_rate": score}


class SubAgentTrainer(PopulationTrainer):
    def __init__(self, cfg: SubAgentConfig, env: EnvConfig, data_dir: str | Path, placement: Placement = Placement()):
        super().__init__(env, data_dir, functools.partial(build_population, cfg), placement=placement)


# Module-level with the (hashable) Setup static: trainers of the same shape share one compile.
@functools.partial(jax.jit, static_argnums=0)
def population_init(setup, keys, hp, market):
    return jax.vmap(functools.partial(init_member, setup), (0, 0, None))(keys, hp, market)


@functools.partial(jax.jit, static_argnums=0)
def population_epoch(setup, state, spec, market, trading):
    return jax.vmap(functools.partial(train_epoch, setup), (0, 0, None, None))(state, spec, market, trading)


@functools.partial(jax.jit, static_argnums=0)
def population_validate(setup, state, spec, market, trading):
    def one(state, spec):
        score = validate(setup, state, spec, market, trading)
        return keep_best(state, score, spec.num_valid > 0), score
    return jax.vmap(one)(state, spec)


def _tensorboard(run_dir: Path, name: str):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    writer = SummaryWriter(str(run_dir / "tensorboard" / name))

    def write(epoch: int, lines: list[dict]) -> None:
        for i, line in enumerate(lines):
            for k in ("valid_return_rate", "train_reward", "loss", "td", "kl"):
                if line.get(k) is not None:
                    writer.add_scalar(f"{line['agent']}_seed{line['seed']}_{i}/{k}", line[k], epoch)
    return write


def member_ids(cfg: SubAgentConfig) -> list[dict]:
    """What names each member in logs and errors: agent, seed and its sweep values."""
    swept = [k for k, _ in cfg.sweep]
    return [{"agent": m["agent"], "seed": m["seed"], **{k: m[k] for k in swept}} for m in cfg.members]


def train_subagents(cfg: SubAgentConfig, data_dir: str | Path, run_dir: str | Path, *,
                    env: EnvConfig = EnvConfig(), stop_after: int | None = None, resume_from: int | None = None,
                    progress: bool = True, placement: Placement = Placement()) -> tuple[object, SubAgentTrainer]:
    """Train (or resume) the sub-agent population; ``stop_after`` ends after that many epochs in
    total (used to test resuming). Returns the final population state and the trainer."""
    return train_population("subagents", "sub-agent", lambda: SubAgentTrainer(cfg, env, data_dir, placement), cfg.to_json(),
                            member_ids(cfg), cfg, env, data_dir, run_dir, stop_after=stop_after,
                            resume_from=resume_from, progress=progress)


def train_population(name: str, what: str, make_trainer, config: dict, ids: list[dict], learner: SubAgentConfig,
                     env: EnvConfig, data_dir: str | Path, run_dir: str | Path, *, stop_after: int | None = None,
                     resume_from: int | None = None, progress: bool = True) -> tuple[object, PopulationTrainer]:
    """The host side of a population's training, into ``RUN_DIR/<name>_checkpoints``,
    ``<name>_log.jsonl``, ``<name>_best`` and, once done, ``<name>.json``."""
    check_sources(data_dir)
    run_dir = claim_run_dir(run_dir)
    with run_lock(run_dir):
        digest = dataset_digest(data_dir)  # before the data is read: what this population learns from
        trainer = make_trainer()
        # the dataset is part of the checkpointed config: a resume on data prepared again is refused
        loop = Loop(what, run_dir / f"{name}_checkpoints", run_dir / f"{name}_log.jsonl",
                    {**config, "env": env.to_json(), "dataset_sha256": digest}, learner.epochs, ids,
                    learner.warn_loss_above, trainer.q_bound())
        state = run_loop(loop, trainer.init(), trainer.epoch, stop_after=stop_after, resume_from=resume_from,
                         progress=progress, on_epoch=_tensorboard(run_dir, name))
        save_best(run_dir / f"{name}_best", state)
        # written last: later stages read it as "this population is trained"; a relative data
        # path keeps the run directory movable
        write_json({"config": config, "env": env.to_json(), "members": trainer.members,
                    "data_dir": os.path.relpath(Path(data_dir).resolve(), run_dir.resolve()), "dataset_sha256": digest},
                   run_dir / f"{name}.json")
    return state, trainer
