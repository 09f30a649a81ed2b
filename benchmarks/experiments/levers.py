"""Levers against inertia, measured on the walk-forward's validation windows.

On BTC and ETH the sub-agents learned to keep whatever position they hold, so the hyper-agent's
mix has little leverage (issue 20). Each lever below is a hyper-agent option; this script measures
each on every window of a finished walk-forward (``hftjax bench walk-forward --out RUNS``):

- acting levers, on the trained hyper-agents as they are: hard routing (``routing=hard``), a
  decision interval (``decision_interval=k``), a majority vote over seeds (``seed_vote=true``);
- training levers, with the hyper-agent retrained over the same sub-agents into
  ``RUNS/<window>/lever-<name>``: constant flat and long experts in the mixture
  (``constant_experts=true``), alone and with the acting levers.

Reported per lever, over windows: the mean validation ASR (mean over seeds), MacroHFT-with-the-
lever minus the default with a paired bootstrap 90% interval over windows, minus buy-and-hold
and minus the equal-weight mix, trades per day and how many windows have a timing percentile of at
least 80; then the same on test. **Rule, fixed before any result:** a lever is kept when its
validation interval against the default lies above 0; otherwise the default stays. Test columns
are reported, never used to choose. Apply the rule to the ``--epoch last`` table: on the kept
epoch, validation has already chosen the epoch, so it would be used twice.

    hftjax bench levers --runs RUNS [--epoch best|last] [--windows BTC-8 ...] [--levers ...] [--name NAME]

``--epoch last`` scores the hyper-agents' last epoch instead of the one kept on validation: the
kept epoch's validation ASR is a maximum over epochs, biased upward, and more for a lever that
makes epochs differ more, so choosing a lever on it uses validation twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
from pathlib import Path

import jax
import numpy as np
import pyarrow.parquet as pq

from benchmarks.common import record, table_name
from benchmarks.experiments.walk_forward import CONFIDENCE, DAY_MS, paired_interval
from hftjax.diagnostics import timing_percentile
from hftjax.hyper.artifacts import load_hyper
from hftjax.hyper.run import train_hyper
from hftjax.metrics import paper_metrics
from hftjax.progress import bar

DAY_ROWS = DAY_MS // 60_000
# name: (hyper options to retrain with, or None for the trained hyper-agent; acting options)
LEVERS = {
    "default (soft mix)": (None, {}),
    "hard routing": (None, {"routing": "hard"}),
    "decision interval 5": (None, {"decision_interval": 5}),
    "decision interval 15": (None, {"decision_interval": 15}),
    "decision interval 60": (None, {"decision_interval": 60}),
    "seed vote": (None, {"seed_vote": True}),
    "constant experts": ({"constant_experts": True}, {}),
    "constant experts + hard routing": ({"constant_experts": True}, {"routing": "hard"}),
    "constant experts + seed vote": ({"constant_experts": True}, {"seed_vote": True}),
}


def trained(window: Path, options: dict | None):
    """(state, HyperTrainer) of the window's hyper-agent, or of one retrained with ``options``
    (trained once, then reused)."""
    if options is None:
        return load_hyper(window)
    out = window / ("lever-" + "-".join(f"{k}={v}" for k, v in sorted(options.items())))
    if not (out / "hyper.json").exists():
        _, base = load_hyper(window)
        train_hyper(window, dataclasses.replace(base.cfg, **options), out=out, progress=False)
    return load_hyper(out)


@functools.cache
def split_close(path: Path) -> np.ndarray:
    """A split's closes, read once for every lever scored on it."""
    return pq.read_table(path, columns=["close"])["close"].to_numpy()


def scores(run, state, split: str, epoch: str) -> dict:
    """Mean over seeds: ASR, trades per day, timing percentile; of the epoch kept on validation
    (``best``) or of the last one (``last``)."""
    params = state.best_params if epoch == "best" else state.params
    actions, rewards, acc = jax.tree.map(np.asarray, run.rollout(params, split))
    close = split_close(run.subagents.data_dir / f"{split}.parquet")
    trading = run.evaluation_trading
    asr = [float(paper_metrics(r, q)["ASR"]) for r, q in zip(rewards, acc["required_money"])]
    trades = np.sum(np.diff(actions, axis=1, prepend=0) != 0, axis=1)
    timing = [timing_percentile(close, a, fee=run.env.fee, max_holding=float(trading.max_holding),
                                levels=run.env.levels, seed=s) for a, s in zip(actions, run.cfg.seeds)]
    return {"asr": float(np.mean(asr)), "trades_per_day": float(np.mean(trades)) * DAY_ROWS / len(close),
            "timing": float(np.mean(timing))}


