"""The learning-quality ablation on the synthetic default: ``hftjax run`` (demo preset, 3 seeds)
once per variant, each a list of run config overrides switched on over the demo, reported on the
validation and the test split (settings are chosen on validation only) for MacroHFT, the
equal-weight mix, the validation-chosen single sub-agent and buy-and-hold.

    python -m benchmarks.experiments.ablations [--variants NAME ...] [--out DIR]   (existing run dirs are reused)
    python -m benchmarks.experiments.ablations --hyper-on RUN_DIR ... [--hyper-variants NAME ...] [--name NAME]

``--hyper-on``: hyper-agent variants only, each a second hyper-agent trained over the sub-agents
of an existing run (``hftjax train-hyper RUN --out RUN/ablations/NAME KEY=VALUE...``), recorded
as ``ablations_hyper`` (``ablations_hyper_NAME`` with ``--name``, e.g. for the real-market run
directories, one per market, whose names label the rows).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import HERE, record, table_name
from benchmarks.experiments.real_markets import mean_std
from hftjax.evaluate import evaluate
from hftjax.hyper.artifacts import hyper_config_of, load_hyper
from hftjax.hyper.run import train_hyper
from hftjax.pipeline import run_pipeline
from hftjax.progress import bar
from hftjax.run_config import load_run_config
from hftjax.subagent.config import AGENTS

# the demo as it was before the learning fixes (the reference's inputs and hyper-agent settings)
BEFORE = ["data.normalize=none", "hyper.lr=0.0001", "hyper.epochs=3", "hyper.epsilon_decay_epochs=2"]
VARIANTS = {
    "reference inputs (normalize=none)": BEFORE,
    "normalize=zscore": BEFORE + ["data.normalize=zscore"],
    "normalize=zscore, learn_notional=100": BEFORE + ["data.normalize=zscore", "env.learn_notional=100"],
    "learn_notional=100": BEFORE + ["env.learn_notional=100"],
    # the teacher, over the demo preset as it is now
    "demo preset": [],
    "demo, env.teacher_fee=trading": ["env.teacher_fee=trading"],
    "demo, subagents.alpha=0 (no teacher KL)": ["subagents.alpha=0"],
}
HYPER_VARIANTS = {  # over the run's own hyper-agent settings
    "as trained": [],
    "lr=1e-3": ["lr=0.001"],
    "beta=0 (no teacher KL)": ["beta=0"],
    "epsilon 0.3 -> 0.05": ["epsilon_start=0.3", "epsilon_end=0.05"],
    "6 epochs": ["epochs=6", "epsilon_decay_epochs=5"],
    "lr=1e-3, select_on=sharpe": ["lr=0.001", "select_on=sharpe"],
    "lr=1e-3, 6 epochs": ["lr=0.001", "epochs=6", "epsilon_decay_epochs=5"],
    "lr=1e-4, 3 epochs": ["lr=0.0001", "epochs=3", "epsilon_decay_epochs=2"],
    "lr=1e-3, 3 epochs": ["lr=0.001", "epochs=3", "epsilon_decay_epochs=2"],
}
SHOWN = (("macrohft", "MacroHFT"), ("equal_weight_mix", "equal-weight mix"),
         ("best_single_subagent", "best single (valid-chosen)"), ("buy_and_hold", "buy and hold"))


def rows_of(variant: str, metrics: dict, wall: float, run: str | None = None) -> list[dict]:
    out = []
    for split in ("valid", "test"):
        for key, label in SHOWN:
            entry = metrics[split][key]
            values = entry.get("per_seed", [entry])
            out.append({**({"run": run} if run else {}), "variant": variant, "split": split, "strategy": label,
                        "TR %": mean_std([v["TR"] for v in values], 100), "ASR": mean_std([v["ASR"] for v in values]),
                        "trades": mean_std([v["trades"] for v in values]),
                        "held %": mean_std([v["exposure"] for v in values], 100),
                        "wall s": round(wall) if wall == wall else "-"})
    return out


def teacher_agreement(run_dir: Path, split: str = "valid") -> tuple[np.ndarray, float]:
    """(seeds, agents): the share of a split's (row, previous action) states where a sub-agent's
    greedy action is the Q-teacher's (the run's own teacher, whole split one episode): how far
    the KL term pulls the policies towards the teacher; and the same share for the policy that
    always keeps its position (what agreeing without learning anything scores)."""
    _, run = load_hyper(run_dir)
    market, tables = run.market(split)
    teacher = np.asarray(market.teacher)[:-1].argmax(-1)           # (T-1, K); the last row is all 0
    greedy = np.asarray(tables)[:, :-1].argmax(-1)                  # (S, T-1, K, A)
    keep = float((teacher == np.arange(teacher.shape[1])).mean())
    return (greedy == teacher[None, :, :, None]).mean(axis=(1, 2)), keep


def merged(name: str, rows: list[dict], note: str) -> list[dict]:
    """``rows`` after the earlier recorded rows of ``name`` whose (run, variant) was not rerun
    (one table grows variant by variant), and the note."""
    path = HERE / "results" / f"{name}.json"
    earlier = json.loads(path.read_text())["rows"] if path.exists() else []
    key = lambda r: (r.get("run"), r["variant"])  # noqa: E731
    done = {key(r) for r in rows}
    kept = [r for r in earlier if len(r) > 1 and key(r) not in done]  # not the note
    return kept + rows + [{"variant": note}]


def hyper_variants(run_dirs: list[Path], names: list[str], table: str) -> None:
    rows = []
    for run_dir in run_dirs:
        for name in names:
            trained = hyper_config_of(run_dir)
            cfg = load_run_config(None, overrides=HYPER_VARIANTS[name], base={"hyper": trained.to_json()},
                                  default_section="hyper", only=("hyper",)).hyper
            out = run_dir / "ablations" / f"h{list(HYPER_VARIANTS).index(name)}"
            t0 = time.perf_counter()
            train_hyper(run_dir, cfg, out=out, progress=False)
            metrics = {split: evaluate(out, split) for split in ("valid", "test")}
            rows += rows_of(name, metrics, time.perf_counter() - t0, f"{run_dir.parent.name}/{run_dir.name}" if len(run_dirs) > 1 else None)
            print(*rows[-2 * len(SHOWN):], sep="\n", flush=True)
    note = f"hyper-agent variants over the sub-agents of {' '.join(Path(d).name for d in run_dirs)} (seeds 0 1 2)"
    title = "Hyper-agent ablation" + (f" ({table})" if table != "ablations_hyper" else " on the synthetic default (demo, 3 seeds)")
    print(record(table, title, merged(table, rows, note)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, help="where the run directories go (default: a temporary one)")
    parser.add_argument("--hyper-on", type=Path, nargs="+", help="run directories whose sub-agents the hyper-agent variants use")
    parser.add_argument("--hyper-variants", nargs="+", default=list(HYPER_VARIANTS), choices=list(HYPER_VARIANTS))
    parser.add_argument("--name", type=table_name, help="suffix of the recorded hyper table (ablations_hyper_NAME)")
    args = parser.parse_args()
    if args.hyper_on is not None:
        return hyper_variants(args.hyper_on, args.hyper_variants, "_".join(["ablations_hyper", *filter(None, [args.name])]))
    work = args.out or Path(tempfile.mkdtemp(prefix="hftjax-ablations-"))
    rows, teacher_rows = [], []
    for variant in bar(args.variants, desc="variants", unit="variant"):
        seeds = [f"{s}.seeds=[0,1,2]" for s in ("subagents", "hyper")]
        t0 = time.perf_counter()
        run_dir = work / f"v{list(VARIANTS).index(variant)}"
        done = run_dir / "results" / "summary.json"
        if done.exists():  # a finished run is read, not resumed (its wall time is not known then)
            rows += rows_of(variant, json.loads(done.read_text()), float("nan"))
        else:
            metrics = run_pipeline(run_dir, load_run_config("demo", overrides=seeds + VARIANTS[variant]), progress=False)
            rows += rows_of(variant, metrics, time.perf_counter() - t0)
        agree, keep = teacher_agreement(run_dir)
        agree = 100 * agree
        teacher_rows.append({"variant": variant, "sub-agents = teacher % (valid, mean)": mean_std(agree.mean(1)),
                             "keep-position policy = teacher %": f"{100 * keep:.1f}",
                             **{agent: f"{agree[:, i].mean():.1f}" for i, agent in enumerate(AGENTS)}})
        print(*rows[-2 * len(SHOWN):], teacher_rows[-1], sep="\n", flush=True)
    note = "demo preset (3 epochs, 60,000 synthetic rows, 720-row chunks), seeds 0 1 2"
    print(record("ablations", "Learning-quality ablation on the synthetic default (hftjax run, demo, 3 seeds)",
                 merged("ablations", rows, note)))
    print(record("ablations_teacher", "How the teacher-KL term moves the sub-agents (demo, 3 seeds): "
                 "greedy action = the Q-teacher's, share of validation states", merged("ablations_teacher", teacher_rows, note)))


if __name__ == "__main__":
    main()
