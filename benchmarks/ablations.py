"""The learning-quality ablation on the synthetic default: ``hftjax run`` (demo preset, 3 seeds)
once per variant, each a list of run config overrides switched on over the demo, reported on the
validation and the test split (settings are chosen on validation only) for MacroHFT, the
equal-weight mix, the validation-chosen single sub-agent and buy-and-hold.

    python -m benchmarks.ablations [--variants NAME ...] [--out DIR]   (existing run dirs are reused)
    python -m benchmarks.ablations --hyper-on RUN_DIR [--hyper-variants NAME ...]

``--hyper-on``: hyper-agent variants only, each a second hyper-agent trained over the sub-agents
of an existing run (``hftjax train-hyper RUN --out RUN/ablations/NAME KEY=VALUE...``), recorded
as ``ablations_hyper``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import HERE, record
from benchmarks.real_markets import mean_std
from hftjax.evaluate import evaluate
from hftjax.hyper.artifacts import hyper_config_of
from hftjax.hyper.run import train_hyper
from hftjax.pipeline import run_pipeline
from hftjax.run_config import load_run_config

# the demo as it was before the learning fixes (the reference's inputs and hyper-agent settings)
BEFORE = ["data.normalize=none", "hyper.lr=0.0001", "hyper.epochs=3", "hyper.epsilon_decay_epochs=2"]
VARIANTS = {
    "reference inputs (normalize=none)": BEFORE,
    "normalize=zscore": BEFORE + ["data.normalize=zscore"],
    "normalize=zscore, learn_notional=100": BEFORE + ["data.normalize=zscore", "env.learn_notional=100"],
    "learn_notional=100": BEFORE + ["env.learn_notional=100"],
}
HYPER_VARIANTS = {  # over the run's own hyper-agent settings
    "as trained": [],
    "lr=1e-3": ["lr=0.001"],
    "beta=0 (no teacher KL)": ["beta=0"],
    "epsilon 0.3 -> 0.05": ["epsilon_start=0.3", "epsilon_end=0.05"],
    "6 epochs": ["epochs=6", "epsilon_decay_epochs=5"],
    "lr=1e-3, select_on=sharpe": ["lr=0.001", "select_on=sharpe"],
    "lr=1e-3, 6 epochs": ["lr=0.001", "epochs=6", "epsilon_decay_epochs=5"],
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
                        "held %": mean_std([v["exposure"] for v in values], 100),
                        "wall s": round(wall) if wall == wall else "-"})
    return out


def merged(name: str, rows: list[dict], done: list[str], note: str) -> list[dict]:
    """``rows`` after the earlier recorded rows of ``name`` whose variants were not rerun (one
    table grows variant by variant), and the note."""
    path = HERE / "results" / f"{name}.json"
    earlier = json.loads(path.read_text())["rows"] if path.exists() else []
    kept = [r for r in earlier if r.get("split") and r["variant"] not in done]
    return kept + rows + [{"variant": note}]


def hyper_variants(run_dir: Path, names: list[str]) -> None:
    rows = []
    for name in names:
        trained = hyper_config_of(run_dir)
        cfg = load_run_config(None, overrides=HYPER_VARIANTS[name], base={"hyper": trained.to_json()},
                              default_section="hyper", only=("hyper",)).hyper
        out = run_dir / "ablations" / f"h{list(HYPER_VARIANTS).index(name)}"
        t0 = time.perf_counter()
        train_hyper(run_dir, cfg, out=out, progress=False)
        metrics = {split: evaluate(out, split) for split in ("valid", "test")}
        rows += rows_of(name, metrics, time.perf_counter() - t0)
        print(*rows[-2 * len(SHOWN):], sep="\n", flush=True)
    note = f"hyper-agent variants over the sub-agents of {run_dir} (demo preset, seeds 0 1 2)"
    print(record("ablations_hyper", "Hyper-agent ablation on the synthetic default (demo, 3 seeds)",
                 merged("ablations_hyper", rows, names, note)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, help="where the run directories go (default: a temporary one)")
    parser.add_argument("--hyper-on", type=Path, help="run directory whose sub-agents the hyper-agent variants use")
    parser.add_argument("--hyper-variants", nargs="+", default=list(HYPER_VARIANTS), choices=list(HYPER_VARIANTS))
    args = parser.parse_args()
    if args.hyper_on is not None:
        return hyper_variants(args.hyper_on, args.hyper_variants)
    work = args.out or Path(tempfile.mkdtemp(prefix="hftjax-ablations-"))
    rows = []
    for i, variant in enumerate(args.variants):
        seeds = [f"{s}.seeds=[0,1,2]" for s in ("subagents", "hyper")]
        t0 = time.perf_counter()
        run_dir = work / f"v{list(VARIANTS).index(variant)}"
        done = run_dir / "results" / "summary.json"
        if done.exists():  # a finished run is read, not resumed (its wall time is not known then)
            rows += rows_of(variant, json.loads(done.read_text()), float("nan"))
        else:
            metrics = run_pipeline(run_dir, load_run_config("demo", overrides=seeds + VARIANTS[variant]), progress=False)
            rows += rows_of(variant, metrics, time.perf_counter() - t0)
        print(*rows[-2 * len(SHOWN):], sep="\n", flush=True)
    note = f"demo preset (3 epochs, 60,000 synthetic rows, 720-row chunks), seeds 0 1 2; run dirs {work}"
    print(record("ablations", "Learning-quality ablation on the synthetic default (hftjax run, demo, 3 seeds)",
                 merged("ablations", rows, args.variants, note)))


if __name__ == "__main__":
    main()
