"""Walk-forward: MacroHFT against its baselines over many time windows and coins, with intervals.

One split is not evidence. For BTC, ETH, DOT and LTC, every usable Binance spot file of that coin
in ``../shared/data`` (OHLCV with volume) is cut into windows of about ``WINDOW_DAYS`` (a file of
D days gives max(1, D // 30) equal windows); each window is train, then validation, then test
(70/15/15 by time, in that order), and the newest ``--windows`` windows of each coin are run with
``hftjax run`` (the demo preset, ``ohlcv`` features, the default position size, 3 seeds, the DQN
and DDQN baselines). Test windows of one coin never overlap, and each lies after its own train
and validation data.

Reported per window (mean over seeds) and aggregated per coin and over all windows: the test ASR
of MacroHFT, buy-and-hold, staying flat, MACD, the equal-weight mix, the validation-chosen single
sub-agent, DQN and DDQN; for each baseline the mean of MacroHFT's ASR minus the baseline's over
windows (paired: the same window) with a bootstrap 90% interval over windows; MacroHFT's timing
percentile (``hftjax.diagnostics``). Validation rows are recorded too: settings are chosen there.

    hftjax bench walk-forward [--quick] [--coins BTC ETH] [--windows 4] [--files NAME ...] [--set KEY=VALUE ...] [--name NAME]

``--quick``: one window of one coin, 1 seed, 1 epoch (a smoke run of the whole benchmark).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmarks.common import SHARED_DATA, record, table_name
from hftjax.pipeline import run_pipeline
from hftjax.progress import bar
from hftjax.run_config import load_run_config

COINS = ("BTC", "ETH", "DOT", "LTC")
WINDOW_DAYS = 30
DAY_MS = 86_400_000
FRACTIONS = (0.70, 0.15, 0.15)  # train, validation, test, in time order
BASELINES = {"buy_and_hold": "buy and hold", "flat": "flat", "macd": "MACD", "equal_weight_mix": "equal-weight mix",
             "best_single_subagent": "best single (valid-chosen)", "dqn": "DQN", "ddqn": "DDQN"}
CONFIDENCE = 0.90
RESAMPLES = 10_000


def coin_files(coin: str, root: Path = SHARED_DATA) -> list[Path]:
    """The coin's Binance spot files with a volume column that holds values, oldest first."""
    files = sorted(root.glob(f"binance_{coin}USDT_1m_*.parquet"))
    return [f for f in files if pq.read_table(f, columns=["volume"])["volume"].null_count == 0]


