"""Lab: MacroHFT against its baselines on synthetic markets where timing pays by construction.

The embedded synthetic market (``hftjax.synth``) has trend regimes that persist, so a policy that
times them earns more than holding, and no real-data noise hides whether a learner takes that edge.
``--markets`` N markets (generator seeds 0 to N-1, ``data.synthetic_seed``; default 8; seed 0 is
the demo's own market), each of the demo's size (60,000 minutes) split 70/15/15 into train,
validation and test in time order, are each one ``hftjax run`` of the shipped defaults (the demo
preset) with 2 seeds and the DQN and DDQN baselines, into ``--out``/market-<seed>.

Scored per market on validation and test (mean over seeds): MacroHFT, buy-and-hold, flat, MACD,
the equal-weight mix, the validation-chosen single sub-agent, DQN and DDQN (the run's metrics), and
two baselines computed here from the split's closes and the run's prepared features, run through
the env's accounting (``hftjax.env.simulate``) and evaluate's metrics (``run_metrics``) at the
run's fee and position size, so every ASR compares; their settings are chosen on validation:

- momentum (``hftjax.baselines.momentum``): long while the trailing L-minute return is > 0, L in
  ``LOOKBACKS``; flat over a split's first L minutes;
- ridge (``hftjax.baselines.ridge``): a model of the ``HORIZON``-minute forward log return on
  every prepared feature column, fit on train; alpha in ``ALPHAS``, long above a quantile
  (``QUANTILES``) of its predictions on train.

Per market also MacroHFT's trades and timing percentile, the two rules' timing
(``hftjax.diagnostics.timing_percentile``) and the inertia diagnostics: how often the hyper-agent's
action differs from the equal mix's, how often the sub-agents agree, and the sub-agents' rates of
going long from flat and of staying long (mean over agents). Summary per split: each strategy's
mean ASR over markets, MacroHFT minus it with a paired bootstrap 90% interval over markets
(``walk_forward.paired_interval``), and in how many markets each timing percentile is >= 80.

Budget, measured on this project's 2-core CPU shared with other jobs (load average 2 to 5): the
first demo-size market with 2 seeds and DQN/DDQN took 302 s (sub-agents 156 s, DQN and DDQN 31 s,
hyper-agent 78 s, evaluation 30 s, the two rules here about 10 s), and later markets reuse its
compiled programs, so 8 markets take at most about 8 x 302 s = 40 minutes at that load and about
half on an idle machine (the README's factor of two): within the lab's 45 minutes. With 3 seeds
one market took 490 s (65 minutes for 8), hence 2. A resumed run evaluates each finished market
again (about 30 s each).

    hftjax bench lab [--quick] [--markets 8] [--out DIR] [--set KEY=VALUE ...] [--name NAME]

``--out`` defaults to ``runs/bench-<table>`` (``runs/bench-lab``), so the same command run again,
in this session or the next, goes on market by market: a finished market's run is reused (and
evaluated again), and the tables are recorded after every market. ``--set`` changes the run config
(a lever), so it needs ``--name`` or ``--out``: the default folder holds the shipped defaults' runs.
``--quick``: 2 markets of the smoke preset's size, 1 seed, 1 epoch (a smoke run of the whole lab).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import record, table_name
from benchmarks.experiments.walk_forward import BASELINES, CONFIDENCE, paired_interval, window_scores
from hftjax.baselines.momentum import momentum_actions
from hftjax.baselines.ridge import fit_ridge, forward_returns, predict, threshold_actions
from hftjax.dataset import split_table
from hftjax.diagnostics import timing_percentile
from hftjax.env.simulate import simulate
from hftjax.evaluate import run_metrics
from hftjax.pipeline import run_pipeline
from hftjax.progress import bar
from hftjax.run_config import RunConfig, load_run_config

MARKETS = 8
SEEDS = (0, 1)  # 3 would not fit the 45 minutes (module docstring)
SPLITS = ("valid", "test")
LOOKBACKS = (60, 240, 720, 1440)          # momentum's trailing return, minutes
HORIZON = 240                             # ridge's forward return, minutes
ALPHAS = (1.0, 100.0, 10_000.0)           # ridge penalties, on standardised columns of ~40,000 rows
QUANTILES = (0.0, 0.25, 0.5, 0.75)        # long above this quantile of the train predictions (0: nearly always)
STRATEGIES = {**BASELINES, "momentum": "momentum (valid-chosen L)", "ridge": "ridge (valid-chosen)"}
TIMING = {"macrohft": "timing_percentile", "momentum": "momentum_timing", "ridge": "ridge_timing"}


def config_for(seed: int, quick: bool, extra: list[str]) -> RunConfig:
    """The run config of market ``seed``: the shipped defaults (smoke-sized when ``quick``)."""
    preset, seeds = ("smoke", [0]) if quick else ("demo", list(SEEDS))
    return load_run_config(preset, overrides=[
        f"data.synthetic_seed={seed}", 'baselines.algorithms=["dqn","ddqn"]',
        *[f"{section}.seeds={json.dumps(seeds)}" for section in ("subagents", "hyper")],
        'evaluation.splits=["valid","test"]', *extra])


def scores(close, actions, *, fee: float, max_holding: float, levels: int) -> dict[str, np.ndarray]:
    """{"ASR", "trades"} (B,) of action series (B, T-1) on ``close`` (T,): the env's accounting and
    evaluate's metrics, started flat, so they compare with the run's metrics.json."""
    actions = np.asarray(actions, np.int32)
    done = simulate(close, actions, fee=fee, max_holding=max_holding, levels=levels)
    got = run_metrics(actions, done["rewards"], done["required_money"], np.asarray(close, np.float32), fee,
                      max_holding, levels)
    return {"ASR": np.asarray(got["ASR"], np.float64), "trades": np.asarray(got["trades"], np.int64)}


def prepared_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(close (T,), features (T, F)) of a prepared split: every feature column, as prepare wrote it."""
    table = split_table(data_dir, split)
    columns = json.loads(table.schema.metadata[b"hftjax"])["columns"]
    names = list(dict.fromkeys(name for block in columns.values() for name in block))
    return table["close"].to_numpy(), np.column_stack([table[name].to_numpy() for name in names])


