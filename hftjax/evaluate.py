"""``evaluate``: the paper's metrics for MacroHFT and its baselines on a split, plus positions
and rewards (``results/metrics.json`` for the test split, ``metrics_<split>.json`` for others,
and ``results/<split>_positions.parquet``), written as one step: ``results/`` is rebuilt beside
itself with the split's files and renamed into place (``hftjax.io.atomic_dir``), so a killed
evaluation leaves the earlier results and nothing new, or the whole new set.

Compared, on the same env accounting, fee and position size: buy-and-hold, MACD crossover
(``hftjax.baselines.macd``), the IV imbalance-volume rule when the data has a book
(``hftjax.baselines.iv``), the learned baselines DQN, DDQN, CDQNRP and PPO when the run trained
them (``hftjax.baselines.learned``, ``hftjax.baselines.ppo``), the equal-weight mix of the six sub-agents, and the best
single sub-agent, chosen on the validation split (no look-ahead). The single sub-agent chosen on the
evaluated split itself is reported apart as ``oracle_single_subagent``: an upper bound, not a
result."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from hftjax.baselines.iv import COLUMN, iv_actions, split_imbalance
from hftjax.baselines.macd import macd_actions
from hftjax.baselines.run import load_baselines
from hftjax.dataset import split_columns, split_table
from hftjax.diagnostics import agent_diagnostics, timing_percentile
from hftjax.env.core import observe_rows
from hftjax.env.simulate import simulate
from hftjax.hyper.artifacts import load_hyper, reading, training_status
from hftjax.io import atomic_dir, write_json, write_parquet
from hftjax.learner.loop import describe_stop
from hftjax.learner.dqn import greedy_rollout
from hftjax.metrics import (MINUTES_PER_YEAR, buy_and_hold_rewards, check_run, paper_metrics, standard_metrics,
                            step_returns, trading_activity)
from hftjax.paths import check_name
from hftjax.progress import stages
from hftjax.provenance import read_manifest
from hftjax.report import write_report
from hftjax.returns import write_returns
from hftjax.rundir import mark, marked, results_lock
from hftjax.software import software_provenance
from hftjax.strategies import strategies
from hftjax.subagent import AGENTS


def config_digest(run) -> str:
    """sha256 of everything that decided the result: the sub-agents', market and hyper-agent
    settings and the prepared dataset's digest."""
    settings = {"subagents": run.subagents.cfg.to_json(), "env": run.env.to_json(), "hyper": run.cfg.to_json(),
                "dataset_sha256": run.subagents.dataset_sha256}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _summary(per_seed: list[dict]) -> dict:
    keys = [k for k in per_seed[0] if k != "seed" and isinstance(per_seed[0][k], (int, float))]
    return {"mean": {k: float(np.mean([m[k] for m in per_seed])) for k in keys}, "per_seed": per_seed}


def evaluate(run_dir: str | Path, split: str = "test", *, progress: bool = True) -> dict:
    """Metrics of the hyper-agent in ``run_dir`` (a ``run`` directory or a ``train-hyper --out``
    one) on ``split``, written under ``run_dir/results``."""
    run_dir = Path(run_dir)
    check_name(split, "--split")  # joined into output paths
    with reading(run_dir):  # the agents and their data, shared with other readers
        state, run = load_hyper(run_dir)
        with results_lock(run_dir / "results"), stages(f"evaluate {split}", 6, enabled=progress) as advance:
            return _evaluate(run_dir, split, state, run, advance)


def _single_rollouts(run, split: str):
    market, tables = run.market(split)
    return jax.tree.map(np.asarray, mix_and_single_rollouts(run.setup, tables, market, run.evaluation_trading))


