"""The JAX env, ``simulate`` and the Q-teacher against the NumPy step-by-step oracle."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import shared_file
from tests.env_oracle import OracleEnv, oracle_q_teacher, oracle_simulate
from hftjax.env import (episode_teacher, make_params, market_from_arrays, q_teacher, reset, reset_to,
                        simulate, step, step_no_reset)
from hftjax.errors import ConfigError
from hftjax.synth import generate

FEE, HOLD = 2e-4, 0.2


def real_close(rows=1500):
    path = shared_file("binance_ETHUSDT_1m_2021-04-02_2021-06-15.parquet")
    return pq.read_table(path)["close"].to_numpy()[:rows]


def synth_close(rows=1500):
    return generate(rows, seed=5).table["close"]


PRICES = {"real": real_close, "synthetic": synth_close}


def assert_rewards_close(actual, expected):
    # 1e-5 relative, against the scale of the rewards (a reward can cancel to ~0)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("prices", sorted(PRICES))
@pytest.mark.parametrize("levels", [2, 5])
@pytest.mark.parametrize("start", ["flat", "full"])
def test_simulate_matches_oracle(prices, levels, start):
    close = PRICES[prices]()
    initial = 0 if start == "flat" else levels - 1
    rng = np.random.default_rng(levels)
    actions = rng.integers(0, levels, (6, len(close) - 1))
    actions[1] = np.repeat(rng.integers(0, levels, 15), len(close))[: len(close) - 1]  # few trades
    out = simulate(close, actions, fee=FEE, max_holding=HOLD, levels=levels, initial_action=initial)
    for b in range(len(actions)):
        ref = oracle_simulate(close, actions[b], fee=FEE, max_holding=HOLD, levels=levels, initial_action=initial)
        assert_rewards_close(np.asarray(out["rewards"][b]), ref["rewards"])
        for key in ("final_balance", "required_money", "return_rate"):
            np.testing.assert_allclose(out[key][b], ref[key], rtol=1e-4, err_msg=key)
    single = simulate(close, actions[0], fee=FEE, max_holding=HOLD, levels=levels, initial_action=initial)
    np.testing.assert_array_equal(single["rewards"], out["rewards"][0])


@pytest.mark.parametrize("prices", sorted(PRICES))
@pytest.mark.parametrize("levels", [2, 5])
def test_teacher_matches_plain_loop(prices, levels):
    close = PRICES[prices](400)
    expected = oracle_q_teacher(close, max_holding=HOLD, levels=levels)
    got = np.asarray(q_teacher(close, max_holding=HOLD, levels=levels))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    per_chunk = np.asarray(episode_teacher(close, 150, max_holding=HOLD, levels=levels))
    for i in range(2):
        chunk = close[i * 150:(i + 1) * 150]
        ref = oracle_q_teacher(chunk, max_holding=HOLD, levels=levels)
        np.testing.assert_allclose(per_chunk[i * 150:(i + 1) * 150], ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    assert not per_chunk[300:].any()  # rows past the last whole chunk


def make_market(close, levels, episode_len, seed=0):
    rng = np.random.default_rng(seed)
    rows = len(close)
    teacher = episode_teacher(close, episode_len, max_holding=HOLD, levels=levels)
    return market_from_arrays(close, teacher, rng.normal(size=(rows, 7)), rng.normal(size=(rows, 3)),
                              rng.normal(size=(rows, 2)))


@jax.jit
def run_episode(params, episode, start_action, actions):
    """Roll one episode with given actions (no auto-reset)."""
    obs, state = reset_to(episode, start_action, params)

    def body(state, action):
        obs, state, reward, done, info = step_no_reset(state, action, params)
        return state, (obs, reward, done, info)

    return obs, jax.lax.scan(body, state, actions)[1]


@pytest.mark.parametrize("prices", sorted(PRICES))
@pytest.mark.parametrize("levels", [2, 5])
@pytest.mark.parametrize("start", ["flat", "full"])
def test_env_episode_matches_oracle(prices, levels, start):
    close, episode_len = PRICES[prices](1200), 300
    market = make_market(close, levels, episode_len)
    params = make_params(market, episode_len=episode_len, fee=FEE, max_holding=HOLD)
    initial = 0 if start == "flat" else levels - 1
    actions = np.random.default_rng(7).integers(0, levels, episode_len - 1)
    obs0, (obs, rewards, done, info) = run_episode(params, 2, initial, actions)
    oracle = OracleEnv(close, fee=FEE, max_holding=HOLD, levels=levels, single=np.asarray(market.single),
                       trend=np.asarray(market.trend), context=np.asarray(market.context))
    ref_obs = oracle.reset(2 * episode_len, episode_len, initial)
    np.testing.assert_array_equal(obs0.single, ref_obs["single"].astype(np.float32))
    teacher = np.asarray(market.teacher)
    for i, action in enumerate(actions):
        ref_obs, ref_reward, ref_done, ref_info = oracle.step(int(action))
        assert bool(done[i]) == ref_done
        assert int(obs.prev_action[i]) == ref_obs["prev_action"] == action
        np.testing.assert_array_equal(obs.trend[i], ref_obs["trend"].astype(np.float32))
        np.testing.assert_array_equal(obs.context[i], ref_obs["context"].astype(np.float32))
        np.testing.assert_array_equal(obs.demo[i], teacher[ref_obs["row"], action])
    ref = oracle_simulate(close[2 * episode_len: 3 * episode_len], actions, fee=FEE, max_holding=HOLD,
                          levels=levels, initial_action=initial)
    assert_rewards_close(np.asarray(rewards), ref["rewards"])
    for key in ("final_balance", "required_money", "return_rate"):
        np.testing.assert_allclose(info[key][-1], ref_info[key], rtol=1e-4, err_msg=key)


@pytest.fixture(scope="module")
def small_params():
    close = synth_close(600)
    return make_params(make_market(close, 2, 100), episode_len=100, fee=FEE, max_holding=HOLD)


def test_auto_reset_reports_final_observation(small_params):
    key = jax.random.key(0)
    obs, state = reset_to(1, 1, small_params)
    step_jit = jax.jit(step)
    for i in range(99):
        obs, state, reward, terminated, truncated, info = step_jit(jax.random.fold_in(key, i), state, 0, small_params)
        assert bool(terminated) == (i == 98) and not bool(truncated)
    assert int(info["final_observation"].prev_action) == 0
    np.testing.assert_array_equal(info["final_observation"].single, small_params.market.single[199])
    assert int(state.row) % 100 == 0 and int(state.last_row) == int(state.row) + 99  # a fresh episode
    assert float(state.balance) == 0.0
    # the final accounting of the finished episode: held 1 at the start, then flat
    ref = oracle_simulate(np.asarray(small_params.market.close)[100:200].astype(np.float64), np.zeros(99, int),
                          fee=FEE, max_holding=HOLD, initial_action=1)
    np.testing.assert_allclose(info["required_money"], ref["required_money"], rtol=1e-4)


def test_reset_start_rules_and_padding(small_params):
    keys = jax.random.split(jax.random.key(1), 512)
    _, states = jax.vmap(reset, in_axes=(0, None))(keys, small_params)
    assert set(np.asarray(states.prev_action).tolist()) == {0, 1}
    assert set((np.asarray(states.row) // 100).tolist()) == set(range(6))
    fixed = small_params.replace(random_start=jnp.bool_(False), start_action=jnp.int32(1))
    _, states = jax.vmap(reset, in_axes=(0, None))(keys, fixed)
    assert set(np.asarray(states.prev_action).tolist()) == {1}
    padded = make_params(small_params.market, episode_len=100, episode_starts=[200, 400], pad_to=5)
    _, states = jax.vmap(reset, in_axes=(0, None))(keys, padded)
    assert set(np.asarray(states.row).tolist()) == {200, 400}


def test_no_retrace_when_param_values_change(small_params):
    @jax.jit
    @chex.assert_max_traces(n=1)
    def step_traced(key, state, action, params):
        return step(key, state, action, params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def reset_traced(key, params):
        return reset(key, params)

    variants = [small_params,
                small_params.replace(fee=jnp.float32(1e-3), max_holding=jnp.float32(3.0)),
                small_params.replace(random_start=jnp.bool_(False), start_action=jnp.int32(1)),
                small_params.replace(episode_len=jnp.int32(50), num_episodes=jnp.int32(3)),
                make_params(small_params.market, episode_len=120, fee=0.0, max_holding=1.5, pad_to=6)]
    for i, params in enumerate(variants):
        key = jax.random.key(i)
        _, state = reset_traced(key, params)
        step_traced(key, state, i % 2, params)
    chex.clear_trace_counter()


def test_jit_and_no_jit_agree(small_params):
    key = jax.random.key(3)

    def episode(key):
        obs, state = reset(key, small_params)
        out = []
        for i in range(3):
            obs, state, reward, term, trunc, info = step(jax.random.fold_in(key, i), state, i % 2, small_params)
            out.append((obs, state, reward, info["return_rate"]))
        return out

    with jax.disable_jit():
        eager = episode(key)
    jitted = jax.jit(episode)(key)
    # XLA may fuse multiply-adds: cash (notional ~400) then differs in its last float32 bits
    chex.assert_trees_all_close(eager, jitted, rtol=1e-6, atol=1e-4)


def test_bad_configs_name_the_option(small_params):
    market = small_params.market
    with pytest.raises(ConfigError, match="episode_len"):
        make_params(market, episode_len=10_000)
    with pytest.raises(ConfigError, match="episode_starts"):
        make_params(market, episode_len=100, episode_starts=[550])
    with pytest.raises(ConfigError, match="start_action"):
        make_params(market, start_action=2)
    with pytest.raises(ConfigError, match="max_holding"):
        make_params(market, max_holding=0.0)
    close = np.linspace(100, 110, 20)
    with pytest.raises(ConfigError, match="actions"):
        simulate(close, np.zeros(20, int), fee=FEE, max_holding=HOLD)
    with pytest.raises(ConfigError, match="actions"):
        simulate(close, np.full(19, 2), fee=FEE, max_holding=HOLD)
    with pytest.raises(ConfigError, match="levels"):
        q_teacher(close, max_holding=HOLD, levels=1)


def test_load_split_keeps_the_teacher_in_the_given_cache_and_never_writes_the_dataset(tmp_path):
    from hftjax.cli import main
    from hftjax.dataset import load_split

    assert main(["synth", "--rows", "6000", "--seed", "2", "--out", str(tmp_path / "m.parquet")]) == 0
    assert main(["prepare", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "d"), "--chunk-len", "360"]) == 0
    before = sorted(p.name for p in (tmp_path / "d").iterdir())
    cache = tmp_path / "run" / "teacher"
    market, labels = load_split(tmp_path / "d", "train", max_holding=HOLD, teacher_cache=cache)
    table = pq.read_table(tmp_path / "d" / "train.parquet")
    assert market.single.shape == (table.num_rows, 36) and market.trend.shape[1] == 9
    np.testing.assert_array_equal(market.close, table["close"].to_numpy().astype(np.float32))
    assert len(list(cache.glob("train-chunk-*.npy"))) == 1
    expected = episode_teacher(table["close"].to_numpy(), labels["chunk_len"], max_holding=HOLD)
    np.testing.assert_array_equal(market.teacher, expected)
    again, _ = load_split(tmp_path / "d", "train", max_holding=HOLD, teacher_cache=cache)
    np.testing.assert_array_equal(again.teacher, market.teacher)
    uncached, _ = load_split(tmp_path / "d", "train", max_holding=HOLD)
    np.testing.assert_array_equal(uncached.teacher, market.teacher)
    whole, _ = load_split(tmp_path / "d", "valid", max_holding=HOLD, episode="split")
    assert whole.teacher.shape[0] == whole.close.shape[0] and whole.teacher[:-1].any()
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == before  # the prepared dataset is only read


def test_teacher_fee_names_resolve_against_the_oracle(tmp_path):
    """``env.teacher_fee``: "reference" is the reference's 1e-3, "trading" the run's fee, a
    number itself; with ``env.teacher_gamma``, each loaded teacher's first chunk equals the NumPy
    DP at that fee and discount."""
    from hftjax.cli import main
    from hftjax.dataset import load_market
    from hftjax.env.config import EnvConfig

    assert main(["synth", "--rows", "3000", "--seed", "4", "--out", str(tmp_path / "m.parquet")]) == 0
    assert main(["prepare", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "d"), "--chunk-len", "200"]) == 0
    close = pq.read_table(tmp_path / "d" / "train.parquet")["close"].to_numpy()[:200]
    for teacher_fee, rate, gamma in (("reference", 1e-3, 0.99), ("trading", 5e-4, 0.99), (3e-5, 3e-5, 0.9)):
        env = EnvConfig(fee=5e-4, max_holding=HOLD, teacher_fee=teacher_fee, teacher_gamma=gamma)
        assert env.teacher_fee_rate() == rate
        market, _ = load_market(env, tmp_path / "d", "train")
        expected = oracle_q_teacher(close, fee=rate, max_holding=HOLD, levels=env.levels, gamma=gamma)
        np.testing.assert_allclose(market.teacher[:200], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    for bad in ("cheap", 1.5, -1e-3):
        with pytest.raises(ConfigError, match="teacher_fee"):
            EnvConfig(teacher_fee=bad)