def lab_rules(data_dir: Path, *, fee: float, max_holding: float, levels: int) -> tuple[dict, dict]:
    """({split: {momentum, momentum_trades, momentum_timing, ridge, ...}} on valid and test, and
    the settings chosen on valid) of a prepared dataset."""
    close, features = {}, {}
    for split in ("train", *SPLITS):
        close[split], features[split] = prepared_split(data_dir, split)

    def asr(split, batch):
        return scores(close[split], batch, fee=fee, max_holding=max_holding, levels=levels)["ASR"]

    def momentum(split, lookback):
        return momentum_actions(close[split], lookback, levels=levels)

    lookback = LOOKBACKS[int(np.argmax(asr("valid", [momentum("valid", n) for n in LOOKBACKS])))]
    target = forward_returns(close["train"], HORIZON)
    fitted = features["train"][:target.size]
    candidates = []  # (alpha, quantile, model, threshold)
    for alpha in ALPHAS:
        model = fit_ridge(fitted, target, alpha)
        in_sample = predict(model, fitted)
        candidates += [(alpha, q, model, float(np.quantile(in_sample, q))) for q in QUANTILES]

    def ridge(split, model, threshold):
        return threshold_actions(predict(model, features[split][:-1]), threshold, levels=levels)  # row t decides step t

    best = int(np.argmax(asr("valid", [ridge("valid", m, th) for _, _, m, th in candidates])))
    alpha, quantile, model, threshold = candidates[best]
    out = {}
    for split in SPLITS:
        out[split] = {}
        for key, actions in (("momentum", momentum(split, lookback)), ("ridge", ridge(split, model, threshold))):
            got = scores(close[split], actions[None], fee=fee, max_holding=max_holding, levels=levels)
            out[split] |= {key: float(got["ASR"][0]), f"{key}_trades": int(got["trades"][0]),
                           TIMING[key]: timing_percentile(close[split], actions, fee=fee, max_holding=max_holding,
                                                          levels=levels)}
    return out, {"momentum L": lookback, "ridge alpha": alpha, "ridge quantile": quantile}


def inertia(diagnostics: dict) -> dict:
    """The hyper-agent's leverage and the sub-agents' inertia (%), from metrics.json's diagnostics."""
    mean = lambda prefix: 100 * float(np.mean([v for k, v in diagnostics.items() if k.startswith(prefix)]))  # noqa: E731
    return {"differs from equal mix %": 100 * diagnostics["differs_from_equal_mix"],
            "sub-agents agree %": 100 * diagnostics["subagents_agree"],
            "sub-agents long from flat %": mean("long_from_flat_"), "sub-agents stay long %": mean("long_from_long_")}


