"""``train-baselines``: the learned baselines of a run, each family one population through the
shared host loop (``hftjax.learner.population.train_population``): the DQN family into
``RUN_DIR/baselines_*``, PPO into ``RUN_DIR/ppo_*``. A rerun resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hftjax.baselines.config import BaselineConfig, DQN_FAMILY
from hftjax.baselines.learned import MLPQNet, dqn_trainer
from hftjax.baselines.ppo import ActorCritic, PPOTrainer
from hftjax.env.config import EnvConfig
from hftjax.learner.checkpoint import restore_best
from hftjax.learner.config import LearnerConfig
from hftjax.learner.population import train_population
from hftjax.provenance import check_trained_on
from hftjax.rundir import read_record
from hftjax.sharding import Placement

# population name -> (its algorithms among a config's, its trainer, its network)
FAMILIES = {
    "baselines": (lambda cfg: [a for a in cfg.algorithms if a in DQN_FAMILY], dqn_trainer, MLPQNet),
    "ppo": (lambda cfg: [a for a in cfg.algorithms if a == "ppo"], PPOTrainer, ActorCritic),
}


def train_baselines(cfg: BaselineConfig, learner: LearnerConfig, data_dir: str | Path, run_dir: str | Path, *,
                    env: EnvConfig = EnvConfig(), progress: bool = True, placement: Placement = Placement(),
                    resume: Callable[[str], int | None] = lambda family: None) -> list[tuple[object, object]]:
    """Train (or resume) every learned baseline of ``cfg`` into ``run_dir``; returns each
    family's (final state, trainer). ``resume(family)`` gives the family's ``resume_from``."""
    done = []
    for name, (chosen, make, _) in FAMILIES.items():
        algorithms = chosen(cfg)
        if algorithms:
            done.append(train_population(
                name, f"{'/'.join(a.upper() for a in algorithms)} baseline", lambda run: make(cfg, learner, env, data_dir, placement, run),
                {"baselines": cfg.to_json(), "learner": learner.to_json()},
                [{"agent": a, "seed": s} for a in algorithms for s in learner.seeds], learner, env, data_dir, run_dir,
                progress=progress, resume_from=resume(name)))
    return done



def load_baselines(run_dir: str | Path) -> list[tuple[object, list[dict], object]]:
    """(network, members, best params stacked over members) of each trained family in the run;
    calling a network gives Q-values or logits, whose argmax is the greedy action."""
    run_dir = Path(run_dir)
    out = []
    for name, (_, _, network) in FAMILIES.items():
        if not (run_dir / f"{name}.json").exists():
            continue
        meta = read_record(run_dir / f"{name}.json")
        check_trained_on((run_dir / meta["data_dir"]).resolve(), meta.get("dataset_sha256"), f"{name} baselines",
                         f"hftjax train-baselines DATA_DIR --out {run_dir}")
        best = restore_best(run_dir / f"{name}_best", f"hftjax train-baselines DATA_DIR --out {run_dir}")
        cfg = BaselineConfig(**meta["config"]["baselines"])
        out.append((network(levels=EnvConfig(**meta["env"]).levels, hidden=cfg.hidden), meta["members"],
                    best["best_params"]))
    return out
