"""What a run directory holds for the hyper-agent: the trained sub-agents (``subagents.json``,
``subagents_best/``) and a trained hyper-agent (``hyper.json``, ``hyper_checkpoints/``).
Paths inside are relative, so run directories can be moved."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.env.config import EnvConfig
from hftjax.errors import ConfigError, RunDirError
from hftjax.hyper.config import HyperConfig
from hftjax.hyper.trainer import HyperTrainer
from hftjax.learner.checkpoint import Checkpoints, restore_best
from hftjax.provenance import check_sources, check_trained_on
from hftjax.rundir import TRAINED, marked, prepare_lock, read_record, run_lock
from hftjax.subagent import AGENTS, SubAgentConfig


@dataclasses.dataclass(frozen=True)
class TrainedSubAgents:
    run_dir: Path
    cfg: SubAgentConfig
    env: EnvConfig
    members: list[dict]
    data_dir: Path
    best_params: dict        # stacked over members
    dataset_sha256: str | None = None  # the prepared dataset they were trained on (None: not recorded)

    def for_seed(self, seed: int):
        """The six sub-agents of ``seed`` (or of the lowest seed trained) in the hyper-agent's order."""
        have = {m["seed"] for m in self.members}
        seed = seed if seed in have else min(have)
        index = [next(i for i, m in enumerate(self.members) if m["agent"] == a and m["seed"] == seed) for a in AGENTS]
        return jax.tree.map(lambda x: jnp.asarray(x)[np.array(index)], self.best_params)


def load_subagents(run_dir: str | Path) -> TrainedSubAgents:
    run_dir = Path(run_dir)
    if not (run_dir / "subagents.json").exists():
        raise RunDirError(run_dir, "has no trained sub-agents (subagents.json missing): run "
                                   f"hftjax train-subagents DATA_DIR --out {run_dir} first")
    meta = read_record(run_dir / "subagents.json")
    data_dir = (run_dir / meta["data_dir"]).resolve()
    check_sources(data_dir)
    check_trained_on(data_dir, meta.get("dataset_sha256"), "sub-agents", f"hftjax train-subagents DATA_DIR --out {run_dir}")
    best = restore_best(run_dir / "subagents_best", f"hftjax train-subagents DATA_DIR --out {run_dir}")
    missing = set(AGENTS) - {m["agent"] for m in meta["members"]}
    if missing:
        raise ConfigError("agents", f"the hyper-agent needs all six sub-agents; missing {sorted(missing)}")
    return TrainedSubAgents(run_dir=run_dir, cfg=SubAgentConfig(**meta["config"]), env=EnvConfig(**meta["env"]),
                       members=meta["members"], data_dir=data_dir, best_params=best["best_params"],
                       dataset_sha256=meta.get("dataset_sha256"))


@contextlib.contextmanager
def reading(directory: str | Path) -> Iterator[None]:
    """Hold, shared, the lock of everything a stage reads through ``directory``: the directory, the
    sub-agents' run its ``hyper.json`` names and the prepared data their ``subagents.json`` names,
    so no ``prepare`` or training replaces them while the stage runs. Each record is read under its
    directory's lock; where one is missing there is nothing more to lock (the loader says what is)."""
    def named(record: Path, key: str) -> Path | None:  # a damaged record: the loader says what is wrong
        try:
            return record.parent / json.loads(record.read_text())[key]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    directory = Path(directory)
    with contextlib.ExitStack() as held:
        if (directory / "hyper.json").exists():
            held.enter_context(run_lock(directory, shared=True))
            directory = named(directory / "hyper.json", "subagents")
        if directory is not None and (directory / "subagents.json").exists():
            held.enter_context(run_lock(directory, shared=True))
            data_dir = named(directory / "subagents.json", "data_dir")
            if data_dir is not None and data_dir.parent.is_dir():
                held.enter_context(prepare_lock(data_dir, shared=True))
        yield


