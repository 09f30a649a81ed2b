"""Price-level invariance: the same market at another price level is the same learning problem.

``hftjax run --data`` sizes the position in quote currency (``env.notional``), and the demo
features are scaled by the training split (``data.normalize=zscore``), so a market with every
price x1024 and every size /1024 (a power of two: the scaling itself is exact in floating point)
trains to the same greedy actions and the same return rates. A fixed coin count (the
reference's) does not: there the scaled market is another problem.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pyarrow.parquet as pq
import pytest

from hftjax.cli import main
from hftjax.data.table import to_arrow
from hftjax.env import EnvConfig
from hftjax.io import write_parquet
from hftjax.subagent.config import load_config
from hftjax.subagent.run import train_subagents
from hftjax.synth import generate

SCALE = 1024.0
FAST = ["baselines.algorithms=[]", 'evaluation.splits=["test"]', "--seeds", "1"]


def scaled_market(path, scale: float):
    table = generate(12_000, seed=4).table
    out = {}
    for name, values in table.items():
        if name in ("open", "high", "low", "close") or name.endswith("_price"):
            out[name] = values * scale
        elif name == "volume" or name.endswith("_size"):
            out[name] = values / scale
        else:
            out[name] = values
    write_parquet(to_arrow(out), path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("invariance")
    done = {}
    for name, scale in (("base", 1.0), ("scaled", SCALE)):
        market = scaled_market(root / f"{name}.parquet", scale)
        assert main(["run", "--preset", "smoke", "--data", str(market), "--out", str(root / name), "-q", *FAST]) == 0
        done[name] = root / name
    return done


def test_a_market_at_another_price_level_trains_to_the_same_actions_and_return(runs):
    metrics = {k: json.loads((v / "results" / "metrics.json").read_text()) for k, v in runs.items()}
    assert metrics["scaled"]["max_holding"] == pytest.approx(metrics["base"]["max_holding"] / SCALE, rel=1e-12)
    for strategy in ("macrohft", "equal_weight_mix", "best_single_subagent"):
        base, scaled = (metrics[k][strategy]["per_seed"][0] for k in ("base", "scaled"))
        for key in ("TR", "ASR", "MDD", "trades"):
            assert scaled[key] == base[key], (strategy, key)
    assert metrics["base"]["equal_weight_mix"]["per_seed"][0]["trades"] > 0  # the agents trade: a real comparison
    assert metrics["scaled"]["buy_and_hold"]["TR"] == metrics["base"]["buy_and_hold"]["TR"]
    actions = {}
    for name, run in runs.items():
        positions = pq.read_table(run / "results" / "test_positions.parquet")["position_seed1"].to_numpy()
        actions[name] = np.rint(positions / metrics[name]["max_holding"]).astype(int)
    np.testing.assert_array_equal(actions["base"], actions["scaled"])
    assert 0 < actions["base"].mean() < 1  # MacroHFT trades (seed 1 does on this market): a real comparison


def test_a_fixed_coin_count_makes_the_scaled_market_another_problem(runs, tmp_path):
    cfg = load_config(overrides=["epochs=1", "hidden=16", "batch_size=64", "learning_starts=100",
                                 'agents=["slope_1"]', "seeds=[0]"])
    params = {}
    for name, run in runs.items():
        for env in (EnvConfig(), EnvConfig(max_holding=0.2)):
            key = (name, env.max_holding)
            params[key] = train_subagents(cfg, run / "data", tmp_path / f"{name}-{env.max_holding}", env=env,
                                          progress=False)[0].params
    same = lambda a, b: all(np.array_equal(np.asarray(x), np.asarray(y))  # noqa: E731
                            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert same(params[("base", None)], params[("scaled", None)])
    assert not same(params[("base", 0.2)], params[("scaled", 0.2)])