def baseline_asr(window: Path, split: str) -> dict:
    metrics = json.loads((window / "results" / ("metrics.json" if split == "test" else f"metrics_{split}.json")).read_text())
    return {key: metrics[key].get("mean", metrics[key])["ASR"] for key in ("buy_and_hold", "equal_weight_mix")}


def interval(values) -> str:
    mean, low, high = paired_interval(values)
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def summary(per_window: list[dict]) -> list[dict]:
    rows = []
    for split in ("valid", "test"):
        default = {w["window"]: w["asr"] for w in per_window if w["split"] == split and w["lever"] == next(iter(LEVERS))}
        for lever in LEVERS:
            got = [w for w in per_window if w["split"] == split and w["lever"] == lever]
            if not got:
                continue
            row = {"split": split, "lever": lever, "windows": len(got), "mean ASR": float(np.mean([w["asr"] for w in got])),
                   "minus default": interval([w["asr"] - default[w["window"]] for w in got]),
                   "minus buy and hold": interval([w["asr"] - w["buy_and_hold"] for w in got]),
                   "minus equal mix": interval([w["asr"] - w["equal_weight_mix"] for w in got]),
                   "trades per day": float(np.mean([w["trades_per_day"] for w in got])),
                   "timing >= 80": f"{sum(w['timing'] >= 80 for w in got)} of {len(got)}"}
            if split == "valid":
                low = paired_interval([w["asr"] - default[w["window"]] for w in got])[1]
                row["kept (valid rule)"] = "default" if lever == next(iter(LEVERS)) else ("yes" if low > 0 else "no")
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, required=True, help="a walk-forward's --out (one run directory per window)")
    parser.add_argument("--windows", nargs="+", help="window directories to use (default: every one)")
    parser.add_argument("--levers", nargs="+", choices=list(LEVERS), default=list(LEVERS))
    parser.add_argument("--epoch", choices=["best", "last"], default="best",
                        help="the hyper-agent's epoch kept on validation (default), or its last one: validation "
                             "scores that no epoch selection has maximised, so they compare levers without that bias")
    parser.add_argument("--name", type=table_name, help="suffix of the recorded table (levers_NAME)")
    args = parser.parse_args()
    windows = sorted(p for p in args.runs.iterdir() if (p / "hyper.json").exists() and (not args.windows or p.name in args.windows))
    if not windows:
        raise SystemExit(f"no trained run directories under {args.runs}")
    name = "_".join(["levers", *(["last_epoch"] if args.epoch == "last" else []), *([args.name] if args.name else [])])
    # every measurement is appended to RUNS/levers[_last_epoch].jsonl: a rerun (more levers, an interruption) reuses them
    cache = args.runs / ("levers.jsonl" if args.epoch == "best" else "levers_last_epoch.jsonl")
    per_window = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
    start = time.perf_counter()
    for i, window in enumerate(bar(windows, desc="windows", unit="window")):
        for lever in args.levers:
            if any(w["window"] == window.name and w["lever"] == lever for w in per_window):
                continue
            retrain, acting = LEVERS[lever]
            state, run = trained(window, retrain)
            run = run.acting(**acting)
            for split in ("valid", "test"):
                per_window.append({"window": window.name, "lever": lever, "split": split,
                                   **scores(run, state, split, args.epoch), **baseline_asr(window, split)})
                with cache.open("a") as f:
                    f.write(json.dumps(per_window[-1]) + "\n")
        done = (f"{i + 1} of {len(windows)} windows; {CONFIDENCE:.0%} paired bootstrap intervals over "
                f"windows; wall {time.perf_counter() - start:.0f} s")
        measured = [w for w in per_window if w["window"] in {p.name for p in windows}]
        record(name, "Levers against inertia: mean ASR over walk-forward windows, each lever against the default"
                     + (" (the hyper-agents' last epoch: no selection on validation)" if args.epoch == "last" else ""),
               [*summary(measured), {"split": done}])
    print(f"recorded {name} in benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