def _evaluate(run_dir: Path, split: str, state, run, advance) -> dict:
    advance("MacroHFT and its sub-agents")
    actions, rewards, acc = jax.tree.map(np.asarray, run.rollout(state.best_params, split))
    (eq_actions, eq_rewards, eq_acc), (one_actions, one_rewards, one_acc) = _single_rollouts(run, split)
    valid_rates = one_acc["return_rate"] if split == "valid" else _single_rollouts(run, "valid")[1][2]["return_rate"]
    seeds = run.cfg.seeds
    table = split_table(run.subagents.data_dir, split, ["timestamp", "close"])
    close = table["close"].to_numpy()
    env = run.env
    max_holding = float(run.evaluation_trading.max_holding)  # coins: max_holding, or from env.notional

    returns, seeded = {}, {}  # per strategy: (runs, T-1) step returns; the seeds of a seeded one

    def scored(key, actions, rewards, required, extras: list[dict]) -> list[dict]:
        """Per run (leading axis): ``extras`` and every metric, from one vmapped call."""
        for a, r, q in zip(actions, rewards, required):
            check_run(r, q, a)
        got = jax.tree.map(np.asarray, run_metrics(actions, rewards, np.asarray(required, np.float32), close,
                                                   env.fee, max_holding, env.levels))
        returns[key] = got.pop("returns")
        if "seed" in extras[0]:
            seeded[key] = [e["seed"] for e in extras]
        return [{**extra, **{k: int(v[i]) if k == "trades" else float(v[i]) for k, v in got.items()}}
                for i, extra in enumerate(extras)]

    by_seed = [{"seed": s} for s in seeds]
    series = {"macrohft": (actions, rewards), "equal_weight_mix": (eq_actions, eq_rewards)}
    period = [str(t) for t in (table["timestamp"][0], table["timestamp"][len(close) - 1])]
    metrics = {"split": split, "software": software_provenance(), "market": read_manifest(run.subagents.data_dir).get("market"),
               "config_sha256": config_digest(run), "rows": int(len(close)), "period": period,
               "max_holding": max_holding, "first_close": float(close[0]), "fee": env.fee,
               "macrohft": _summary(scored("macrohft", actions, rewards, acc["required_money"], by_seed)),
               "equal_weight_mix": _summary(scored("equal_weight_mix", eq_actions, eq_rewards, eq_acc["required_money"],
                                                   by_seed))}
    for key, rates in (("best_single_subagent", valid_rates), ("oracle_single_subagent", one_acc["return_rate"])):
        chosen = np.argmax(rates, axis=1)
        picked = tuple(x[np.arange(len(seeds)), chosen] for x in (one_actions, one_rewards, one_acc["required_money"]))
        metrics[key] = _summary(scored(key, *picked, [{"seed": s, "agent": AGENTS[j]} for s, j in zip(seeds, chosen)]))
        series[key] = picked[:2]

    def rule(key, rule_actions, rule_rewards=None, required=None):
        """A deterministic rule: its actions run through the env's accounting (``simulate``)."""
        if rule_rewards is None:
            done = simulate(close, rule_actions, fee=env.fee, max_holding=max_holding, levels=env.levels)
            rule_rewards, required = np.asarray(done["rewards"], np.float64), float(done["required_money"])
        metrics[key] = scored(key, rule_actions[None], rule_rewards[None], [required], [{}])[0]
        series[key] = (rule_actions[None], rule_rewards[None])

    advance("rules")
    rule("buy_and_hold", np.full(len(close) - 1, env.levels - 1, np.int32),
         *buy_and_hold_rewards(close, max_holding, env.fee))
    rule("macd", macd_actions(close, levels=env.levels))
    if COLUMN in split_columns(run.subagents.data_dir, split):  # the IV rule needs a book
        rule("iv", iv_actions(split_imbalance(run.subagents.data_dir, split), levels=env.levels))
    metrics["hyper_best_epoch"] = [int(e) for e in np.asarray(state.best_epoch)]
    metrics["training"] = training_status(run_dir, run.subagents.run_dir)
    advance("diagnostics and timing")
    market, tables = run.market(split)
    weights = [np.asarray(mixing_weights(run.setup, jax.tree.map(lambda x, i=i: x[i], state.best_params), market,
                                         jnp.asarray(actions[i]))) for i in range(len(seeds))]
    metrics["diagnostics"] = _summary([
        {"seed": s, "timing_percentile": timing_percentile(close, actions[i], fee=env.fee, max_holding=max_holding,
                                                           levels=env.levels, seed=s),
         **agent_diagnostics(tables[i], actions[i], weights[i], list(AGENTS))} for i, s in enumerate(seeds)])
    advance("learned baselines")
    for net, members, params in load_baselines(run.subagents.run_dir):
        market, _ = run.market(split)
        rollouts = learned_baseline_rollouts(net, params, market, run.evaluation_trading)
        b_actions, b_rewards, b_acc = jax.tree.map(np.asarray, rollouts)
        for algorithm in dict.fromkeys(m["agent"] for m in members):
            rows = [i for i, m in enumerate(members) if m["agent"] == algorithm]
            metrics[algorithm] = _summary(scored(algorithm, b_actions[rows], b_rewards[rows], b_acc["required_money"][rows],
                                                 [{"seed": members[i]["seed"]} for i in rows]))
            series[algorithm] = (b_actions[rows], b_rewards[rows])
    advance("metrics and positions")
    with atomic_dir(run_dir / "results", keep=True) as out:
        if not marked(out, "results"):  # a kept mark is the old folder's file too: never rewritten
            mark(out, "results")
        write_json(metrics, out / ("metrics.json" if split == "test" else f"metrics_{split}.json"))
        columns = {"timestamp": table["timestamp"].slice(0, len(close) - 1), "close": pa.array(close[:-1])}
        for i, s in enumerate(seeds):
            columns[f"position_seed{s}"] = pa.array(actions[i] * max_holding / (env.levels - 1))
            columns[f"reward_seed{s}"] = pa.array(rewards[i].astype(np.float64))
        write_parquet(pa.table(columns), out / f"{split}_positions.parquet")
        write_returns(out, split, table["timestamp"].combine_chunks(), {k: returns[k] for k, _ in strategies(metrics)},
                      seeded)
        advance("report and plots")
        labels = json.loads((run.subagents.data_dir / f"{split}_labels.json").read_text())
        times = table["timestamp"].combine_chunks().cast(pa.int64()).to_numpy().astype("datetime64[ms]")
        write_report(out, split, metrics, series, returns, times, close, labels, weights[0], run.setup.members,
                     env.levels)
    return metrics


