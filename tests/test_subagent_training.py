"""Sub-agent training: determinism, resume, best-epoch selection, fast mode, CLI, and a probe
environment whose optimal Q is known in closed form."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hftjax.cli import main
from hftjax.dataset import learning_holding, learning_settings, trading_settings
from hftjax.env import EnvConfig, episode_teacher, market_from_arrays
from hftjax.errors import RunDirError
from hftjax.learner.chunk_epoch import train_epoch
from hftjax.learner.population import init_member, population_validate
from hftjax.subagent.config import load_config
from hftjax.subagent.population import build_population
from hftjax.subagent.run import subagent_keys, train_subagents

SMALL = ["epochs=2", "hidden=16", "batch_size=64", "buffer_size=6000", "learning_starts=100",
         'agents=["slope_1","vol_3"]', "seeds=[0]"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("subagent")
    assert main(["synth", "--rows", "16000", "--seed", "3", "--out", str(root / "m.parquet")]) == 0
    assert main(["prepare", str(root / "m.parquet"), "--out", str(root / "data"), "--chunk-len", "240"]) == 0
    return root / "data"


@pytest.fixture(scope="module")
def reference_run(data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "a"
    state, trainer = train_subagents(load_config(overrides=SMALL), data_dir, run, progress=False)
    return run, state, trainer


def leaves_equal(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_same_seed_same_params(data_dir, reference_run, tmp_path):
    _, state, _ = reference_run
    again, _ = train_subagents(load_config(overrides=SMALL), data_dir, tmp_path / "b", progress=False)
    assert leaves_equal(state.params, again.params) and leaves_equal(state.best_params, again.best_params)
    other, _ = train_subagents(load_config(overrides=SMALL[:-1] + ["seeds=[1]"]), data_dir, tmp_path / "c",
                               progress=False)
    assert not leaves_equal(state.params, other.params)


def test_resume_equals_uninterrupted(data_dir, reference_run, tmp_path):
    _, state, _ = reference_run
    cfg = load_config(overrides=SMALL)
    half, _ = train_subagents(cfg, data_dir, tmp_path / "r", stop_after=1, progress=False)
    assert int(half.epoch[0]) == 1
    resumed, _ = train_subagents(cfg, data_dir, tmp_path / "r", progress=False)  # picks up at epoch 1
    assert int(resumed.epoch[0]) == 2
    for field in ("params", "target_params", "opt_state", "best_params", "best_score", "replay"):
        assert leaves_equal(getattr(state, field), getattr(resumed, field)), field
    lines = [json.loads(x) for x in (tmp_path / "r" / "subagents_log.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 0, 1, 1]
    with pytest.raises(RunDirError, match=r"another configuration \(differs in lr\)"):
        train_subagents(load_config(overrides=SMALL + ["lr=0.001"]), data_dir, tmp_path / "r", progress=False)


def test_best_epoch_really_is_best(reference_run):
    run, state, trainer = reference_run
    lines = [json.loads(x) for x in (run / "subagents_log.jsonl").read_text().splitlines()]
    for i, member in enumerate(trainer.members):
        scores = [x["valid_return_rate"] for x in lines if x["agent"] == member["agent"]]
        assert float(state.best_score[i]) == pytest.approx(max(scores))
        assert int(state.best_epoch[i]) == int(np.argmax(scores))
    # the kept params reproduce the kept score when validated again
    rescored = state.replace(params=state.best_params, best_score=jnp.full_like(state.best_score, -jnp.inf))
    _, score = population_validate(trainer.setup, rescored, trainer.spec, trainer.valid_market, trainer.trading)
    np.testing.assert_allclose(score, state.best_score, rtol=1e-6)


def test_fast_mode_keeps_the_replay_ratio(data_dir, tmp_path):
    assert load_config(mode="fast").batch_size == 512 * 16  # the update batch scales with the episodes
    assert load_config(overrides=["num_envs=4"], mode="fast").batch_size == 512 * 4
    cfg = load_config(overrides=SMALL + ["epochs=1", "num_envs=4", "batch_size=256"], mode="fast")
    state, trainer = train_subagents(cfg, data_dir, tmp_path / "f", progress=False)
    lines = [json.loads(x) for x in (tmp_path / "f" / "subagents_log.jsonl").read_text().splitlines()]
    chunks = np.asarray(trainer.spec.num_train)
    transitions = chunks * (trainer.setup.chunk_len - 1)
    assert np.array_equal(np.asarray(state.replay.count), transitions)
    for line, n in zip(lines, transitions):
        assert line["updates"] == pytest.approx(n / (4 * 100) * 10, abs=10)  # 10 updates / 100 steps of 4 envs


def test_cli_train_subagents(data_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train-subagents", str(data_dir), "--out", str(out), "--quiet", *SMALL, "epochs=1"]) == 0
    assert "best epoch 0" in capsys.readouterr().out
    meta = json.loads((out / "subagents.json").read_text())
    assert [m["agent"] for m in meta["members"]] == ["slope_1", "vol_3"]
    assert meta["members"][0]["alpha"] == 1.0 and meta["members"][1]["alpha"] == 1.0  # reference alphas
    assert (out / "subagents_checkpoints" / "1").exists()
    assert main(["train-subagents", str(data_dir), "--out", str(tmp_path / "bad"), "nonsense=1"]) == 2
    assert "option 'subagents.nonsense'" in capsys.readouterr().err


def probe_market(chunks=150, fee=0.01, seed=0):
    """Two-step episodes whose observation reveals the whole future of the episode, so the
    optimal Q is exactly the teacher with the trading fee: Q*(t, p, a) = r(t, p, a) + g max_b Q*(t+1, a, b)."""
    rng = np.random.default_rng(seed)
    rows = 3 * chunks
    close = 100 + np.cumsum(rng.choice([-1.0, 1.0], rows) * rng.uniform(0.5, 1.5, rows))
    change = np.append(np.diff(close), 0.0)
    first = (np.arange(rows) % 3 == 0).astype(float)
    single = np.column_stack([change, np.roll(change, -1) * first, first, close / 100 - 1])
    teacher = episode_teacher(close, 3, fee=fee, max_holding=1.0, gamma=0.9)
    return market_from_arrays(close, teacher, single, np.zeros((rows, 1)), np.zeros((rows, 1))), np.asarray(teacher)


def test_probe_converges_to_closed_form_q():
    market, q_star = probe_market()
    chunks = market.num_rows // 3
    labels = {"chunk_len": 3, "slope": {"chunks": {"1": list(range(chunks))}}}
    cfg = load_config(overrides=["hidden=32", "batch_size=128", "buffer_size=4000", "learning_starts=200",
                                 "steps_per_iteration=10", "updates_per_iteration=10", "lr=0.003",
                                 "gamma=0.9", "alpha=0.0", "tau=0.05",
                                 "epsilon_start=1.0", "epsilon_end=1.0", 'agents=["slope_1"]'])
    setup, spec, members = build_population(cfg, 2, labels, labels)
    trading = trading_settings(EnvConfig(fee=0.01, max_holding=1.0))  # coins given: no data needed
    one = jax.tree.map(lambda x: x[0], spec)
    state = jax.jit(lambda k: init_member(setup, k, one.hp, market))(subagent_keys(members)[0])
    epoch = jax.jit(lambda s: train_epoch(setup, s, one, market, trading))
    for _ in range(25):
        state, _ = epoch(state)
    rows = np.flatnonzero(np.arange(market.num_rows) % 3 < 2)
    errors, scale = [], np.abs(q_star[rows]).mean()
    for p in (0, 1):
        q = setup.net.apply(state.params, market.single[rows], market.trend[rows], jnp.full(len(rows), p))
        errors.append(np.abs(np.asarray(q) - q_star[rows, p]))
    error = np.mean(errors)
    assert error < 0.1 * scale, (error, scale)
    untrained = init_member(setup, jax.random.key(9), one.hp, market)
    q0 = setup.net.apply(untrained.params, market.single[rows], market.trend[rows], jnp.zeros(len(rows), jnp.int32))
    assert np.abs(np.asarray(q0) - q_star[rows, 0]).mean() > 3 * error  # learning did the work


def test_one_compile_covers_market_settings_and_hyperparameters(data_dir):
    """A changed fee, max_holding, lr, gamma, alpha, epsilon schedule or seed reuses the compiled epoch."""
    import chex

    from hftjax.subagent.run import SubAgentTrainer

    @functools.partial(jax.jit, static_argnums=0)
    @chex.assert_max_traces(n=1)
    def member_epoch(setup, state, spec, market, trading):
        first = lambda tree: jax.tree.map(lambda x: x[0], tree)  # noqa: E731
        return train_epoch(setup, first(state), first(spec), market, trading)

    changed = ["seeds=[7]", "lr=0.001", "gamma=0.9", "alpha=2.0", "epsilon_start=0.9", "epsilon_end=0.2",
               "epsilon_decay_epochs=3"]
    trainers = [SubAgentTrainer(load_config(overrides=SMALL[:-1] + extra), env, data_dir)
                for extra, env in ((["seeds=[0]"], EnvConfig()), (changed, EnvConfig(fee=4e-4, max_holding=0.05)))]
    assert trainers[0].setup == trainers[1].setup  # same compiled structure
    assert float(trainers[1].spec.hp.lr[0]) == pytest.approx(0.001)
    assert float(trainers[1].spec.hp.kl_weight[0]) == pytest.approx(2.0)
    rewards = []
    for t in trainers:
        _, metrics = member_epoch(t.setup, t.init(), t.spec, t.train_market, t.trading)
        rewards.append(float(metrics["train_reward"]))
    chex.clear_trace_counter()
    assert rewards[0] != rewards[1]  # the traced values did reach the computation


def strict_json_lines(path):
    """Lines of a JSONL file, refusing NaN/Infinity as strict JSON readers do."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return [json.loads(x, parse_constant=refuse) for x in path.read_text().splitlines()]


