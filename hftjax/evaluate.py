"""``evaluate``: the paper's metrics for MacroHFT and buy-and-hold on a split, plus positions
and rewards (``results/metrics.json`` for the test split, ``metrics_<split>.json`` for others,
and ``results/<split>_positions.parquet``). Also reported, to judge the hyper-agent: the equal-weight mix of the six
sub-agents and the best single sub-agent on the split (chosen after the fact, an upper bound)."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hftjax.hyper.agent import greedy_rollout
from hftjax.hyper.artifacts import load_hyper
from hftjax.io import write_json, write_parquet
from hftjax.metrics import buy_and_hold_rewards, paper_metrics
from hftjax.rundir import run_lock
from hftjax.subagent.config import AGENTS


def _summary(per_seed: list[dict]) -> dict:
    keys = [k for k in per_seed[0] if k != "seed" and isinstance(per_seed[0][k], (int, float))]
    return {"mean": {k: float(np.mean([m[k] for m in per_seed])) for k in keys}, "per_seed": per_seed}


def evaluate(run_dir: str | Path, split: str = "test") -> dict:
    """Metrics of the hyper-agent in ``run_dir`` (a ``run`` directory or a ``train-hyper --out``
    one) on ``split``, written under ``run_dir/results``."""
    run_dir = Path(run_dir)
    state, run = load_hyper(run_dir)
    with run_lock(run_dir):
        return _evaluate(run_dir, split, state, run)


def _evaluate(run_dir: Path, split: str, state, run) -> dict:
    market, tables = run.market(split)
    actions, rewards, acc = jax.tree.map(np.asarray, run.rollout(state.best_params, split))
    (eq_actions, eq_rewards, eq_acc), (one_actions, one_rewards, one_acc) = jax.tree.map(
        np.asarray, baseline_rollouts(run.setup, tables, market, run.trading))
    seeds = run.cfg.seeds
    macro = [{"seed": s, **paper_metrics(rewards[i], acc["required_money"][i], actions[i], initial_action=0)}
             for i, s in enumerate(seeds)]
    equal = [{"seed": s, **paper_metrics(eq_rewards[i], eq_acc["required_money"][i], eq_actions[i], initial_action=0)}
             for i, s in enumerate(seeds)]
    best_single = []
    for i, s in enumerate(seeds):
        j = int(np.argmax(one_acc["return_rate"][i]))
        best_single.append({"seed": s, "agent": AGENTS[j], **paper_metrics(one_rewards[i, j], one_acc["required_money"][i, j],
                                                                          one_actions[i, j], initial_action=0)})
    table = pq.read_table(run.subagents.data_dir / f"{split}.parquet", columns=["timestamp", "close"])
    close = table["close"].to_numpy()
    env = run.env
    bh_rewards, bh_required = buy_and_hold_rewards(close, env.max_holding, env.fee)
    metrics = {"split": split, "rows": int(len(close)), "max_holding": env.max_holding, "fee": env.fee,
               "macrohft": _summary(macro), "buy_and_hold": paper_metrics(bh_rewards, bh_required),
               "equal_weight_mix": _summary(equal), "best_single_subagent": _summary(best_single),
               "hyper_best_epoch": [int(e) for e in np.asarray(state.best_epoch)]}
    out = run_dir / "results"
    write_json(metrics, out / ("metrics.json" if split == "test" else f"metrics_{split}.json"))
    columns = {"timestamp": table["timestamp"].slice(0, len(close) - 1), "close": pa.array(close[:-1])}
    for i, s in enumerate(seeds):
        columns[f"position_seed{s}"] = pa.array(actions[i] * env.max_holding / (env.levels - 1))
        columns[f"reward_seed{s}"] = pa.array(rewards[i].astype(np.float64))
    write_parquet(pa.table(columns), out / f"{split}_positions.parquet")
    return metrics


@functools.partial(jax.jit, static_argnums=0)
def baseline_rollouts(setup, tables, market, trading):
    """Per seed: the equal-weight mix of the six sub-agents, and each sub-agent alone."""
    def one(table):
        equal = greedy_rollout(setup, lambda obs: table[obs.row, obs.prev_action].mean(axis=1), market, trading)
        singles = [greedy_rollout(setup, lambda obs, i=i: table[obs.row, obs.prev_action, i], market, trading)
                   for i in range(table.shape[2])]
        return equal, jax.tree.map(lambda *x: jnp.stack(x), *singles)
    return jax.vmap(one)(tables)


def format_summary(metrics: dict) -> str:
    """The per-split table ``hftjax run`` and ``hftjax evaluate`` print."""
    lines = [f"{'split':<6} {'policy':<22} {'TR %':>8} {'ASR':>7} {'MDD %':>7} {'trades':>7}"]
    for split, m in metrics.items():
        rows = {"MacroHFT": m["macrohft"]["mean"], "equal-weight mix": m["equal_weight_mix"]["mean"],
                "best single sub-agent": m["best_single_subagent"]["mean"], "buy and hold": m["buy_and_hold"]}
        for name, r in rows.items():
            trades = "" if r.get("trades") is None else f"{r['trades']:.0f}"
            lines.append(f"{split:<6} {name:<22} {100 * r['TR']:>8.2f} {r['ASR']:>7.2f} {100 * r['MDD']:>7.2f} {trades:>7}")
    return "\n".join(lines)