def market_rows(seed: int, metrics: dict, rules: dict, settings: dict) -> list[dict]:
    """One row per split of a market: every strategy's ASR, MacroHFT's trades and timing, the
    rules' timing, the inertia diagnostics and the settings chosen on validation."""
    return [{"market": seed, "split": split, **window_scores(metrics[split]), **rules[split],
             **inertia(metrics[split]["diagnostics"]["mean"]), **settings} for split in SPLITS]


def summary_rows(per_market: list[dict], split: str) -> list[dict]:
    """Over the markets of ``split``: each strategy's mean ASR, MacroHFT minus it (paired by
    market) with its bootstrap interval, and how often each timing percentile is >= 80."""
    chosen = [r for r in per_market if r["split"] == split]
    if not chosen:
        return []
    rows = []
    for key, label in {"macrohft": "MacroHFT", **STRATEGIES}.items():
        have = [r for r in chosen if key in r]
        if not have:
            continue
        row = {"split": split, "strategy": label, "markets": len(have), "mean ASR": float(np.mean([r[key] for r in have]))}
        if key != "macrohft":
            differences = [r["macrohft"] - r[key] for r in have]
            mean, low, high = paired_interval(differences)
            row |= {"MacroHFT minus it": f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]",
                    "MacroHFT above in": f"{sum(d > 0 for d in differences)} of {len(have)}"}
        if key in TIMING:
            row["timing percentile >= 80"] = f"{sum(r[TIMING[key]] >= 80 for r in have)} of {len(have)}"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 smoke-sized markets, 1 seed, 1 epoch")
    parser.add_argument("--markets", type=int, default=MARKETS, help=f"generator seeds 0 to N-1 (default {MARKETS})")
    parser.add_argument("--out", type=Path, help="where the run directories go (default: runs/bench-<table>)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="run config overrides (a lever)")
    parser.add_argument("--name", type=table_name, help="suffix of the recorded tables (lab_NAME)")
    args = parser.parse_args()
    if args.markets < 1:
        parser.error(f"--markets must be >= 1, got {args.markets}")
    if args.set and not (args.name or args.out):
        parser.error("--set needs --name or --out: the default folder holds the shipped defaults' runs")
    markets = list(range(2 if args.quick else args.markets))
    name = "_".join(["lab", *(["quick"] if args.quick else []), *([args.name] if args.name else [])])
    work = args.out or Path("runs") / f"bench-{name}"
    per_market, start = [], time.perf_counter()
    for i, seed in enumerate(bar(markets, desc="markets", unit="market")):
        t0 = time.perf_counter()
        config = config_for(seed, args.quick, args.set)
        run_dir = work / f"market-{seed}"
        metrics = run_pipeline(run_dir, config, progress=False)
        rules, settings = lab_rules(run_dir / "data", fee=metrics["test"]["fee"],
                                    max_holding=metrics["test"]["max_holding"], levels=config.env.levels)
        per_market += [{**row, "wall s": round(time.perf_counter() - t0)}
                       for row in market_rows(seed, metrics, rules, settings)]
        print(per_market[-1], flush=True)
        # recorded after every market: an interrupted run keeps what it measured, and says how much
        budget = (f"{i + 1} of {len(markets)} markets done; {len(config.subagents.seeds)} seed(s), "
                  f"{config.subagents.epochs}/{config.hyper.epochs} sub-agent/hyper epochs, "
                  f"{config.data.synthetic_rows} minutes per market; overrides: {' '.join(args.set) or 'none'}; "
                  f"runs in {work}; wall {time.perf_counter() - start:.0f} s")
        record(f"{name}_markets", "Lab: ASR per synthetic market (mean over seeds)", [*per_market, {"market": budget}])
        summary = summary_rows(per_market, "valid") + summary_rows(per_market, "test")
        record(name, f"Lab: mean ASR over synthetic markets, MacroHFT minus each baseline with a paired bootstrap "
                     f"{CONFIDENCE:.0%} interval", [*summary, {"split": budget}])
    print(f"recorded {name} and {name}_markets")


if __name__ == "__main__":
    main()
