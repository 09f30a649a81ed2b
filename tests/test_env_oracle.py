"""Self-test of the NumPy environment oracle against hand-computed numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.env_oracle import OracleEnv, oracle_q_teacher, oracle_simulate

CLOSE = [100.0, 101.0, 99.0, 102.0]
FEE = 0.001


def test_flat_start_buy_hold_sell():
    # start 0, actions [1, 1, 0]
    # t=0 buy 1 @100: cf = -100*1.001 = -100.1;   r = 1*(101-100) - 0.001*100 = 0.9
    # t=1 hold:       cf = 0;                     r = 1*(99-101) = -2
    # t=2 sell 1 @99: cf = 99*0.999 = 98.901;     r = 0 - 0.001*99 = -0.099
    # cash [0, -100.1, 0, 98.901] -> sum -1.199, final pos 0 -> final_balance -1.199
    # cumsum [0, -100.1, -100.1, -1.199] -> required_money 100.1
    out = oracle_simulate(CLOSE, [1, 1, 0], fee=FEE, max_holding=1)
    np.testing.assert_allclose(out["rewards"], [0.9, -2.0, -0.099], atol=1e-12)
    np.testing.assert_allclose(out["cash_flows"], [0.0, -100.1, 0.0, 98.901], atol=1e-12)
    assert out["final_balance"] == pytest.approx(-1.199, abs=1e-12)
    assert out["required_money"] == pytest.approx(100.1, abs=1e-12)
    assert out["return_rate"] == pytest.approx(-1.199 / 100.1, abs=1e-12)


def test_long_start_hold_sell_buy():
    # start 1 (booked -100, no fee), actions [1, 0, 1]
    # t=0 hold:        cf = 0;                    r = 1*(101-100) = 1
    # t=1 sell 1 @101: cf = 101*0.999 = 100.899;  r = 0 - 0.001*101 = -0.101
    # t=2 buy 1 @99:   cf = -99*1.001 = -99.099;  r = 1*(102-99) - 0.001*99 = 2.901
    # cash [-100, 0, 100.899, -99.099] -> sum -98.2; + 1*102 -> final_balance 3.8
    # cumsum [-100, -100, 0.899, -98.2] -> required_money 100; return_rate 0.038
    out = oracle_simulate(CLOSE, [1, 0, 1], fee=FEE, max_holding=1, initial_action=1)
    np.testing.assert_allclose(out["rewards"], [1.0, -0.101, 2.901], atol=1e-12)
    np.testing.assert_allclose(out["cash_flows"], [-100.0, 0.0, 100.899, -99.099], atol=1e-12)
    assert out["final_balance"] == pytest.approx(3.8, abs=1e-12)
    assert out["required_money"] == pytest.approx(100.0, abs=1e-12)
    assert out["return_rate"] == pytest.approx(0.038, abs=1e-12)


def test_never_trading_has_zero_return_rate():
    out = oracle_simulate(CLOSE, [0, 0, 0], fee=FEE, max_holding=1)
    np.testing.assert_allclose(out["rewards"], 0.0)
    assert out["final_balance"] == 0.0
    assert out["required_money"] == 0.0
    assert out["return_rate"] == 0.0  # documented rule: 0/0 -> 0


def test_three_levels():
    # K=3, max_holding 2 -> positions 0, 1, 2. start 1 (booked -100), actions [2, 0, 1]
    # t=0 buy 1 @100:  cf = -100.1;               r = 2*1 - 0.001*100*1 = 1.9
    # t=1 sell 2 @101: cf = 2*101*0.999 = 201.798; r = 0 - 0.001*101*2 = -0.202
    # t=2 buy 1 @99:   cf = -99.099;              r = 1*3 - 0.001*99 = 2.901
    # cash [-100, -100.1, 201.798, -99.099]: cumsum [-100, -200.1, 1.698, -97.401]
    # final_balance = -97.401 + 1*102 = 4.599; required_money = 200.1
    out = oracle_simulate(CLOSE, [2, 0, 1], fee=FEE, max_holding=2, levels=3, initial_action=1)
    np.testing.assert_allclose(out["rewards"], [1.9, -0.202, 2.901], atol=1e-12)
    np.testing.assert_allclose(out["cash_flows"], [-100.0, -100.1, 201.798, -99.099], atol=1e-12)
    assert out["final_balance"] == pytest.approx(4.599, abs=1e-12)
    assert out["required_money"] == pytest.approx(200.1, abs=1e-12)


def test_env_episode_offset_obs_and_info():
    # rows 1..3 of CLOSE, start long (booked -101), actions [0, 1]
    # t=1 sell @101: cf 100.899, r -0.101;  t=2 buy @99: cf -99.099, r 2.901
    # final = -101 + 100.899 - 99.099 + 102 = 2.8; cumsum [-101, -0.101, -99.2] -> required 101
    single = np.arange(8.0).reshape(4, 2)
    trend = -np.arange(4.0)[:, None]
    context = 10 + np.arange(4.0)[:, None]
    env = OracleEnv(CLOSE, fee=FEE, max_holding=1, single=single, trend=trend, context=context)
    obs = env.reset(1, 3, 1)
    assert obs["prev_action"] == 1
    np.testing.assert_array_equal(obs["single"], single[1])
    np.testing.assert_array_equal(obs["trend"], trend[1])
    np.testing.assert_array_equal(obs["context"], context[1])
    obs, r, done, info = env.step(0)
    assert not done and obs["prev_action"] == 0
    np.testing.assert_array_equal(obs["single"], single[2])
    assert r == pytest.approx(-0.101) and info["cash_flow"] == pytest.approx(100.899)
    assert info["position"] == 0.0 and "final_balance" not in info
    obs, r, done, info = env.step(1)
    assert done and obs["prev_action"] == 1
    assert r == pytest.approx(2.901) and info["cash_flow"] == pytest.approx(-99.099)
    assert info["final_balance"] == pytest.approx(2.8)
    assert info["required_money"] == pytest.approx(101.0)
    assert info["return_rate"] == pytest.approx(2.8 / 101.0)
    with pytest.raises(RuntimeError):
        env.step(0)
    with pytest.raises(ValueError):
        env.reset(0, 3, 2)  # action out of range for K=2


@pytest.mark.parametrize("levels", [2, 5])
@pytest.mark.parametrize("initial_action", ["zero", "top"])
def test_sum_of_rewards_equals_final_balance(levels, initial_action):
    rng = np.random.default_rng(levels)
    for _ in range(5):
        T = 200
        close = 2000 * np.exp(np.cumsum(rng.normal(0, 1e-3, T)))
        actions = rng.integers(0, levels, T - 1)
        a0 = 0 if initial_action == "zero" else levels - 1
        out = oracle_simulate(close, actions, fee=2e-4, max_holding=0.5, levels=levels,
                              initial_action=a0)
        assert out["rewards"].sum() == pytest.approx(out["final_balance"], rel=1e-10, abs=1e-9)
        assert out["required_money"] >= 0.0


def test_q_teacher_by_hand():
    # close [100, 101, 99], fee 0.001, max_holding 1, gamma 0.99; Q[2] = 0
    # t=1 (101 -> 99): r(1,p,0) = -0.101 p;  r(1,p,1) = -2 - 0.101 |1-p|
    #   Q[1] = [[0, -2.101], [-0.101, -2]];  max_b Q[1,0,b] = 0, max_b Q[1,1,b] = -0.101
    # t=0 (100 -> 101): r(0,p,0) = -0.1 p;   r(0,p,1) = 1 - 0.1 |1-p|
    #   Q[0,0,0] = 0;  Q[0,0,1] = 0.9 + 0.99*(-0.101) = 0.80001
    #   Q[0,1,0] = -0.1;  Q[0,1,1] = 1 + 0.99*(-0.101) = 0.90001
    Q = oracle_q_teacher([100.0, 101.0, 99.0], fee=0.001, max_holding=1)
    expected = [[[0.0, 0.80001], [-0.1, 0.90001]],
                [[0.0, -2.101], [-0.101, -2.0]],
                [[0.0, 0.0], [0.0, 0.0]]]
    np.testing.assert_allclose(Q, expected, atol=1e-12)


def test_q_teacher_matches_brute_force():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-2, 6)))
    K, gamma, mh = 3, 0.9, 2.0
    Q = oracle_q_teacher(close, fee=1e-3, max_holding=mh, levels=K, gamma=gamma)
    pos = lambda a: mh * a / (K - 1)  # noqa: E731
    for p in range(K):
        for a in range(K):
            best = -np.inf
            for rest in itertools.product(range(K), repeat=len(close) - 2):
                seq, prev, total = (a,) + rest, p, 0.0
                for t, b in enumerate(seq):
                    r = pos(b) * (close[t + 1] - close[t]) - 1e-3 * close[t] * abs(pos(b) - pos(prev))
                    total += gamma ** t * r
                    prev = b
                best = max(best, total)
            assert Q[0, p, a] == pytest.approx(best, rel=1e-12, abs=1e-12)
