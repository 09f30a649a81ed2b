"""The learning-quality ablation on the synthetic default: ``hftjax run`` (demo preset, 3 seeds)
once per variant, each a list of run config overrides switched on over the demo, reported on the
validation and the test split (settings are chosen on validation only) for MacroHFT, the
equal-weight mix, the validation-chosen single sub-agent and buy-and-hold.

    python -m benchmarks.ablations [--variants NAME ...] [--out DIR]   (existing run dirs are reused)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import record
from benchmarks.real_markets import mean_std
from hftjax.pipeline import run_pipeline
from hftjax.run_config import load_run_config

VARIANTS = {
    "reference inputs (normalize=none)": ["data.normalize=none"],
    "normalize=zscore": ["data.normalize=zscore"],
    "normalize=zscore, learn_notional=100": ["data.normalize=zscore", "env.learn_notional=100"],
    "learn_notional=100": ["data.normalize=none", "env.learn_notional=100"],
}
SHOWN = (("macrohft", "MacroHFT"), ("equal_weight_mix", "equal-weight mix"),
         ("best_single_subagent", "best single (valid-chosen)"), ("buy_and_hold", "buy and hold"))


def rows_of(variant: str, metrics: dict, wall: float) -> list[dict]:
    out = []
    for split in ("valid", "test"):
        for key, label in SHOWN:
            entry = metrics[split][key]
            values = entry.get("per_seed", [entry])
            out.append({"variant": variant, "split": split, "strategy": label,
                        "TR %": mean_std([v["TR"] for v in values], 100), "ASR": mean_std([v["ASR"] for v in values]),
                        "trades": mean_std([v["trades"] for v in values]),
                        "held %": mean_std([v["exposure"] for v in values], 100), "wall s": round(wall)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, help="where the run directories go (default: a temporary one)")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="hftjax-ablations-"))
    rows = []
    for i, variant in enumerate(args.variants):
        seeds = [f"{s}.seeds=[0,1,2]" for s in ("subagents", "hyper")]
        t0 = time.perf_counter()
        metrics = run_pipeline(work / f"v{list(VARIANTS).index(variant)}",
                               load_run_config("demo", overrides=seeds + VARIANTS[variant]), progress=False)
        rows += rows_of(variant, metrics, time.perf_counter() - t0)
        print(*rows[-2 * len(SHOWN):], sep="\n", flush=True)
    rows.append({"variant": f"demo preset (3 epochs, 60,000 synthetic rows, 720-row chunks), seeds 0 1 2; run dirs {work}"})
    print(record("ablations", "Learning-quality ablation on the synthetic default (hftjax run, demo, 3 seeds)", rows))


if __name__ == "__main__":
    main()
