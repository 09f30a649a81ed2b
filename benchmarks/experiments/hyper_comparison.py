"""Does the hyper-agent beat its parts? ``hftjax run`` (demo preset) with 3 seeds on the
synthetic market with regime switches; on the whole validation split compare the hyper-agent's
return rate with the best single sub-agent and the equal-weight mix of the six (same seed).
Then diagnose the mixtures on the validation split: the hyper-agent's mean weights, and for each
sub-agent the share of states (starting flat) where it prefers buying to staying flat.

    python -m benchmarks.experiments.hyper_comparison [--preset demo] [--out DIR]   (an existing DIR is reused)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import record
from hftjax.hyper.artifacts import load_hyper
from hftjax.pipeline import run_pipeline
from hftjax.run_config import load_run_config
from hftjax.subagent.config import AGENTS


def diagnose(run_dir: Path) -> list[dict]:
    """Per seed: mean mixing weights and each agent's buy-from-flat preference on the valid split."""
    state, run = load_hyper(run_dir)
    market, tables = run.market("valid")
    rows = jnp.arange(market.num_rows - 1)
    out = []
    for i, seed in enumerate(run.cfg.seeds):
        params = jax.tree.map(lambda x: x[i], state.best_params)
        weights, _ = run.setup.net.apply(params, market.single[rows], market.trend[rows], market.context[rows],
                                         jnp.zeros_like(rows))
        advantage = np.asarray(tables[i])[:-1, 0, :, 1] - np.asarray(tables[i])[:-1, 0, :, 0]  # buy - stay, from flat
        mean_weights = np.asarray(weights).mean(0)
        out.append({"seed": seed,
                    **{f"weight_{a}": float(w) for a, w in zip(AGENTS, mean_weights)},
                    **{f"buys_{a}": float(s) for a, s in zip(AGENTS, (advantage > 0).mean(0))},
                    "equal_mix_buys": float((advantage.mean(1) > 0).mean()),
                    "hyper_buys": float(((np.asarray(weights) * advantage).sum(1) > 0).mean())})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="hftjax-compare-")) / "run"
    t0 = time.perf_counter()
    seeds = [f"{section}.seeds=[0,1,2]" for section in ("subagents", "hyper")]
    metrics = run_pipeline(out, load_run_config(args.preset, overrides=seeds))
    wall = time.perf_counter() - t0
    rows = []
    for split in ("valid", "test"):
        m = metrics[split]
        for i, seed in enumerate((0, 1, 2)):
            best = m["best_single_subagent"]["per_seed"][i]
            rows.append({"split": split, "seed": seed,
                         "hyper_TR_%": 100 * m["macrohft"]["per_seed"][i]["TR"],
                         "equal_mix_TR_%": 100 * m["equal_weight_mix"]["per_seed"][i]["TR"],
                         "best_single_TR_%": 100 * best["TR"], "best_single": best["agent"],
                         "hyper_trades": m["macrohft"]["per_seed"][i]["trades"],
                         "equal_mix_trades": m["equal_weight_mix"]["per_seed"][i]["trades"],
                         "buy_hold_TR_%": 100 * m["buy_and_hold"]["TR"]})
            print(rows[-1], flush=True)
    rows.append({"split": f"(preset {args.preset}, wall {wall:.0f} s, run dir {out})"})
    print(record("hyper_comparison", "Hyper-agent vs best single sub-agent vs equal-weight mix (return rate on the split)", rows))
    diagnosis = diagnose(out)
    for row in diagnosis:
        print(row)
    print(record("hyper_diagnosis", "Why: mixing weights and buy-from-flat preferences (share of valid states)", diagnosis))


if __name__ == "__main__":
    main()
