"""``train-hyper``: the hyper-agent over the frozen best sub-agents of a run directory.

Each seed's hyper-agent mixes the six sub-agents trained with the same seed (seed 0's when the
sub-agent run has fewer seeds). Seeds are vmapped; per epoch: train, validate greedily on the
whole validation split from position 0, keep the best epoch, log, checkpoint (resumable).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from hftjax.checkpoint import Checkpoints
from hftjax.env.dataset import load_split
from hftjax.errors import ConfigError, RunDirError
from hftjax.hyper.agent import HyperSetup, greedy_rollout, hyper_epoch, init_hyper, q_mix
from hftjax.hyper.config import HyperConfig
from hftjax.hyper.subq import sub_q_table
from hftjax.io import write_json
from hftjax.rl import keep_best
from hftjax.rundir import claim_run_dir, run_lock
from hftjax.subagent.config import AGENTS, load_config
from hftjax.subagent.population import subagent_net
from hftjax.training import Loop, run_loop


def load_subagents(run_dir: Path):
    """(sub-agent config, members, best params stacked over members) of a sub-agent run; the
    members' ``data_dir`` is resolved against the run directory."""
    if not (run_dir / "subagents.json").exists():
        raise RunDirError(run_dir, "has no trained sub-agents (subagents.json missing): run "
                                   f"hftjax train-subagents DATA_DIR --out {run_dir} first")
    meta = json.loads((run_dir / "subagents.json").read_text())
    meta["data_dir"] = str((run_dir / meta["data_dir"]).resolve())
    cfg = load_config(overrides=[f"{k}={json.dumps(v)}" for k, v in meta["config"].items()])
    best_dir = (run_dir / "subagents_best").resolve()
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            best = checkpointer.restore(best_dir)
    except Exception as e:  # orbax raises many types for a missing or damaged checkpoint
        raise RunDirError(best_dir, f"the best sub-agents cannot be read ({type(e).__name__}); rerun "
                                    f"hftjax train-subagents DATA_DIR --out {run_dir}") from e
    return cfg, meta, best


def stacked_for_seed(meta: dict, best_params, seed: int):
    """The six sub-agents of ``seed`` (or seed 0) in the hyper-agent's order."""
    members = meta["members"]
    have = {m["seed"] for m in members}
    seed = seed if seed in have else min(have)
    index = [next(i for i, m in enumerate(members) if m["agent"] == a and m["seed"] == seed) for a in AGENTS]
    return jax.tree.map(lambda x: jnp.asarray(x)[np.array(index)], best_params)


class HyperRun:
    """Markets, frozen sub-agent Q tables and compiled functions for a run directory."""

    def __init__(self, run_dir: str | Path, cfg: HyperConfig):
        self.run_dir = Path(run_dir)
        self.sub_cfg, self.sub_meta, best = load_subagents(self.run_dir)
        missing = set(AGENTS) - {m["agent"] for m in self.sub_meta["members"]}
        if missing:
            raise ConfigError("agents", f"the hyper-agent needs all six sub-agents; missing {sorted(missing)}")
        self.cfg = cfg
        sc = self.sub_cfg
        self.setup = HyperSetup(dataclasses.replace(cfg, seeds=(0,), epochs=1, warn_loss_above=HyperConfig.warn_loss_above),
                                sc.levels, sc.fee, sc.max_holding)
        self.load = functools.partial(load_split, self.sub_meta["data_dir"], max_holding=sc.max_holding,
                                      levels=sc.levels, episode="split", teacher_fee=sc.teacher_fee)
        self.sub_params = jax.tree.map(lambda *x: jnp.stack(x), *[stacked_for_seed(self.sub_meta, best["best_params"], s)
                                                                   for s in cfg.seeds])
        self.sub_net = subagent_net(sc)
        self._markets: dict = {}

    def market(self, split: str):
        """(market, per-seed Q tables (S, T, K, A, K)) of a split, computed once."""
        if split not in self._markets:
            market, _ = self.load(split)
            tables = jnp.stack([sub_q_table(self.sub_net, jax.tree.map(lambda x: x[i], self.sub_params), market)
                                for i in range(len(self.cfg.seeds))])
            self._markets[split] = (market, tables)
        return self._markets[split]

    def init(self):
        market, _ = self.market("train")
        keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1_000_003) for s in self.cfg.seeds])
        return hyper_init(self.setup, keys, market)

    def epoch(self, state):
        market, tables = self.market("train")
        state, metrics = hyper_train_epoch(self.setup, state, tables, market)
        valid, valid_tables = self.market("valid")
        state, score = hyper_validate(self.setup, state, valid_tables, valid)
        return state, {**metrics, "valid_return_rate": score}

    def rollout(self, params, split: str):
        """Greedy per-seed runs of the hyper-agent with ``params`` (stacked over seeds)."""
        market, tables = self.market(split)
        return hyper_rollouts(self.setup, params, tables, market)


