"""A population of Q-learners on market chunks (agent x seed x sweep, or algorithm x seed) as
stacked pytrees, trained side by side: one compile trains them all.

Members' chunk sets differ in size, so each member's episode list is padded to a common length
with a count of valid entries (no Python branching per member). The sub-agents and the DQN-family
baselines are such populations; each brings its network, its members and its chunks (``build``),
and this module trains them: the vmapped epoch and validation, and the host side (``train_population``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hftjax.dataset import learning_settings, load_market
from hftjax.env.config import EnvConfig
from hftjax.env.market import MarketData
from hftjax.errors import ConfigError
from hftjax.io import write_json
from hftjax.learner.checkpoint import save_best
from hftjax.learner.chunk_epoch import train_epoch
from hftjax.learner.config import LearnerConfig
from hftjax.learner.dqn import HParams, LearnerState, Transition, hparams, init_learner
from hftjax.learner.loop import Loop, q_bound, run_loop, stopped_record
from hftjax.learner.members import MemberSpec, Setup, keep_best, padded
from hftjax.learner.tensorboard import scalar_writer
from hftjax.learner.validation import validate
from hftjax.options import TRACED, compiled_part, role
from hftjax.provenance import check_sources, dataset_digest
from hftjax.rundir import claim_run_dir, prepare_lock, run_lock
from hftjax.sharding import Placement, host_values
from hftjax.software import software_provenance


def member_hparams(cfg: LearnerConfig, members: list[dict]) -> HParams:
    """(M,) stacked hyper-parameters of ``cfg``'s traced options, under their learner names (a
    member's ``alpha`` is the KL weight); a member may set other learner leaves (the baselines'
    ``double``)."""
    leaf = {f.name: f.metadata["leaf"] or f.name for f in dataclasses.fields(cfg) if role(f) == TRACED}
    extra = [k for k in HParams.__dataclass_fields__ if k in members[0]]
    return hparams({**{leaf[k]: [m[k] for m in members] for k in leaf}, **{k: [m[k] for m in members] for k in extra}})


def population(cfg: LearnerConfig, levels: int, net: nn.Module, members: list[dict], train_labels: dict,
               valid_labels: dict, train: list, valid: list, jitter: list | None = None) -> tuple[Setup, MemberSpec]:
    """Setup and stacked spec of ``members`` with their training and validation chunk starts
    (and per-chunk start jitter)."""
    if train_labels["chunk_len"] != valid_labels["chunk_len"]:
        raise ConfigError("chunk_len", "train and valid splits were prepared with different chunk lengths")
    for m, starts in zip(members, train):
        if len(starts) == 0:
            raise ConfigError("agents", f"{m['agent']} has no training chunk: prepare more data or a shorter chunk_len")
    train_starts, num_train, max_train = padded(train)
    valid_starts, num_valid, max_valid = padded(valid)
    train_jitter, _, _ = padded(jitter or [np.zeros(len(t), np.int64) for t in train])
    spec = MemberSpec(train_starts=jnp.asarray(train_starts), num_train=jnp.asarray(num_train),
                      valid_starts=jnp.asarray(valid_starts), num_valid=jnp.asarray(num_valid),
                      hp=member_hparams(cfg, members), train_jitter=jnp.asarray(train_jitter))
    return Setup(compiled_part(cfg), levels, train_labels["chunk_len"], max_train, max_valid, net), spec


def member_keys(members: list[dict], names: tuple[str, ...], traced: tuple[str, ...], offset: int = 0) -> jax.Array:
    """Each member's stream depends on its seed, agent (its index in ``names``, plus
    ``offset``) and the values of its ``traced`` hyper-parameters, not on its position."""
    keys = []
    for m in members:
        key = jax.random.fold_in(jax.random.key(m["seed"]), offset + names.index(m["agent"]))
        for name in traced:
            key = jax.random.fold_in(key, int(np.float32(m[name]).view(np.uint32)))
        keys.append(key)
    return jnp.stack(keys)


def init_member(setup: Setup, key: jax.Array, hp: HParams, market: MarketData) -> LearnerState:
    k_net, k_run = jax.random.split(key)
    params = setup.net.init(k_net, market.single[:1], market.trend[:1], jnp.zeros((1,), jnp.int32))
    example = Transition(row=jnp.int32(0), prev_action=jnp.int32(0), action=jnp.int32(0),
                         reward=jnp.float32(0), done=jnp.bool_(False))
    return init_learner(params, hp, setup.cfg.grad_clip, example, setup.cfg.buffer_size, k_run)


class PopulationTrainer:
    """Markets, population spec and the compiled epoch/validation functions of one run;
    ``build(levels, train_labels, valid_labels) -> (setup, spec, members)`` makes the members,
    ``keys`` their random keys; ``placement`` spreads the members over devices; the teacher tables
    are kept in ``run_dir/teacher/`` when given."""

    def __init__(self, env: EnvConfig, data_dir: str | Path, build, keys, placement: Placement = Placement(),
                 run_dir: str | Path | None = None):
        train_market, train_labels = load_market(env, data_dir, "train", run_dir=run_dir)
        valid_market, valid_labels = load_market(env, data_dir, "valid", run_dir=run_dir)
        self.train_market, self.valid_market, self.trading = placement.replicated(
            (train_market, valid_market, learning_settings(env, data_dir)))
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


def train_population(name: str, what: str, make_trainer, config: dict, ids: list[dict], learner: LearnerConfig,
                     env: EnvConfig, data_dir: str | Path, run_dir: str | Path, *, stop_after: int | None = None,
                     resume_from: int | None = None, progress: bool = True) -> tuple[object, PopulationTrainer]:
    """The host side of a population's training, into ``RUN_DIR/<name>_checkpoints``,
    ``<name>_log.jsonl``, ``<name>_best`` and, once done, ``<name>.json``."""
    check_sources(data_dir)
    run_dir = claim_run_dir(run_dir)
    with run_lock(run_dir), prepare_lock(data_dir, shared=True):  # no prepare replaces the data meanwhile
        digest = dataset_digest(data_dir)  # before the data is read: what this population learns from
        trainer = make_trainer(run_dir)  # its teacher tables are kept in RUN_DIR/teacher/
        # the dataset is part of the checkpointed config: a resume on data prepared again is refused
        loop = Loop(what, run_dir / f"{name}_checkpoints", run_dir / f"{name}_log.jsonl",
                    {**config, "env": env.to_json(), "dataset_sha256": digest}, learner.epochs, ids,
                    learner.warn_loss_above, trainer.q_bound())
        state, stopped = run_loop(loop, trainer.init(), trainer.epoch, stop_after=stop_after,
                                  resume_from=resume_from, progress=progress, on_epoch=scalar_writer(run_dir, name))
        save_best(run_dir / f"{name}_best", state)
        # written last: later stages read it as "this population is trained" (``stopped`` says
        # when it stopped early); a relative data path keeps the run directory movable
        write_json({"config": config, "env": env.to_json(), "members": trainer.members,
                    "data_dir": os.path.relpath(Path(data_dir).resolve(), run_dir.resolve()), "dataset_sha256": digest,
                    "stopped": stopped_record(stopped), "software": software_provenance()}, run_dir / f"{name}.json")
    return state, trainer
