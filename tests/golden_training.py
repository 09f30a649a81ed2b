"""Golden training outputs: sub-agents and hyper-agent on a fixed small synthetic market.

``python tests/golden_training.py`` records them into ``tests/golden/training.npz`` (done once,
on main before the learner refactor of issue 9); ``test_golden.py`` trains again and compares.
Re-record only for an intended change of the numbers, and say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

GOLDEN = Path(__file__).resolve().parent / "golden" / "training.npz"
ROWS, CHUNK = 12_000, 240
SUB = ["epochs=2", "hidden=16", "batch_size=64", "buffer_size=20000", "learning_starts=100", "seeds=[0]",
       "epsilon_decay_epochs=1", "env.max_holding=0.2"]  # the coin count the golden numbers were recorded with
HYPER = ["epochs=2", "hidden=8", "batch_size=64", "buffer_size=20000", "memory_capacity=512", "seeds=[0]",
         "epsilon_decay_epochs=1"]
SUB_METRICS = ("loss", "td", "kl", "train_reward", "valid_return_rate")
HYPER_METRICS = ("loss", "td", "memory", "kl", "train_reward", "train_return_rate", "valid_return_rate")


def flat(prefix: str, tree) -> dict[str, np.ndarray]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {f"{prefix}{jax.tree_util.keystr(path)}": np.asarray(leaf) for path, leaf in leaves}


def log_columns(prefix: str, path: Path, names) -> dict[str, np.ndarray]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return {f"{prefix}/{k}": np.array([np.nan if x[k] is None else x[k] for x in lines], np.float64) for k in names}


def train(work: Path) -> dict[str, np.ndarray]:
    """Everything the golden file holds, from a fresh run in ``work``."""
    from hftjax.cli import main

    assert main(["synth", "--rows", str(ROWS), "--seed", "0", "--out", str(work / "m.parquet")]) == 0
    assert main(["prepare", str(work / "m.parquet"), "--out", str(work / "data"), "--chunk-len", str(CHUNK)]) == 0
    run = work / "run"
    assert main(["train-subagents", str(work / "data"), "--out", str(run), "--quiet", *SUB]) == 0
    assert main(["train-hyper", str(run), "--quiet", "--defaults", *HYPER]) == 0
    assert main(["evaluate", str(run)]) == 0
    import orbax.checkpoint as ocp

    from hftjax.hyper.artifacts import load_hyper

    with ocp.StandardCheckpointer() as checkpointer:
        sub_best = checkpointer.restore((run / "subagents_best").resolve())
    hyper_state, _ = load_hyper(run)
    metrics = json.loads((run / "results" / "metrics.json").read_text())
    out = {**flat("sub/best_params", sub_best["best_params"]), **flat("hyper/params", hyper_state.params),
           **flat("hyper/best_params", hyper_state.best_params),
           **log_columns("sub/log", run / "subagents_log.jsonl", SUB_METRICS),
           **log_columns("hyper/log", run / "hyper_log.jsonl", HYPER_METRICS),
           "test/macrohft_TR": np.array(metrics["macrohft"]["mean"]["TR"]),
           "test/equal_weight_TR": np.array(metrics["equal_weight_mix"]["mean"]["TR"])}
    return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        values = train(Path(tmp))
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **values)
    print(f"recorded {len(values)} arrays into {GOLDEN}", file=sys.stderr)
