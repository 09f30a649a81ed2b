"""The synthetic lab (``benchmarks/experiments/lab.py``) and its two rules (``hftjax.baselines.momentum``,
``hftjax.baselines.ridge``): each rule against a hand computation or NumPy's least squares, the
lab's scoring against the plain NumPy env and metrics oracles, settings chosen on validation only,
and the summary paired by market. Scoring a finished run is in ``tests/test_pipeline.py``."""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.experiments import lab
from benchmarks.experiments.lab import (LOOKBACKS, STRATEGIES, config_for, lab_rules, main, scores,
                                        summary_rows)
from hftjax.baselines.momentum import momentum_actions
from hftjax.baselines.ridge import fit_ridge, forward_returns, predict, threshold_actions
from hftjax.errors import ConfigError
from hftjax.run_config import load_run_config
from tests.env_oracle import oracle_simulate
from tests.metrics_oracle import oracle_metrics

FEE, HOLDING = 2e-4, 1.0


def oracle_asr(close, actions) -> float:
    done = oracle_simulate(close, actions, fee=FEE, max_holding=HOLDING, levels=2)
    return oracle_metrics(done["rewards"], done["required_money"])["ASR"]


def test_momentum_is_long_after_a_positive_trailing_return_by_hand():
    close = [10.0, 11.0, 10.5, 10.0, 12.0, 11.0]
    # steps 0-1 have no 2-step history; then 10.5 > 10, 10 < 11, 12 > 10.5
    np.testing.assert_array_equal(momentum_actions(close, 2), [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(momentum_actions(close, 1, levels=5), [0, 4, 0, 0, 4])
    np.testing.assert_array_equal(momentum_actions(close, 9), [0] * 5)  # longer than the series: flat
    with pytest.raises(ConfigError, match="lookback"):
        momentum_actions(close, 0)


def test_ridge_is_least_squares_on_the_augmented_system():
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(5.0, 2.0, (60, 3)), np.full(60, 7.0)])  # a constant column, as features can be
    y = x[:, :3] @ [0.5, -1.0, 0.2] + rng.normal(0, 0.3, 60)
    alpha = 4.0
    model = fit_ridge(x, y, alpha)
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    # min |y - b - z w|^2 + alpha |w|^2 (b unpenalised) is the least-squares solution of this system
    augmented = np.block([[np.ones((60, 1)), z], [np.zeros((4, 1)), np.sqrt(alpha) * np.eye(4)]])
    solution = np.linalg.lstsq(augmented, np.concatenate([y, np.zeros(4)]), rcond=None)[0]
    np.testing.assert_allclose(model.weights, solution[1:], atol=1e-10)
    assert model.intercept == pytest.approx(solution[0]) and model.weights[3] == pytest.approx(0.0, abs=1e-12)
    fresh = rng.normal(5.0, 2.0, (5, 4))
    np.testing.assert_allclose(predict(model, fresh), solution[0] + (fresh - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
                               @ solution[1:], atol=1e-10)
    np.testing.assert_allclose(forward_returns([1.0, 2.0, 4.0, 8.0], 2), [np.log(4), np.log(4)])
    np.testing.assert_array_equal(threshold_actions([-1.0, 0.5, 0.2], 0.2), [0, 1, 0])
    with pytest.raises(ConfigError, match="alpha"):
        fit_ridge(x, y, 0.0)


def test_lab_scores_are_the_env_and_metrics_oracles():
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 300)))
    actions = rng.integers(0, 2, (3, 299))
    got = scores(close, actions, fee=FEE, max_holding=HOLDING, levels=2)
    for i, a in enumerate(actions):
        assert got["ASR"][i] == pytest.approx(oracle_asr(close, a), rel=2e-3)
        assert got["trades"][i] == np.count_nonzero(np.diff(a, prepend=0))


def write_split(directory, name, close, columns: dict[str, np.ndarray]) -> None:
    """A prepared split as ``lab_rules`` reads it: closes, feature columns and prepare's metadata."""
    meta = {"columns": {"single": list(columns), "trend": [], "context": []}}
    table = pa.table({"close": close, **columns}).replace_schema_metadata({"hftjax": json.dumps(meta)})
    pq.write_table(table, directory / f"{name}.parquet")


