"""The timing test and the leverage diagnostics (``hftjax.diagnostics``) against constructed
markets and a plain-NumPy oracle."""

from __future__ import annotations

import numpy as np
import pytest

from hftjax.diagnostics import agent_diagnostics, timing_percentile

KW = dict(fee=2e-4, max_holding=1.0, levels=2)


@pytest.fixture(scope="module")
def close():
    rng = np.random.default_rng(0)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, 2001)))


def test_foresight_times_the_market_and_random_positions_do_not(close):
    foresight = (np.diff(close) > 0).astype(np.int32)  # long exactly before every rise
    assert timing_percentile(close, foresight, **KW) == 100.0
    rng = np.random.default_rng(1)
    percentiles = []
    for seed in range(40):  # positions held for random spells, with no information about the market
        switches = rng.random(len(close) - 1) < 0.02
        percentiles.append(timing_percentile(close, (np.cumsum(switches) % 2).astype(np.int32), **KW, seed=seed))
    assert 35 < np.mean(percentiles) < 65 and np.min(percentiles) < 30 and np.max(percentiles) > 70
    for constant in (0, 1):  # a constant position: every shift is the same run
        assert timing_percentile(close, np.full(len(close) - 1, constant, np.int32), **KW) == 50.0


def test_agent_diagnostics_match_a_numpy_oracle():
    rng = np.random.default_rng(3)
    steps, levels, agents = 500, 2, 6
    table = rng.normal(size=(steps + 1, levels, agents, levels)).astype(np.float32)
    table[:, :, :, 1] += np.linspace(-1, 1, agents)[None, None, :]  # agents that differ in how often they go long
    actions = rng.integers(0, levels, steps)
    logits = rng.normal(size=(steps, agents))
    weights = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    names = [f"a{i}" for i in range(agents)]
    got = agent_diagnostics(table, actions, weights, names)

    differs = agree = 0
    previous = 0
    for t in range(steps):
        q = table[t, previous].astype(np.float64)              # (agents, levels)
        greedy = [int(np.argmax(q[i])) for i in range(agents)]
        differs += actions[t] != int(np.argmax(q.mean(axis=0)))
        agree += len(set(greedy)) == 1
        previous = actions[t]
    assert got["differs_from_equal_mix"] == pytest.approx(differs / steps)
    assert got["subagents_agree"] == pytest.approx(agree / steps)
    entropy = np.mean([-sum(w * np.log(w) for w in row) for row in weights.astype(np.float64)])
    assert got["weight_entropy"] == pytest.approx(entropy, rel=1e-5)
    for i, name in enumerate(names):
        assert got[f"long_from_flat_{name}"] == pytest.approx(np.mean([np.argmax(table[t, 0, i]) == 1 for t in range(steps)]))
        assert got[f"long_from_long_{name}"] == pytest.approx(np.mean([np.argmax(table[t, 1, i]) == 1 for t in range(steps)]))
    assert got["long_from_flat_a0"] < got["long_from_flat_a5"]  # the constructed spread shows