@functools.partial(jax.jit, static_argnums=6)  # one compile per split length and run count
def run_metrics(actions, rewards, required, close, fee, max_holding, levels):
    """The paper's, the trading and the standard metrics of runs (leading axis), started flat."""
    def one(actions, rewards, required):
        return {**paper_metrics(rewards, required, actions, initial_action=0, minutes_per_year=MINUTES_PER_YEAR),
                **trading_activity(actions, close, fee=fee, max_holding=max_holding, levels=levels),
                **standard_metrics(rewards, required, MINUTES_PER_YEAR), "returns": step_returns(rewards, required)}
    return jax.vmap(one)(actions, rewards, required)


@functools.partial(jax.jit, static_argnums=0)
def learned_baseline_rollouts(net, params, market, trading):
    """Greedy whole-split runs of the learned baselines (params stacked over members)."""
    def one(p):
        return greedy_rollout(lambda obs: net.apply(p, obs.single, obs.trend, obs.prev_action), market, trading, net.levels)
    return jax.vmap(one)(params)


@functools.partial(jax.jit, static_argnums=0)
def mixing_weights(setup, params, market, actions):
    """(T-1, M) softmax weights the hyper-agent gave its members (``setup.members``) along a run of ``actions``."""
    rows = jnp.arange(actions.shape[0])
    obs = observe_rows(market, rows, jnp.concatenate([jnp.zeros(1, jnp.int32), actions[:-1]]))
    return setup.net.apply(params, obs.single, obs.trend, obs.context, obs.prev_action)[0]


@functools.partial(jax.jit, static_argnums=0)
def mix_and_single_rollouts(setup, tables, market, trading):
    """Per seed: the equal-weight mix of the six sub-agents, and each sub-agent alone."""
    def one(table):
        equal = greedy_rollout(lambda obs: table[obs.row, obs.prev_action].mean(axis=1), market, trading, setup.levels)
        singles = [greedy_rollout(lambda obs, i=i: table[obs.row, obs.prev_action, i], market, trading, setup.levels)
                   for i in range(table.shape[2])]
        return equal, jax.tree.map(lambda *x: jnp.stack(x), *singles)
    return jax.vmap(one)(tables)


def format_summary(metrics: dict) -> str:
    """The per-split table ``hftjax run`` and ``hftjax evaluate`` print."""
    width = max(len(label) for m in metrics.values() for _, label in strategies(m))
    lines = [f"{'split':<6} {'policy':<{width}} {'TR %':>8} {'ASR':>7} {'MDD %':>7} {'trades':>7} {'held %':>7}"]
    for split, m in metrics.items():
        for key, label in strategies(m):
            r = m[key].get("mean", m[key])
            lines.append(f"{split:<6} {label:<{width}} {100 * r['TR']:>8.2f} {r['ASR']:>7.2f} {100 * r['MDD']:>7.2f} "
                         f"{r['trades']:>7.0f} {100 * r['exposure']:>7.1f}")
    stops = {describe_stop(s): None for m in metrics.values() for s in m.get("training", {}).get("stopped", [])}
    return "\n".join([*lines, *stops])
