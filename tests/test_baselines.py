"""Rule baselines: MACD crossover positions against a hand-worked case and a float64 loop."""

from __future__ import annotations

import numpy as np
import pytest

from hftjax.baselines.macd import macd_actions
from hftjax.errors import ConfigError


def loop_macd(close, fast, slow, signal):
    """(T-1,) booleans MACD > signal, in float64, one row at a time (pandas ewm adjust=False)."""
    def ema(x, span):
        a, out = 2.0 / (span + 1.0), [x[0]]
        for v in x[1:]:
            out.append(a * v + (1 - a) * out[-1])
        return np.array(out)
    x = np.asarray(close[:-1], np.float64)
    line = ema(x, fast) - ema(x, slow)
    return line, ema(line, signal)


def test_hand_worked_crossovers():
    # fast=1 (EMA = close), slow=3 (a=1/2), signal=2 (a=2/3) on closes 10 12 12 8 8:
    # slow EMA 10, 11, 11.5, 9.75, 8.875 -> MACD 0, 1, .5, -1.75, -.875
    # signal 0, .667, .556, -.981, -.910 -> long only where MACD is strictly above: steps 1 and 4
    close = [10.0, 12.0, 12.0, 8.0, 8.0, 99.0]
    np.testing.assert_array_equal(macd_actions(close, fast=1, slow=3, signal=2), [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(macd_actions(close, fast=1, slow=3, signal=2, levels=5), [0, 4, 0, 0, 4])


def test_decides_from_past_closes_only():
    close = 2000 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 1e-3, 3000)))
    base = macd_actions(close)
    changed = close.copy()
    changed[1500:] *= 1.3  # the future from step 1500 on
    np.testing.assert_array_equal(macd_actions(changed)[:1500], base[:1500])


def test_default_spans_match_a_float64_loop():
    close = 2000 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 1e-3, 5000)))
    line, signal = loop_macd(close, 12, 26, 9)
    ours = macd_actions(close) == 1
    clear = np.abs(line - signal) > 1e-6 * close[0]  # away from exact ties, float32 must agree
    np.testing.assert_array_equal(ours[clear], (line > signal)[clear])
    assert clear.mean() > 0.99 and 0.2 < ours.mean() < 0.8


def test_bad_input_names_the_option():
    with pytest.raises(ConfigError, match="'close'"):
        macd_actions([1.0, -2.0, 3.0])
    with pytest.raises(ConfigError, match="'macd'"):
        macd_actions([1.0, 2.0, 3.0], fast=26, slow=12)


def test_dqn_and_double_dqn_targets_by_hand():
    """Online Q(s') = [0, 1] (argmax 1), target Q(s') = [5, 2] (argmax 0), Q(s, a=0) = 0, r = 1,
    gamma 0.5: Double DQN bootstraps target[online argmax] = 2, TD (1 + 1 - 0)^2 = 4; DQN
    bootstraps max target = 5, TD (1 + 2.5 - 0)^2 = 12.25."""
    import jax.numpy as jnp

    from hftjax.learner.dqn import Transition, ddqn_loss, hparams
    from hftjax.env import market_from_arrays

    market = market_from_arrays(np.array([1.0, 2.0, 3.0]), np.zeros((3, 2, 2)))
    online = jnp.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    target = jnp.array([[0.0, 0.0], [5.0, 2.0], [0.0, 0.0]])
    batch = Transition(row=jnp.array([0]), prev_action=jnp.array([0]), action=jnp.array([0]),
                       reward=jnp.array([1.0]), done=jnp.array([False]))
    for double, td in ((1.0, 4.0), (0.0, 12.25)):
        hp = hparams({"lr": 1e-3, "gamma": 0.5, "tau": 0.005, "epsilon_start": 0.1, "epsilon_end": 0.1,
                      "epsilon_decay_epochs": 1.0, "double": double})
        loss, parts = ddqn_loss(online, target, lambda p, obs: p[obs.row], market, batch, hp)
        assert float(parts["td"]) == pytest.approx(td) and float(loss) == pytest.approx(td)  # kl_weight 0