@functools.partial(jax.jit, static_argnums=0)
def hyper_init(setup, keys, market):
    return jax.vmap(lambda k: init_hyper(setup, k, market))(keys)


@functools.partial(jax.jit, static_argnums=0)
def hyper_train_epoch(setup, state, tables, market):
    return jax.vmap(lambda s, t: hyper_epoch(setup, s, t, market))(state, tables)


@functools.partial(jax.jit, static_argnums=0)
def hyper_rollouts(setup, params, tables, market):
    def one(p, table):
        return greedy_rollout(setup, lambda rows, prev: q_mix(setup, p, market, table, rows, prev)[0], market)
    return jax.vmap(one)(params, tables)


@functools.partial(jax.jit, static_argnums=0)
def hyper_validate(setup, state, tables, market):
    def one(s, table):
        _, _, acc = greedy_rollout(setup, lambda rows, prev: q_mix(setup, s.params, market, table, rows, prev)[0], market)
        return keep_best(s, acc["return_rate"]), acc["return_rate"]
    return jax.vmap(one)(state, tables)


def train_hyper(run_dir: str | Path, cfg: HyperConfig, *, out: str | Path | None = None,
                stop_after: int | None = None, resume_from: int | None = None,
                progress: bool = True) -> tuple[object, HyperRun]:
    """Train (or resume) the hyper-agent over the sub-agents of ``run_dir``, writing into ``out``
    (default: ``run_dir`` itself; another directory keeps an ablation beside the main result)."""
    run = HyperRun(run_dir, cfg)
    out = claim_run_dir(run_dir if out is None else out)
    with run_lock(out):
        loop = Loop("hyper-agent", out / "hyper_checkpoints", out / "hyper_log.jsonl", cfg.to_json(), cfg.epochs,
                    [{"seed": s} for s in cfg.seeds], cfg.warn_loss_above)
        state = run_loop(loop, run.init(), run.epoch, stop_after=stop_after, resume_from=resume_from,
                         progress=progress)
        write_json({"config": cfg.to_json(), "subagents": os.path.relpath(run.run_dir.resolve(), out.resolve())},
                   out / "hyper.json")
    return state, run


@functools.partial(jax.jit, static_argnums=0)
def baseline_rollouts(setup, tables, market):
    """Per seed: the equal-weight mix of the six sub-agents, and each sub-agent alone."""
    def one(table):
        equal = greedy_rollout(setup, lambda rows, prev: table[rows, prev].mean(axis=1), market)
        singles = [greedy_rollout(setup, lambda rows, prev, i=i: table[rows, prev, i], market)
                   for i in range(table.shape[2])]
        return equal, jax.tree.map(lambda *x: jnp.stack(x), *singles)
    return jax.vmap(one)(tables)


def hyper_config_of(hyper_dir: str | Path) -> HyperConfig | None:
    """The resolved hyper-agent config a directory was trained (``hyper.json``) or planned
    (``run.json`` of ``hftjax run``) with; None when it has neither."""
    hyper_dir = Path(hyper_dir)
    for name, key in (("hyper.json", "config"), ("run.json", "hyper")):
        if (hyper_dir / name).exists():
            return HyperConfig(**json.loads((hyper_dir / name).read_text())[key])
    return None


def load_hyper(hyper_dir: str | Path) -> tuple[object, HyperRun]:
    """The trained hyper-agent population (latest checkpoint) of a directory ``train-hyper`` wrote."""
    hyper_dir = Path(hyper_dir)
    if not (hyper_dir / "hyper.json").exists():
        raise RunDirError(hyper_dir, "has no trained hyper-agent (hyper.json missing): run "
                                     f"hftjax train-hyper RUN_DIR --out {hyper_dir} first")
    meta = json.loads((hyper_dir / "hyper.json").read_text())
    run = HyperRun(hyper_dir / meta.get("subagents", "."), HyperConfig(**meta["config"]))
    checkpoints = Checkpoints(hyper_dir / "hyper_checkpoints")
    try:
        if checkpoints.latest_epoch() is None:
            raise RunDirError(hyper_dir, "has no hyper-agent checkpoint: run hftjax train-hyper first")
        state, _ = checkpoints.restore(checkpoints.latest_epoch(), run.init())
    finally:
        checkpoints.close()
    return state, run
