"""Choose a setting over walk-forward windows: each candidate against the current default, paired
by window, on validation, with the rule fixed before any result.

Each candidate is a finished walk-forward (``hftjax bench walk-forward --set KEY=VALUE --out DIR``)
over the same windows, scored on the hyper-agents' last epoch too (``hftjax bench levers --runs
DIR --levers "default (soft mix)" --epoch last``). Reported per candidate and split: MacroHFT's
mean ASR over windows (mean over seeds) on the epoch kept on validation and on the last epoch; the
candidate minus the default with a paired bootstrap 90% interval over windows; minus buy-and-hold;
trades per day; windows with a timing percentile of at least 80.

**Rule:** a candidate replaces the default when its last-epoch validation interval against the
default lies above 0 (the kept epoch's validation ASR is already a maximum over epochs); test
columns are reported, never used to choose.

    hftjax bench setting-choice --default 500=RUNS_500 --candidates 100=RUNS_100 2500=RUNS_2500 --name notional
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import record, table_name
from benchmarks.experiments.walk_forward import CONFIDENCE, paired_interval
from benchmarks.experiments.levers import LEVERS

DEFAULT_LEVER = next(iter(LEVERS))


def labelled(text: str) -> tuple[str, Path]:
    label, _, path = text.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=RUNS_DIR")
    return label, Path(path)


def window_scores(runs: Path) -> dict[tuple[str, str, str], dict]:
    """{(window, split, epoch): {asr, buy_and_hold, trades_per_day, timing, long_from_flat,
    stay_long}} of a walk-forward's run directories, on the kept epoch (the runs' metrics) and the
    last one (the levers cache). The last two are the sub-agents' own (mean over agents and
    seeds of each one's rate over the split's rows), whatever the hyper-agent's epoch: a sub-agent
    lever's effect on inertia."""
    scores = {}
    for window in sorted(p for p in runs.iterdir() if (p / "results" / "metrics.json").exists()):
        for split, file in (("valid", "metrics_valid.json"), ("test", "metrics.json")):
            metrics = json.loads((window / "results" / file).read_text())
            mean = metrics["macrohft"]["mean"]
            diagnostics = metrics["diagnostics"]["mean"]
            scores[window.name, split, "kept"] = {
                "asr": mean["ASR"], "buy_and_hold": metrics["buy_and_hold"]["ASR"],
                "trades_per_day": mean["trades"] * 1440 / metrics["rows"], "timing": diagnostics["timing_percentile"],
                **{rate: float(np.mean([v for k, v in diagnostics.items() if k.startswith(prefix)]))
                   for rate, prefix in (("long_from_flat", "long_from_flat_"), ("stay_long", "long_from_long_"))}}
    cache = runs / "levers_last_epoch.jsonl"
    for line in cache.read_text().splitlines() if cache.exists() else []:
        row = json.loads(line)
        if row["lever"] == DEFAULT_LEVER:
            kept = scores[row["window"], row["split"], "kept"]
            scores[row["window"], row["split"], "last"] = {
                **{k: row[k] for k in ("asr", "buy_and_hold", "trades_per_day", "timing")},
                "long_from_flat": kept["long_from_flat"], "stay_long": kept["stay_long"]}
    return scores


def interval(values) -> str:
    mean, low, high = paired_interval(values)
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def choice_rows(default: tuple[str, dict], candidates: list[tuple[str, dict]]) -> list[dict]:
    base_label, base = default
    rows = []
    for split in ("valid", "test"):
        for epoch in ("last", "kept"):
            for label, scores in [default, *candidates]:
                keys = sorted(k for k in scores if k[1:] == (split, epoch) and k in base)
                if not keys:
                    continue
                got = [scores[k] for k in keys]
                row = {"split": split, "epoch": epoch, "setting": label, "windows": len(keys),
                       "mean ASR": float(np.mean([g["asr"] for g in got])),
                       f"minus {base_label}": interval([scores[k]["asr"] - base[k]["asr"] for k in keys]),
                       "minus buy and hold": interval([g["asr"] - g["buy_and_hold"] for g in got]),
                       "trades per day": float(np.nanmean([g["trades_per_day"] for g in got])),
                       "timing >= 80": f"{sum(g['timing'] >= 80 for g in got)} of {len(got)}",
                       "sub-agents long from flat %": 100 * float(np.mean([g["long_from_flat"] for g in got])),
                       "sub-agents stay long %": 100 * float(np.mean([g["stay_long"] for g in got]))}
                if (split, epoch) == ("valid", "last"):
                    low = paired_interval([scores[k]["asr"] - base[k]["asr"] for k in keys])[1]
                    row["chosen (rule)"] = "default" if label == base_label else ("yes" if low > 0 else "no")
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default", type=labelled, required=True, metavar="LABEL=RUNS")
    parser.add_argument("--candidates", type=labelled, nargs="+", required=True, metavar="LABEL=RUNS")
    parser.add_argument("--name", type=table_name, required=True, help="the setting's name: table setting_choice_NAME")
    args = parser.parse_args()
    default = (args.default[0], window_scores(args.default[1]))
    candidates = [(label, window_scores(path)) for label, path in args.candidates]
    name = f"setting_choice_{args.name}"
    record(name, f"Choosing {args.name} on walk-forward validation windows: each value against {default[0]}, "
                 f"paired {CONFIDENCE:.0%} bootstrap intervals over windows",
           choice_rows(default, candidates))
    print(f"recorded {name} in benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
