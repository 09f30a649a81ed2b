"""The paper metrics (docs/method.md s.6, pure JAX) on a hand-worked series, against the NumPy
float64 oracle (``tests/metrics_oracle.py``), the identity ACR = ASR AVOL / MDD, the degenerate
cases, consistency with the env's accounting; the standard set against empyrical-reloaded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hftjax.errors import ConfigError
from hftjax.metrics import METRIC_NAMES, buy_and_hold_rewards, check_run, count_trades
from hftjax.metrics import paper_metrics as jax_paper_metrics
from tests.metrics_oracle import oracle_metrics

TIGHT = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=2e-6, atol=1e-7)


def paper_metrics(*args, **kwargs) -> dict:
    """The JAX metrics as host numbers (trades an int or None)."""
    got = jax_paper_metrics(*args, **kwargs)
    return {k: (None if v is None else int(v)) if k == "trades" else float(v) for k, v in got.items()}


def test_hand_worked_series():
    # required money 100 and rewards 10, -22, 22, -11, 19.8 give the equity
    #   V = 100, 110, 88, 110, 99, 118.8
    # step returns r = V[t+1]/V[t] - 1 = 0.1, -0.2, 0.25, -0.1, 0.2
    #   mean(r) = 0.25 / 5 = 0.05
    #   deviations 0.05, -0.25, 0.2, -0.15, 0.15; squares sum to 0.0025 + 0.0625 + 0.04 + 0.0225
    #   + 0.0225 = 0.15, so var(r) = 0.15 / 5 = 0.03 and std(r) = sqrt(0.03) = 0.17320508075688773
    # negative returns -0.2, -0.1: mean -0.15, deviations -0.05, +0.05, var 0.0025, std 0.05
    # running peak 100, 110, 110, 110, 110, 118.8; drawdowns 0, 0, 22/110 = 0.2, 0, 11/110 = 0.1, 0
    #   so MDD = 0.2
    # TR = 118.8 / 100 - 1 = 0.188 (= sum(rewards) / required money = 18.8 / 100)
    # with m = 100 (sqrt(m) = 10):
    #   AVOL = 0.17320508075688773 * 10 = 1.7320508075688772
    #   ASR = 0.05 / 0.17320508075688773 * 10 = 0.5 / sqrt(0.03) = 2.886751345948129
    #   ACR = 0.05 * 100 / 0.2 = 25
    #   ASoR = 0.05 / 0.05 * 10 = 10
    # actions 1, 0, 1, 1, 0 change position 3 times; starting from 0 the first step is a 4th trade.
    rewards = [10.0, -22.0, 22.0, -11.0, 19.8]
    got = paper_metrics(rewards, 100.0, [1, 0, 1, 1, 0], initial_action=0, minutes_per_year=100)
    oracle = oracle_metrics(rewards, 100.0, [1, 0, 1, 1, 0], initial_action=0, m=100)
    assert set(got) == set(oracle) == set(METRIC_NAMES)
    expected = {"TR": 0.188, "AVOL": 1.7320508075688772, "MDD": 0.2, "ASR": 2.886751345948129,
                "ACR": 25.0, "ASoR": 10.0}
    for name, value in expected.items():
        np.testing.assert_allclose(oracle[name], value, **TIGHT, err_msg=name)
        np.testing.assert_allclose(got[name], value, **F32, err_msg=name)
    assert got["trades"] == oracle["trades"] == 4
    assert paper_metrics(rewards, 100.0, [1, 0, 1, 1, 0], minutes_per_year=100)["trades"] == 3
    assert paper_metrics(rewards, 100.0, minutes_per_year=100)["trades"] is None

    # the default m = 525,600 minutes a year scales AVOL, ASR, ASoR by sqrt(m) and ACR by m
    default = paper_metrics(rewards, 100.0)
    np.testing.assert_allclose(default["AVOL"], math.sqrt(0.03 * 525_600), rtol=2e-6)  # 125.5706...
    np.testing.assert_allclose(default["ASR"], 0.05 / math.sqrt(0.03) * math.sqrt(525_600), rtol=2e-6)
    np.testing.assert_allclose(default["ACR"], 0.05 * 525_600 / 0.2, rtol=2e-6)  # 131,400
    np.testing.assert_allclose(default["ASoR"], math.sqrt(525_600), rtol=2e-6)
    assert default["TR"] == got["TR"] and default["MDD"] == got["MDD"]


@pytest.mark.parametrize("seed", range(5))
def test_acr_identity_on_random_runs(seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(0.01, 1.0, size=2000)
    actions = (rng.random(2000) < 0.5).astype(np.int32)
    got = paper_metrics(rewards, 500.0, actions, initial_action=0)
    assert got["MDD"] > 0 and np.isfinite(list(v for k, v in got.items() if k != "trades")).all()
    np.testing.assert_allclose(got["ACR"], got["ASR"] * got["AVOL"] / got["MDD"], rtol=1e-5)
    np.testing.assert_allclose(got["TR"], rewards.sum() / 500.0, rtol=1e-5)
    # the NumPy float64 oracle (the Sortino denominator is the std of the negative returns only)
    oracle = oracle_metrics(rewards, 500.0, actions, initial_action=0)
    for name in METRIC_NAMES:
        np.testing.assert_allclose(got[name], oracle[name], rtol=1e-4, err_msg=name)


def test_vmapped_over_seeds_equals_one_at_a_time():
    import jax

    rng = np.random.default_rng(11)
    rewards, actions = rng.normal(0.01, 1.0, (4, 300)), (rng.random((4, 300)) < 0.3).astype(np.int32)
    required = np.array([300.0, 400.0, 500.0, 600.0])
    stacked = jax.vmap(lambda r, q, a: jax_paper_metrics(r, q, a, 0))(rewards, required, actions)
    for i in range(4):
        one = paper_metrics(rewards[i], required[i], actions[i], initial_action=0)
        for name in METRIC_NAMES:
            np.testing.assert_allclose(stacked[name][i], one[name], rtol=1e-6, err_msg=name)


# --- degenerate cases: documented values, never NaN -----------------------------------------------


def _no_nan(metrics):
    assert not any(isinstance(v, float) and math.isnan(v) for v in metrics.values()), metrics


def test_flat_equity_is_all_zero():
    got = paper_metrics(np.zeros(10), 100.0, np.zeros(10, int), initial_action=0)
    assert got == {"TR": 0.0, "AVOL": 0.0, "MDD": 0.0, "ASR": 0.0, "ACR": 0.0, "ASoR": 0.0, "trades": 0}


def test_never_invested_is_all_zero():
    # always flat: required money 0 and rewards 0 (the env's return rate is 0 then too)
    got = paper_metrics(np.zeros(7), 0.0, np.zeros(7, int))
    assert got == {"TR": 0.0, "AVOL": 0.0, "MDD": 0.0, "ASR": 0.0, "ACR": 0.0, "ASoR": 0.0, "trades": 0}
    empty = paper_metrics([], 100.0)
    assert all(empty[k] == 0.0 for k in METRIC_NAMES if k != "trades")


def test_constant_positive_return():
    # V = 64, 96, 144: r = 0.5, 0.5 exactly. std 0, MDD 0 and no negative returns: +inf ratios.
    got = paper_metrics([32.0, 48.0], 64.0, minutes_per_year=100)
    assert got["TR"] == 1.25 and got["AVOL"] == 0.0 and got["MDD"] == 0.0
    assert got["ASR"] == got["ACR"] == got["ASoR"] == math.inf
    _no_nan(got)


def test_constant_negative_return():
    # V = 144, 96, 64: r = -1/3, -1/3. std 0 (also of the negatives): -inf; MDD = 80/144 = 5/9.
    got = paper_metrics([-48.0, -32.0], 144.0, minutes_per_year=100)
    np.testing.assert_allclose(got["TR"], -80 / 144, **F32)
    np.testing.assert_allclose(got["MDD"], 5 / 9, **F32)
    np.testing.assert_allclose(got["ACR"], (-1 / 3) * 100 / (5 / 9), **F32)  # -60
    assert got["AVOL"] == 0.0 and got["ASR"] == got["ASoR"] == -math.inf
    _no_nan(got)


def test_single_negative_return_gives_infinite_sortino():
    # V = 100, 110, 99, 118.8: r = 0.1, -0.1, 0.2; one negative return, its std is 0
    got = paper_metrics([10.0, -11.0, 19.8], 100.0)
    assert got["ASoR"] == math.inf
    assert np.isfinite(got["ASR"]) and got["MDD"] == pytest.approx(0.1)
    _no_nan(got)


def test_inconsistent_inputs_raise():
    check_run([1.0, -1.0, 2.0], 100.0, [0, 1, 1])  # consistent: no error
    with pytest.raises(ConfigError, match="required_money"):
        check_run([1.0, -1.0], 0.0)  # rewards without money put up
    with pytest.raises(ConfigError, match="required_money"):
        check_run([-60.0, -50.0], 100.0)  # equity goes negative
    with pytest.raises(ConfigError, match="required_money"):
        check_run([1.0], -5.0)
    with pytest.raises(ConfigError, match="rewards.*step 1"):
        check_run([1.0, np.nan], 100.0)
    with pytest.raises(ConfigError, match="actions"):
        check_run([1.0, 2.0], 100.0, actions=[0, 1, 1])
    with pytest.raises(ConfigError, match="minutes_per_year"):
        check_run([1.0], 100.0, minutes_per_year=0)


def test_count_trades():
    assert int(count_trades(np.zeros(0, int))) == 0
    assert int(count_trades(np.zeros(0, int), initial_action=1)) == 0
    assert int(count_trades([0, 0, 2, 1, 1, 0])) == 3  # multi-level positions: every change counts once
    assert int(count_trades([0, 0, 2, 1, 1, 0], initial_action=1)) == 4


# --- consistency with the env's accounting --------------------------------------------------------


def test_tr_is_the_env_return_rate_and_buy_and_hold_matches_simulate():
    from hftjax.env.simulate import simulate

    rng = np.random.default_rng(7)
    close = np.round(2000 * np.exp(np.cumsum(rng.normal(0, 1e-3, 301))), 2)
    actions = (rng.random(300) < 0.5).astype(np.int32)
    run = {k: np.asarray(v, np.float64) for k, v in simulate(close, actions, fee=2e-4, max_holding=0.2).items()}
    got = paper_metrics(run["rewards"], run["required_money"], actions, initial_action=0)
    np.testing.assert_allclose(got["TR"], run["return_rate"], rtol=1e-4)
    assert got["trades"] == int(actions[0] != 0) + int(np.count_nonzero(np.diff(actions)))

    rewards, required = buy_and_hold_rewards(close, 0.2, 2e-4)
    held = {k: np.asarray(v, np.float64)
            for k, v in simulate(close, np.ones(300, np.int32), fee=2e-4, max_holding=0.2).items()}
    np.testing.assert_allclose(rewards, held["rewards"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(required, held["required_money"], rtol=1e-6)
    bh = paper_metrics(rewards, required, np.ones(300, int), initial_action=0)
    np.testing.assert_allclose(bh["TR"], (0.2 * close[-1] - required) / required, rtol=1e-5)
    assert bh["trades"] == 1


def test_trading_activity_by_hand():
    from hftjax.metrics import trading_activity

    # K=3 levels of max_holding 2: positions 0, 1, 2 coins. From 0: actions 1, 2, 2, 0 at closes
    # 10, 20, 30, 40 trade |1| x 10 + |1| x 20 + 0 x 30 + |2| x 40 = 110 notional; fees 0.01 x 110;
    # held on 3 of 4 steps.
    def host(got):
        return {k: float(v) for k, v in got.items()}

    got = trading_activity(np.array([1, 2, 2, 0]), [10.0, 20.0, 30.0, 40.0, 50.0], fee=0.01, max_holding=2.0, levels=3)
    assert host(got) == pytest.approx({"exposure": 0.75, "turnover": 110.0, "fees_paid": 1.1})
    held = trading_activity(np.array([2, 2]), [10.0, 20.0, 30.0], fee=0.0, max_holding=2.0, levels=3, initial_action=2)
    assert host(held) == {"exposure": 1.0, "turnover": 0.0, "fees_paid": 0.0}


def random_run(seed, steps=3000):
    rng = np.random.default_rng(seed)
    return rng.normal(0.02, 1.0, steps), 400.0  # rewards and required money, like a 0.2 ETH position


@pytest.mark.parametrize("seed", range(3))
def test_standard_metrics_against_empyrical(seed):
    """Sharpe, Sortino, CAGR (empyrical's annual_return), Calmar and max drawdown on the same
    step returns, from the maintained library as an independent oracle."""
    empyrical = pytest.importorskip("empyrical")
    from hftjax.metrics import standard_metrics

    rewards, required = random_run(seed)
    equity = required + np.concatenate([[0.0], np.cumsum(rewards)])
    r = equity[1:] / equity[:-1] - 1.0  # float64, the paper's definition
    got = {k: float(v) for k, v in standard_metrics(rewards, required, 525_600).items()}
    oracle = {"sharpe": empyrical.sharpe_ratio(r, annualization=525_600),
              "sortino": empyrical.sortino_ratio(r, annualization=525_600),
              "cagr": empyrical.annual_return(r, annualization=525_600),
              "calmar": empyrical.calmar_ratio(r, annualization=525_600),
              "max_drawdown": -empyrical.max_drawdown(r)}
    for name, value in oracle.items():
        np.testing.assert_allclose(got[name], value, rtol=2e-3, err_msg=name)


def test_standard_metrics_by_hand_and_vmapped():
    """The hand-worked series: V = 100, 110, 88, 110, 99, 118.8; r = .1, -.2, .25, -.1, .2.
    Win rate 3/5; profit factor (10 + 22 + 19.8) / (22 + 11); below the running peak 110 are
    only 88 (then 110 is back at the peak) and 99, so the longest drawdown is 1 step, 22/110 deep;
    CAGR with 100 steps a year: 1.188 ** (100 / 5) - 1."""
    import jax

    from hftjax.metrics import standard_metrics

    rewards = np.array([10.0, -22.0, 22.0, -11.0, 19.8])
    got = standard_metrics(rewards, 100.0, 100)
    assert float(got["win_rate"]) == pytest.approx(0.6)
    assert float(got["profit_factor"]) == pytest.approx(51.8 / 33.0, rel=1e-6)
    assert int(got["max_drawdown_steps"]) == 1 and float(got["max_drawdown"]) == pytest.approx(0.2, rel=1e-6)
    r = np.array([0.1, -0.2, 0.25, -0.1, 0.2])
    assert float(got["sharpe"]) == pytest.approx(r.mean() / r.std(ddof=1) * 10, rel=1e-5)
    assert float(got["sortino"]) == pytest.approx(r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * 10, rel=1e-5)
    assert float(got["cagr"]) == pytest.approx(1.188 ** (100 / 5) - 1, rel=1e-4)
    for required in (100.0, 0.0):  # never traded (required money 0 too): every metric 0, never NaN
        assert all(float(v) == 0.0 for v in standard_metrics(np.zeros(4), required, 100).values())
    batch = np.stack([random_run(s, 500)[0] for s in range(3)])
    stacked = jax.vmap(standard_metrics, (0, None, None))(batch, 400.0, 525_600)
    for i in range(3):
        one = standard_metrics(batch[i], 400.0, 525_600)
        for name in one:
            np.testing.assert_allclose(stacked[name][i], one[name], rtol=1e-6, err_msg=name)