def test_baseline_population_windows_and_switches():
    from hftjax.baselines.config import BaselineConfig
    from hftjax.baselines.learned import build_baselines
    from hftjax.subagent.config import load_config

    # chunks 0 1 2 | gap (chunk 3 excluded) | 4 5 of 100 rows; validation chunks 0 and 1
    labels = {"chunk_len": 100, "slope": {"chunks": {"0": [0], "1": [1, 4], "2": [2], "3": [5], "4": []}}}
    valid = {"chunk_len": 100, "slope": {"chunks": {"0": [], "1": [0], "2": [1], "3": [], "4": []}}}
    learner = load_config(overrides=["seeds=[0,1]", "lr=0.003"])
    setup, spec, members = build_baselines(BaselineConfig(window_jitter=0.3), learner, 2, labels, valid)
    assert [(m["agent"], m["seed"]) for m in members] == [(a, s) for a in ("dqn", "ddqn", "cdqnrp") for s in (0, 1)]
    np.testing.assert_array_equal(spec.train_starts[0], [0, 100, 200, 400, 500])
    np.testing.assert_array_equal(spec.hp.double, [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(spec.hp.kl_weight, 0)  # no teacher
    np.testing.assert_allclose(spec.hp.lr, 0.003)  # the sub-agents' learner settings
    # only CDQNRP windows move, by up to 30 rows, and never from a chunk whose successor is missing
    np.testing.assert_array_equal(spec.train_jitter[:4], 0)
    np.testing.assert_array_equal(spec.train_jitter[4], [30, 30, 0, 30, 0])
    assert type(setup.net).__name__ == "MLPQNet"


def test_baseline_options_are_checked():
    from hftjax.run_config import load_run_config

    cfg = load_run_config(None, overrides=['algorithms=["ddqn"]'], default_section="baselines")
    assert cfg.baselines.algorithms == ("ddqn",)
    with pytest.raises(ConfigError, match="baselines.algorithms"):
        load_run_config(None, overrides=['baselines.algorithms=["ppo2"]'])


def test_iv_hysteresis_by_hand(tmp_path):
    from hftjax.baselines.iv import iv_actions, split_imbalance
    from hftjax.errors import DataError

    # enter above +0.3, leave below -0.3, hold in between; the last row has no step
    imbalance = [0.1, 0.5, 0.0, -0.2, -0.4, 0.29, 0.31, 0.0, 0.9]
    np.testing.assert_array_equal(iv_actions(imbalance), [0, 1, 1, 1, 0, 0, 1, 1])
    # with both thresholds at 0 an imbalance of exactly 0 holds the position too
    np.testing.assert_array_equal(iv_actions(imbalance, enter=0.0, exit=0.0, levels=3), [2, 2, 2, 0, 0, 2, 2, 2])
    with pytest.raises(ConfigError, match="'iv'"):
        iv_actions(imbalance, enter=-0.5, exit=0.5)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"close": [1.0, 2.0]}), tmp_path / "test.parquet")  # an ohlcv-only split
    with pytest.raises(DataError, match=r"test\.parquet, column 'volume_imbalance': has no order book"):
        split_imbalance(tmp_path, "test")


def test_ppo_advantages_match_a_numpy_loop():
    """GAE against a float64 backward loop, with an episode ending mid-rollout."""
    import jax.numpy as jnp

    from hftjax.baselines.ppo import Rollout, advantages

    rng = np.random.default_rng(3)
    T, N, gamma, lam = 7, 3, 0.9, 0.8
    reward, value, last = rng.normal(size=(T, N)), rng.normal(size=(T, N)), rng.normal(size=N)
    done = np.zeros((T, N), bool)
    done[2, 0] = done[5, 1] = True
    zeros = jnp.zeros((T, N), jnp.int32)
    rollout = Rollout(zeros, zeros, zeros, jnp.zeros((T, N)), jnp.asarray(value, jnp.float32),
                      jnp.asarray(reward, jnp.float32), jnp.asarray(done))
    adv, returns = advantages(rollout, jnp.asarray(last, jnp.float32), gamma, lam)
    expected = np.zeros((T, N))
    for n in range(N):
        running, next_value = 0.0, last[n]
        for t in reversed(range(T)):
            live = 0.0 if done[t, n] else 1.0
            delta = reward[t, n] + gamma * live * next_value - value[t, n]
            running = delta + gamma * lam * live * running
            expected[t, n], next_value = running, value[t, n]
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns, expected + value, rtol=1e-5, atol=1e-5)


def test_ppo_learns_a_market_its_features_announce():
    """The single feature is the sign of the next move: PPO's greedy policy must approach the
    foresight policy's validation return (long before every rise), from a near-uniform start."""
    import jax.numpy as jnp

    from hftjax.baselines import ppo
    from hftjax.baselines.config import BaselineConfig
    from hftjax.env import market_from_arrays
    from hftjax.env.params import TradingSettings
    from hftjax.env.simulate import simulate
    from hftjax.subagent.config import load_config

    rng = np.random.default_rng(0)
    rows, chunk, fee = 2000, 100, 2e-4
    moves = rng.choice([-1.0, 1.0], rows - 1)
    close = 100 * np.cumprod(np.concatenate([[1.0], 1 + 0.005 * moves]))
    market = market_from_arrays(close, np.zeros((rows, 2, 2)), single=np.concatenate([moves, [0.0]])[:, None],
                                trend=np.zeros((rows, 1)))
    trading = TradingSettings(fee=jnp.float32(fee), max_holding=jnp.float32(1.0))
    cfg = BaselineConfig(hidden=16, ppo_envs=16, ppo_rollout=32, ppo_passes=2, ppo_lr=1e-3)
    setup, spec, members = ppo.build_ppo(cfg, load_config(overrides=["seeds=[0,1]"]), 2, chunk,
                                         np.arange(15) * chunk, np.arange(15, 20) * chunk)
    assert setup.updates == 6  # 2 passes x 15 chunks x 99 steps / (16 x 32)
    state = ppo.population_init(setup, ppo.ppo_keys(members), spec, market, trading)
    _, untrained = ppo.population_validate(setup, state, spec, market, trading)
    for _ in range(2):
        state, metrics = ppo.population_epoch(setup, state, spec, market, trading)
        state, score = ppo.population_validate(setup, state, spec, market, trading)
    assert np.all(metrics["nonfinite"] == 0) and np.all(metrics["entropy"] < 0.5 * np.log(2))
    foresight = np.mean([float(simulate(close[s:s + chunk], (moves[s:s + chunk - 1] > 0).astype(np.int32),
                                        fee=fee, max_holding=1.0)["return_rate"]) for s in range(1500, 2000, chunk)])
    assert foresight > 0.2
    assert np.min(untrained) < 0.5 * foresight  # a random policy is far from it
    np.testing.assert_array_less(0.9 * foresight, np.asarray(state.best_score))