def test_lab_rules_choose_on_validation_and_find_timing_the_features_hold(tmp_path, monkeypatch):
    """Trend regimes of 400-900 minutes; one feature carries the next 240 minutes' return. The
    momentum lookback is the one best on validation (listed last, so the first is not chosen by
    default), its test score is the oracle's, and the ridge model, fit on train alone, times the
    test split (timing >= 80) and beats holding there."""
    monkeypatch.setattr(lab, "LOOKBACKS", tuple(sorted(LOOKBACKS, reverse=True)))  # here the shortest is best
    rng = np.random.default_rng(1)
    lengths = rng.integers(400, 900, 40)
    drift = np.repeat(np.tile([4e-4, -4e-4], 20), lengths)[:12_000]
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 6e-4, drift.size)))
    leak = np.concatenate([np.log(close[240:] / close[:-240]), np.zeros(240)]) + rng.normal(0, 1e-3, close.size)
    features = {"leak": leak, "noise": rng.normal(size=close.size), "constant": np.ones(close.size)}
    parts = {"train": slice(0, 6000), "valid": slice(6000, 9000), "test": slice(9000, 12_000)}
    for name, rows in parts.items():
        write_split(tmp_path, name, close[rows], {k: v[rows] for k, v in features.items()})
    rules, settings = lab_rules(tmp_path, fee=FEE, max_holding=HOLDING, levels=2)
    valid, test = close[parts["valid"]], close[parts["test"]]
    valid_asr = [oracle_asr(valid, momentum_actions(valid, n)) for n in lab.LOOKBACKS]
    best = lab.LOOKBACKS[int(np.argmax(valid_asr))]
    assert settings["momentum L"] == best and best != lab.LOOKBACKS[0]
    assert rules["test"]["momentum"] == pytest.approx(oracle_asr(test, momentum_actions(test, best)), rel=2e-3)
    holding = oracle_asr(test, np.ones(test.size - 1, int))
    assert rules["test"]["ridge"] > holding + 1.0 and rules["test"]["ridge_timing"] >= 80
    assert set(rules) == {"valid", "test"} and rules["test"]["ridge_trades"] > 0


def test_summary_pairs_markets_by_hand():
    row = lambda split, macrohft, hold, timing: {"split": split, "macrohft": macrohft, "buy_and_hold": hold,  # noqa: E731
                                                 "flat": 0.0, "momentum": 1.0, "timing_percentile": timing,
                                                 "momentum_timing": 90.0}
    per_market = [row("test", 3.0, 1.0, 85), row("test", -1.0, 2.0, 40), row("test", 1.0, 0.0, 80), row("valid", 9.0, 0.0, 0)]
    rows = {r["strategy"]: r for r in summary_rows(per_market, "test")}
    assert rows["MacroHFT"]["mean ASR"] == pytest.approx(1.0) and rows["MacroHFT"]["timing percentile >= 80"] == "2 of 3"
    assert rows["buy and hold"]["mean ASR"] == pytest.approx(1.0) and rows["buy and hold"]["MacroHFT minus it"].startswith("+0.00 [")
    assert rows["buy and hold"]["MacroHFT above in"] == "2 of 3" and rows["flat"]["MacroHFT minus it"].startswith("+1.00 [")
    assert rows[STRATEGIES["momentum"]]["timing percentile >= 80"] == "3 of 3"
    assert "MACD" not in rows and "timing percentile >= 80" not in rows["buy and hold"]  # absent: not invented


def test_each_market_is_the_shipped_defaults_on_its_own_generator_seed(monkeypatch):
    """A market's run differs from ``hftjax run``'s demo only in its generator seed, the 2 seeds and
    the DQN/DDQN baselines; a lever (--set) without --name or --out is refused, so it cannot land
    in the default runs' folder, and so is --markets 0."""
    demo, market = load_run_config("demo").to_json(), config_for(5, False, []).to_json()
    changed = {f"{s}.{k}" for s in demo for k in demo[s] if demo[s][k] != market[s][k]}
    assert changed == {"data.synthetic_seed", "subagents.seeds", "hyper.seeds", "baselines.algorithms"}
    assert market["data"]["synthetic_seed"] == 5 and market["hyper"]["seeds"] == [0, 1]
    assert config_for(1, True, ["hyper.lr=0.01"]).hyper.lr == 0.01
    for refused in (["--set", "hyper.lr=0.01"], ["--markets", "0"]):
        monkeypatch.setattr(sys, "argv", ["lab", *refused])
        with pytest.raises(SystemExit) as stopped:
            main()
        assert stopped.value.code == 2, refused