def hyper_config_of(hyper_dir: str | Path) -> HyperConfig | None:
    """The resolved hyper-agent config a directory was trained (``hyper.json``) or planned
    (``config.json`` of ``hftjax run``) with; None when it has neither."""
    hyper_dir = Path(hyper_dir)
    for name, key in (("hyper.json", "config"), ("config.json", "hyper")):
        if (hyper_dir / name).exists():
            return HyperConfig(**json.loads((hyper_dir / name).read_text())[key])
    return None


def first_missing_stage(run_dir: Path) -> str:
    """What to run first in a directory without a trained hyper-agent."""
    if not run_dir.is_dir() or not marked(run_dir, "run"):
        return (f"it is not an hftjax run directory; train one with hftjax run --out {run_dir}, or evaluate "
                "the directory a run or train-hyper wrote")
    if not (run_dir / "subagents.json").exists():
        data = run_dir / "data" if (run_dir / "data" / "manifest.json").exists() else "DATA_DIR"
        return (f"train the sub-agents first (hftjax train-subagents {data} --out {run_dir}), then the hyper-agent "
                f"(hftjax train-hyper {run_dir}); or rerun the hftjax run command that made it")
    return f"train it with hftjax train-hyper {run_dir}"


def load_hyper(hyper_dir: str | Path) -> tuple[object, HyperTrainer]:
    """The trained hyper-agent population (latest checkpoint) of a directory ``train-hyper`` wrote."""
    hyper_dir = Path(hyper_dir)
    if not (hyper_dir / "hyper.json").exists():
        raise RunDirError(hyper_dir, f"has no trained hyper-agent (hyper.json missing): {first_missing_stage(hyper_dir)}")
    meta = read_record(hyper_dir / "hyper.json")
    subagents = load_subagents(hyper_dir / meta["subagents"])
    if meta.get("dataset_sha256") not in (None, subagents.dataset_sha256):
        raise RunDirError(hyper_dir, "holds a hyper-agent trained over sub-agents of another dataset (they were "
                                     f"retrained since); retrain it: hftjax train-hyper {hyper_dir / meta['subagents']}")
    run = HyperTrainer(subagents, HyperConfig(**meta["config"]))
    checkpoints = Checkpoints(hyper_dir / "hyper_checkpoints")
    try:
        if checkpoints.latest_epoch() is None:
            raise RunDirError(hyper_dir, "has no hyper-agent checkpoint: run hftjax train-hyper first")
        out = "" if meta["subagents"] == "." else f" --out {hyper_dir}"
        state, _ = checkpoints.restore(checkpoints.latest_epoch(), run.init(),
                                       resume=f"hftjax train-hyper {hyper_dir / meta['subagents']}{out} {{option}}")
    finally:
        checkpoints.close()
    return state, run


def training_status(hyper_dir: str | Path, subagent_dir: str | Path) -> dict:
    """How the stages behind an evaluation trained: each one that stopped early (its
    ``stopped`` record: member, epoch, reason) and, per seed,
    the hyper-agent's saturated softmax count (updates whose batch held a state with a mixing
    weight of exactly 0, and the epochs with any; a diagnostic, never a stop)."""
    hyper_dir, subagent_dir = Path(hyper_dir), Path(subagent_dir)
    stopped = []
    for name, stage in TRAINED:  # the hyper-agent's in its own directory, the others beside the sub-agents
        path = (hyper_dir if name == "hyper.json" else subagent_dir) / name
        record = read_record(path).get("stopped") if path.exists() else None
        if record:
            stopped.append({"stage": stage, **record})
    saturated = {}
    log = hyper_dir / "hyper_log.jsonl"
    kept = next((s["epoch"] for s in stopped if s["stage"] == "hyper-agent"), None)  # later epochs were rolled back
    for line in (json.loads(x) for x in (log.read_text().splitlines() if log.exists() else [])):
        if kept is not None and line["epoch"] >= kept:
            continue
        seed = saturated.setdefault(line["seed"], {"seed": line["seed"], "saturated_updates": 0, "saturated_epochs": 0})
        share = line.get("saturated") or 0.0
        seed["saturated_updates"] += int(round(share * (line.get("updates") or 0)))
        seed["saturated_epochs"] += int(share > 0)
    return {"stopped": stopped, "hyper_saturated": list(saturated.values())}

