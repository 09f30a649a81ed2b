"""MacroHFT against every baseline on real 1-minute Binance data (``../shared/data``), 4 markets.

For BTC, ETH, DOT and LTC (spring 2021, OHLCV only, so the ``ohlcv`` feature set), with train,
valid and test splits in time order and no overlap (below), 3 seeds: ``hftjax run`` with the
``demo`` learner budget (3 epochs, 720-row chunks), the market's max_holding, and the learned
baselines. Every strategy is reported on the test split as mean ± std over seeds, whatever it
shows, with the splits, budgets and wall time, in ``benchmarks/RESULTS.md``.

    python -m benchmarks.experiments.real_markets [--quick] [--markets BTC ETH] [--out DIR] [--set KEY=VALUE ...] [--name NAME]

``--quick``: 1 seed and 1 epoch (a smoke run of the whole experiment). ``--set`` adds run config
overrides (an ablation, e.g. ``data.normalize=zscore``), recorded as ``real_markets_NAME``. Both
the validation and the test split are reported: settings are chosen on validation only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import SHARED_DATA, record, table_name
from hftjax.env.params import MAX_HOLDING
from hftjax.pipeline import run_pipeline
from hftjax.progress import bar
from hftjax.strategies import strategies
from hftjax.run_config import load_run_config

SPRING = ("train=2021-04-02:2021-05-15", "valid=2021-05-15:2021-05-31", "test=2021-05-31:2021-06-16")
MARKETS = {
    "BTC": ("binance_BTCUSDT_1m_2021-04-02_2021-05-20.parquet",
            ("train=2021-04-02:2021-05-01", "valid=2021-05-01:2021-05-10", "test=2021-05-10:2021-05-21")),
    "ETH": ("binance_ETHUSDT_1m_2021-04-02_2021-06-15.parquet", SPRING),
    "DOT": ("binance_DOTUSDT_1m_2021-04-02_2021-06-15.parquet", SPRING),
    "LTC": ("binance_LTCUSDT_1m_2021-04-02_2021-06-15.parquet", SPRING),
}


def market_config(market: str, seeds: list[int], epochs: int, extra: list[str] = ()):
    file, splits = MARKETS[market]
    return load_run_config("demo", overrides=[
        f"data.inputs={json.dumps([str(SHARED_DATA / file)])}", f"data.splits={json.dumps(list(splits))}",
        "data.features=ohlcv", f"env.max_holding={MAX_HOLDING[market]}",
        *[f"{section}.seeds={json.dumps(seeds)}" for section in ("subagents", "hyper")],
        *[f"{section}.epochs={epochs}" for section in ("subagents", "hyper")],
        *[f"{section}.epsilon_decay_epochs={max(epochs - 1, 1)}" for section in ("subagents", "hyper")],
        "evaluation.splits=[\"valid\",\"test\"]", *extra])


def mean_std(values, scale: float = 1.0) -> str:
    x = scale * np.asarray(values, np.float64)
    return f"{x.mean():.2f} ± {x.std():.2f}" if len(x) > 1 else f"{x.mean():.2f}"


def rows_of(market: str, split: str, metrics: dict, wall: float) -> list[dict]:
    out = []
    for key, label in strategies(metrics):
        entry = metrics[key]
        values = entry["per_seed"] if "per_seed" in entry else [entry]
        out.append({"market": market, "split": split, "strategy": label, "seeds": len(values),
                    "TR %": mean_std([v["TR"] for v in values], 100),
                    "ASR": mean_std([v["ASR"] for v in values]),
                    "MDD %": float(100 * np.mean([v["MDD"] for v in values])),
                    "trades": float(np.mean([v["trades"] for v in values])),
                    "exposure %": float(100 * np.mean([v["exposure"] for v in values])),
                    "wall s": round(wall)})
    return out


def training_budget(run_dir: Path) -> list[dict]:
    """Per learner family of a finished run: epochs, env steps and gradient updates per member
    (mean over members), read from its logs and labels."""
    labels = json.loads((run_dir / "data" / "train_labels.json").read_text())
    steps = labels["chunk_len"] - 1
    whole = sum(len(v) for v in labels["slope"]["chunks"].values())  # chunks without a gap
    rows_train = json.loads((run_dir / "data" / "manifest.json").read_text())["splits"]["train"]["rows"]
    config = json.loads((run_dir / "config.json").read_text())
    out = []
    for name, family in (("subagents", "sub-agents"), ("baselines", "DQN, DDQN, CDQNRP"), ("ppo", "PPO"),
                         ("hyper", "hyper-agent")):
        log = run_dir / f"{name}_log.jsonl"
        if not log.exists():
            continue
        lines = [json.loads(x) for x in log.read_text().splitlines()]
        members = {tuple((k, v) for k, v in x.items() if k in ("agent", "seed")) for x in lines}
        epochs = 1 + max(x["epoch"] for x in lines)
        if name == "subagents":
            per_epoch = np.mean([len(labels[a.split("_")[0]]["chunks"][a.split("_")[1]]) for a in
                                 {dict(m)["agent"] for m in members}]) * steps
        elif name == "hyper":
            per_epoch = rows_train - 1
        else:
            per_epoch = whole * steps * (config["baselines"]["ppo_passes"] if name == "ppo" else 1)
        out.append({"learner": family, "members": len(members), "epochs": epochs,
                    "env steps / member": int(epochs * per_epoch),
                    "updates / member": float(sum(x["updates"] for x in lines) / len(members))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch")
    parser.add_argument("--markets", nargs="+", default=list(MARKETS), choices=list(MARKETS))
    parser.add_argument("--out", type=Path, help="where the run directories go (default: a temporary one)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="run config overrides (an ablation)")
    parser.add_argument("--name", type=table_name, help="suffix of the recorded table (real_markets_NAME), for an ablation")
    parser.add_argument("--budgets", type=Path, metavar="DIR",
                        help="only record the training budgets of the finished runs in DIR (real_markets_budgets)")
    args = parser.parse_args()
    if args.budgets is not None:
        rows = [{"market": m, **b} for m in args.markets if (args.budgets / m / "config.json").exists()
                for b in training_budget(args.budgets / m)]
        print(record("real_markets_budgets", f"Real markets: training budget per learner ({Path(args.budgets).name})", rows))
        return
    missing = [m for m in args.markets if not (SHARED_DATA / MARKETS[m][0]).exists()]
    if missing:
        raise SystemExit(f"real data not available for {missing} under {SHARED_DATA}")
    seeds, epochs = ([0], 1) if args.quick else ([0, 1, 2], 3)
    work = args.out or Path(tempfile.mkdtemp(prefix="hftjax-real-"))
    rows, start = [], time.perf_counter()
    for market in bar(args.markets, desc="markets", unit="market"):
        t0 = time.perf_counter()
        metrics = run_pipeline(work / market, market_config(market, seeds, epochs, args.set), progress=False)
        for split in ("valid", "test"):
            rows += rows_of(market, split, metrics[split], time.perf_counter() - t0)
        print(*rows[-len(strategies(metrics["test"])):], sep="\n", flush=True)
    budget = (f"{len(seeds)} seed(s); sub-agents, baselines and hyper-agent {epochs} epoch(s) each (demo preset "
              f"learner: batch 256, 720-row chunks, ohlcv features); splits: "
              + "; ".join(f"{m} {' '.join(MARKETS[m][1])}" for m in args.markets)
              + f"; overrides: {' '.join(args.set) or 'none'}; total wall {time.perf_counter() - start:.0f} s")
    rows.append({"market": budget})
    name = "_".join(["real_markets", *(["quick"] if args.quick else []), *([args.name] if args.name else [])])
    title = "Real markets (Binance spring 2021): MacroHFT and every baseline, validation and test splits"
    print(record(name, title + (f" ({' '.join(args.set)})" if args.set else ""), rows))


if __name__ == "__main__":
    main()