def windows_of(first_ms: int, end_ms: int, days: float = WINDOW_DAYS) -> list[dict]:
    """Equal windows of [first_ms, end_ms): max(1, D // days) of them, each split 70/15/15 into
    train, valid and test (UTC minutes; END exclusive)."""
    span = end_ms - first_ms
    count = max(1, int(span // (days * DAY_MS)))
    out = []
    for i in range(count):
        start, stop = first_ms + i * span // count, first_ms + (i + 1) * span // count
        cuts = [start + int(round(sum(FRACTIONS[:k]) * (stop - start) / 60_000)) * 60_000 for k in range(4)]
        cuts[-1] = stop
        out.append({name: (cuts[k], cuts[k + 1]) for k, name in enumerate(("train", "valid", "test"))})
    return out


def utc(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms"))[:16]


def coin_windows(coin: str, newest: int, root: Path = SHARED_DATA, names: list[str] | None = None) -> list[dict]:
    """The newest ``newest`` windows of a coin (of its files named in ``names``, when given):
    {file, train, valid, test}, oldest first."""
    found = []
    for path in coin_files(coin, root):
        if names and path.name not in names:
            continue
        ts = pq.read_table(path, columns=["timestamp"])["timestamp"].cast("int64").to_numpy()
        found += [{"file": path, **w} for w in windows_of(int(ts[0]), int(ts[-1]) + 60_000)]
    return found[-newest:]


def paired_interval(differences, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0):
    """(mean, low, high): the mean of per-window differences and its percentile bootstrap interval
    (windows resampled with replacement)."""
    x = np.asarray(differences, np.float64)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    means = x[np.random.default_rng(seed).integers(0, x.size, (resamples, x.size))].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    return float(x.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def window_scores(metrics: dict) -> dict:
    """{strategy: mean ASR over seeds} of one evaluated split, and MacroHFT's trades and timing."""
    scores = {"macrohft": metrics["macrohft"]["mean"]["ASR"], "flat": 0.0}
    for key in BASELINES:
        if key in metrics:
            entry = metrics[key]
            scores[key] = entry["mean"]["ASR"] if "mean" in entry else entry["ASR"]
    scores["macrohft_trades"] = metrics["macrohft"]["mean"]["trades"]
    scores["timing_percentile"] = metrics["diagnostics"]["mean"]["timing_percentile"]
    return scores


def config_for(window: dict, seeds: list[int], epochs: int, extra: list[str]):
    splits = [f"{name}={utc(a)}:{utc(b)}" for name, (a, b) in ((k, window[k]) for k in ("train", "valid", "test"))]
    return load_run_config("demo", overrides=[
        f"data.inputs={json.dumps([str(window['file'])])}", f"data.splits={json.dumps(splits)}",
        "data.features=ohlcv", 'baselines.algorithms=["dqn","ddqn"]',
        *[f"{section}.seeds={json.dumps(seeds)}" for section in ("subagents", "hyper")],
        *[f"{section}.epochs={epochs}" for section in ("subagents", "hyper")],
        'evaluation.splits=["valid","test"]', *extra])


def summary_rows(per_window: list[dict], split: str) -> list[dict]:
    """Per coin and over all windows: mean ASR of each strategy, and MacroHFT minus each baseline
    with its paired bootstrap interval."""
    rows = []
    for coin in [*dict.fromkeys(w["coin"] for w in per_window), "all"]:
        chosen = [w for w in per_window if w["split"] == split and coin in (w["coin"], "all")]
        if not chosen:
            continue
        row = {"coin": coin, "split": split, "windows": len(chosen),
               "MacroHFT ASR": float(np.mean([w["macrohft"] for w in chosen])),
               "timing percentile >= 80": f"{sum(w['timing_percentile'] >= 80 for w in chosen)} of {len(chosen)}"}
        for key, label in BASELINES.items():
            paired = [w["macrohft"] - w[key] for w in chosen if key in w]
            if paired:
                mean, low, high = paired_interval(paired)
                row[f"minus {label}"] = f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one window of one coin, 1 seed, 1 epoch")
    parser.add_argument("--coins", nargs="+", default=list(COINS), choices=COINS)
    parser.add_argument("--windows", type=int, default=4, help="newest windows per coin (default 4)")
    parser.add_argument("--files", nargs="+", metavar="NAME",
                        help="use only these files of ../shared/data (e.g. every coin over the same months)")
    parser.add_argument("--out", type=Path, help="where the run directories go (default: a temporary one)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="run config overrides (a lever)")
    parser.add_argument("--name", type=table_name, help="suffix of the recorded tables (walk_forward_NAME)")
    args = parser.parse_args()
    coins, count, seeds, epochs = ((args.coins[:1], 1, [0], 1) if args.quick else (args.coins, args.windows, [0, 1, 2], 3))
    windows = [{"coin": c, **w} for c in coins for w in coin_windows(c, count, names=args.files)]
    if not windows:
        raise SystemExit(f"no usable files for {coins} under {SHARED_DATA}")
    work = args.out or Path(tempfile.mkdtemp(prefix="hftjax-walk-forward-"))
    name = "_".join(["walk_forward", *(["quick"] if args.quick else []), *([args.name] if args.name else [])])
    per_window, start = [], time.perf_counter()
    for i, w in enumerate(bar(windows, desc="windows", unit="window")):
        t0 = time.perf_counter()
        metrics = run_pipeline(work / f"{w['coin']}-{i}", config_for(w, seeds, epochs, args.set), progress=False)
        for split in ("valid", "test"):
            per_window.append({"coin": w["coin"], "window": f"{utc(w[split][0])} to {utc(w[split][1])}",
                               "split": split, "file": w["file"].name, **window_scores(metrics[split]),
                               "wall s": round(time.perf_counter() - t0)})
        print(per_window[-1], flush=True)
        # recorded after every window: an interrupted run keeps what it measured, and says how much
        budget = (f"{i + 1} of {len(windows)} windows done; {len(seeds)} seed(s), {epochs} epoch(s) per learner, demo "
                  f"preset, ohlcv features, default position size; overrides: {' '.join(args.set) or 'none'}; wall "
                  f"{time.perf_counter() - start:.0f} s")
        record(f"{name}_windows", "Walk-forward: ASR per window (mean over seeds)", [*per_window, {"coin": budget}])
        summary = summary_rows(per_window, "valid") + summary_rows(per_window, "test")
        record(name, f"Walk-forward: MacroHFT minus each baseline, mean ASR over windows with a paired bootstrap "
                     f"{CONFIDENCE:.0%} interval", [*summary, {"coin": budget}])
    print(f"recorded {name} and {name}_windows in benchmarks/RESULTS.md")

if __name__ == "__main__":
    main()