def test_diverging_learning_rate_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path, capsys):
    """Epoch 0 collects without updating (learning_starts above its transitions), epoch 1 updates
    with lr=1e30: training stops there, says so on one line naming the member and epoch, goes
    back to checkpoint 1 and keeps its best params (epoch 0's) as the stage's result."""
    labels = json.loads((data_dir / "train_labels.json").read_text())
    collected = len(labels["slope"]["chunks"]["1"]) * (labels["chunk_len"] - 1)
    run = tmp_path / "run"
    args = ["epochs=3", "hidden=16", "batch_size=64", f"buffer_size={4 * collected}",
            f"learning_starts={collected + 10}", 'agents=["slope_1"]', "lr=1e30"]
    assert main(["train-subagents", str(data_dir), "--out", str(run), "--quiet", *args]) == 0
    err = [x for x in capsys.readouterr().err.splitlines() if "warning" in x]
    assert len(err) == 1 and "sub-agent training stopped in epoch 1 (training diverged for sub-agent agent=slope_1, " \
        "seed=0: non-finite" in err[0] and "the stage keeps the best validated params of epoch 0" in err[0], err
    from hftjax.learner.checkpoint import Checkpoints, restore_best
    from hftjax.subagent.run import SubAgentTrainer
    checkpoints = Checkpoints(run / "subagents_checkpoints")
    assert checkpoints.epochs() == [1]
    trainer = SubAgentTrainer(load_config(overrides=args), EnvConfig(), data_dir)
    kept, meta = checkpoints.restore(1, trainer.init())
    checkpoints.close()
    assert meta["epoch"] == 1 and all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(kept.params))
    lines = strict_json_lines(run / "subagents_log.jsonl")
    assert [x["epoch"] for x in lines] == [0, 1] and lines[0]["updates"] == 0 and lines[1]["loss"] is None
    stopped = json.loads((run / "subagents.json").read_text())["stopped"]
    assert (stopped["member"], stopped["epoch"]) == ("sub-agent agent=slope_1, seed=0", 1)
    best = restore_best(run / "subagents_best", "train-subagents")
    assert np.asarray(best["best_epoch"]).tolist() == [0]
    for got, want in zip(jax.tree.leaves(best["best_params"]), jax.tree.leaves(kept.best_params)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_q_values_past_the_reward_bound_stop_training(data_dir, tmp_path, capsys):
    """lr=10 keeps everything finite but drives |Q| far past max|r| / (1 - gamma): stopped in
    epoch 0 with the bound in the message; the bound itself is checked by hand."""
    import pyarrow.parquet as pq

    from hftjax.env.params import TradingSettings
    from hftjax.learner.loop import Q_BOUND_SLACK, q_bound

    close = np.r_[10.0, 12.0, 9.0, np.full(17, 9.5)]  # largest step 3, largest price 12, 20 rows
    trading = TradingSettings(fee=np.float32(1e-3), max_holding=np.float32(2.0))
    step = 2.0 * (3.0 + 1e-3 * 12.0)  # the most one step can pay
    np.testing.assert_allclose(q_bound(close, trading, np.array([0.9, 1.0, 0.99])),  # horizon: 1/(1-gamma), at most 20
                               [Q_BOUND_SLACK * step * 10, Q_BOUND_SLACK * step * 20, Q_BOUND_SLACK * step * 20],
                               rtol=1e-6)
    assert q_bound(close, TradingSettings(fee=np.float32(0), max_holding=np.float32(1e-6)), np.array([0.9]))[0] == \
        Q_BOUND_SLACK  # floored: an untrained net's outputs are of order 1 whatever the price level

    run = tmp_path / "run"
    assert main(["train-subagents", str(data_dir), "--out", str(run), "--quiet", "epochs=2", "hidden=16",
                 "batch_size=64", 'agents=["slope_1"]', "lr=10"]) == 2
    err = capsys.readouterr().err.strip()
    assert "training diverged for sub-agent agent=slope_1, seed=0 in epoch 0" in err and "past the bound" in err, err
    line = json.loads((run / "subagents_log.jsonl").read_text().splitlines()[0])
    close = pq.read_table(data_dir / "train.parquet", columns=["close"])["close"].to_numpy()
    bound = q_bound(close, learning_settings(EnvConfig(), data_dir), np.array([load_config().gamma]))[0]
    assert line["nonfinite"] == 0 and line["q_abs_max"] > bound
    assert not list((run / "subagents_checkpoints").iterdir())


def test_corrupted_checkpoint_is_named_and_an_earlier_one_resumes(data_dir, reference_run, tmp_path, capsys):
    run, state, _ = reference_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    data_files = list((copy / "subagents_checkpoints" / "2").rglob("d/*"))
    assert data_files
    for f in data_files:  # a same-size byte flip, which orbax alone reads without a word
        flipped = bytearray(f.read_bytes())
        flipped[len(flipped) // 2] ^= 0x01
        f.write_bytes(bytes(flipped))
    assert main(["train-subagents", str(data_dir), "--out", str(copy), "--quiet", *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert str(copy / "subagents_checkpoints" / "2") in err and "--resume-from 1" in err and "\n" not in err, err
    assert "differs from its checksum" in err
    resumed, _ = train_subagents(load_config(overrides=SMALL), data_dir, copy, resume_from=1, progress=False)
    for field in ("params", "best_params", "best_score", "replay"):
        assert leaves_equal(getattr(state, field), getattr(resumed, field)), field
    assert (copy / "subagents_checkpoints.discarded" / "2").is_dir()  # moved aside, not deleted


def test_two_processes_on_one_run_directory(data_dir, tmp_path):
    """Exactly one trains; the other gets the lock error naming the first one's pid."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "hftjax.cli", "train-subagents", str(data_dir), "--out", str(run), "--quiet",
               *SMALL]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((run / ".lock").exists() and (run / ".lock").read_text() == str(first.pid)):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(command, capture_output=True, text=True)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == 2 and f"in use by process {first.pid}" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    lines = strict_json_lines(run / "subagents_log.jsonl")
    assert [x["epoch"] for x in lines] == [0, 0, 1, 1]  # one run's lines, no duplicates
    assert not list(run.rglob("*orbax-checkpoint-tmp*"))


def test_learn_notional_makes_learning_independent_of_the_position_size(data_dir, tmp_path):
    """With ``learn_notional`` the agents learn at N / (training mean close) coins whatever
    max_holding is: two position sizes give the same parameters. Without it (the reference)
    the position size changes what is learnt."""
    import pyarrow.parquet as pq

    cfg = load_config(overrides=SMALL[1:] + ["epochs=1"])
    mean = float(np.mean(pq.read_table(data_dir / "train.parquet", columns=["close"])["close"].to_numpy()))
    assert learning_holding(EnvConfig(max_holding=5.0, learn_notional=100.0), data_dir) == pytest.approx(100.0 / mean)
    assert learning_holding(EnvConfig(max_holding=5.0), data_dir) == 5.0
    params = {}
    for name, env in (("scaled_small", EnvConfig(max_holding=0.2, learn_notional=100.0)),
                      ("scaled_large", EnvConfig(max_holding=5.0, learn_notional=100.0)),
                      ("raw_small", EnvConfig(max_holding=0.2)), ("raw_large", EnvConfig(max_holding=5.0))):
        params[name] = train_subagents(cfg, data_dir, tmp_path / name, env=env, progress=False)[0].params
    assert leaves_equal(params["scaled_small"], params["scaled_large"])
    assert not leaves_equal(params["raw_small"], params["raw_large"])


@pytest.mark.parametrize("flat_cost", [0.0, 1e-3])
def test_flat_cost_charges_the_unheld_part_of_the_top_level_in_the_learning_reward(flat_cost):
    market, _ = probe_market(chunks=40, fee=0.01)
    close, change = np.asarray(market.close, np.float64), np.asarray(market.price_change, np.float64)
    labels = {"chunk_len": 3, "slope": {"chunks": {"1": list(range(market.num_rows // 3))}}}
    cfg = load_config(overrides=["hidden=8", "batch_size=16", "buffer_size=200", "learning_starts=20",
                                 "steps_per_iteration=10", f"flat_cost={flat_cost}", 'agents=["slope_1"]'])
    setup, spec, members = build_population(cfg, 2, labels, labels)
    trading = trading_settings(EnvConfig(fee=0.01, max_holding=2.0))
    one = jax.tree.map(lambda x: x[0], spec)
    state = init_member(setup, subagent_keys(members)[0], one.hp, market)
    state, _ = jax.jit(lambda s: train_epoch(setup, s, one, market, trading))(state)
    stored = jax.tree.map(lambda x: np.asarray(x)[: int(state.replay.count)], state.replay.data)
    assert len(stored.row) == 2 * 40 and set(stored.action) == {0, 1}
    held, before = 2.0 * stored.action, 2.0 * stored.prev_action  # coins
    env_reward = held * change[stored.row] - 0.01 * close[stored.row] * np.abs(held - before)
    expected = env_reward - flat_cost * (2.0 - held) * close[stored.row]
    np.testing.assert_allclose(stored.reward, expected, rtol=1e-5, atol=1e-5)
