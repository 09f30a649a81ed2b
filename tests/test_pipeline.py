"""The whole MacroHFT pipeline (``hftjax run``), hyper-agent resume and ablations, evaluation."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil

import jax
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import shared_file
from hftjax.cli import main
from hftjax.hyper.config import load_hyper_config
from hftjax.hyper.run import train_hyper
from hftjax.presets import PRESETS

ARTIFACTS = ["config.json", "data/manifest.json", "data/train.parquet", "subagents.json", "subagents_log.jsonl",
             "subagents_checkpoints", "subagents_best", "hyper.json", "hyper_log.jsonl", "hyper_checkpoints",
             "results/metrics.json", "results/metrics_valid.json", "results/summary.json", "results/test_positions.parquet",
             "results/valid_positions.parquet"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "run"
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


def test_run_produces_every_artifact(smoke_run):
    for name in ARTIFACTS:
        assert (smoke_run / name).exists(), name
    resolved = json.loads((smoke_run / "config.json").read_text())
    assert resolved["data"]["synthetic_rows"] == PRESETS["smoke"]["data"]["synthetic_rows"]
    assert resolved["hyper"]["memory"] is True and resolved["subagents"]["hidden"] == 16
    from hftjax.software import software_provenance
    now = software_provenance()
    for name in ("subagents.json", "baselines.json", "hyper.json", "results/metrics.json", "results/metrics_valid.json"):
        recorded = json.loads((smoke_run / name).read_text())["software"]
        assert {k: v for k, v in recorded.items() if k != "date"} == {k: v for k, v in now.items() if k != "date"}, name


def test_metrics_agree_with_positions(smoke_run):
    """metrics.json equals the paper metrics recomputed from the written positions with simulate."""
    from hftjax.env import simulate
    from tests.metrics_oracle import oracle_metrics

    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    assert metrics["split"] == "test"
    trades = pq.read_table(smoke_run / "results" / "test_positions.parquet")
    close = pq.read_table(smoke_run / "data" / "test.parquet")["close"].to_numpy()
    np.testing.assert_array_equal(trades["close"].to_numpy(), close[:-1])
    actions = np.rint(trades["position_seed0"].to_numpy() / metrics["max_holding"]).astype(int)
    sim = simulate(close, actions, fee=metrics["fee"], max_holding=metrics["max_holding"])
    np.testing.assert_allclose(trades["reward_seed0"].to_numpy(), sim["rewards"], rtol=1e-5, atol=1e-6)
    expected = oracle_metrics(np.asarray(sim["rewards"], np.float64), float(sim["required_money"]), actions,
                              initial_action=0)
    for key, value in expected.items():
        assert metrics["macrohft"]["per_seed"][0][key] == pytest.approx(value, rel=1e-4, abs=1e-9), key
    hold = simulate(close, np.ones(len(close) - 1, int), fee=metrics["fee"], max_holding=metrics["max_holding"])
    assert metrics["buy_and_hold"]["TR"] == pytest.approx(float(hold["return_rate"]), rel=1e-4)


def test_single_subagent_is_chosen_on_validation_and_baselines_are_reported(smoke_run):
    """No look-ahead: the reported single sub-agent is the validation split's best; the one
    chosen on test is an oracle bound, never below it. MACD runs through the env's accounting."""
    from hftjax.baselines.macd import macd_actions
    from hftjax.env import simulate
    from tests.metrics_oracle import oracle_metrics

    test = json.loads((smoke_run / "results" / "metrics.json").read_text())
    valid = json.loads((smoke_run / "results" / "metrics_valid.json").read_text())
    chosen = test["best_single_subagent"]["per_seed"][0]
    assert chosen["agent"] == valid["oracle_single_subagent"]["per_seed"][0]["agent"]
    assert test["oracle_single_subagent"]["per_seed"][0]["TR"] >= chosen["TR"]
    close = pq.read_table(smoke_run / "data" / "test.parquet")["close"].to_numpy()
    actions = macd_actions(close)
    run = simulate(close, actions, fee=test["fee"], max_holding=test["max_holding"])
    expected = oracle_metrics(np.asarray(run["rewards"], np.float64), float(run["required_money"]), actions,
                              initial_action=0)
    assert {k: test["macd"][k] for k in expected} == pytest.approx(expected, rel=1e-4)
    assert 0 < test["macd"]["trades"] < len(close)
    from hftjax.baselines.iv import iv_actions, split_imbalance
    iv = iv_actions(split_imbalance(smoke_run / "data", "test"))  # the synthetic market has a book
    assert test["iv"]["trades"] == oracle_metrics(np.zeros(len(iv)), 0.0, iv, initial_action=0)["trades"]


def test_every_evaluation_reports_timing_and_leverage(smoke_run):
    """metrics.json carries the diagnostics of every seed, recomputed here from the written
    positions (the timing test) and the run's own tables; report.md shows them."""
    from hftjax.diagnostics import timing_percentile

    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    per_seed = metrics["diagnostics"]["per_seed"]
    assert [d["seed"] for d in per_seed] == [s["seed"] for s in metrics["macrohft"]["per_seed"]]
    trades = pq.read_table(smoke_run / "results" / "test_positions.parquet")
    close = pq.read_table(smoke_run / "data" / "test.parquet")["close"].to_numpy()
    for d in per_seed:
        actions = np.rint(trades[f"position_seed{d['seed']}"].to_numpy() / metrics["max_holding"]).astype(np.int32)
        assert d["timing_percentile"] == timing_percentile(close, actions, fee=metrics["fee"],
                                                           max_holding=metrics["max_holding"], levels=2, seed=d["seed"])
        assert 0 <= d["differs_from_equal_mix"] <= 1 and 0 <= d["subagents_agree"] <= 1
        assert 0 <= d["weight_entropy"] <= np.log(6) + 1e-6
        assert all(0 <= d[f"long_from_flat_{a}"] <= 1 for a in ("slope_1", "vol_3"))
    report = (smoke_run / "results" / "report.md").read_text()
    assert "## Timing and leverage" in report and f"| {per_seed[0]['seed']} | {per_seed[0]['timing_percentile']:.1f} |" in report


def test_lab_scores_a_finished_run_as_its_evaluation_does(smoke_run):
    """``hftjax bench lab`` on a run: its own rules are scored as evaluate scores its rules (MACD,
    scored the lab's way from the prepared split, is metrics.json's MACD), and each split's row
    holds every strategy, MacroHFT's timing and the inertia diagnostics, all finite."""
    from benchmarks.experiments.lab import STRATEGIES, lab_rules, market_rows, prepared_split, scores, summary_rows
    from hftjax.baselines.macd import macd_actions

    metrics = json.loads((smoke_run / "results" / "summary.json").read_text())
    levels = json.loads((smoke_run / "config.json").read_text())["env"]["levels"]
    test = metrics["test"]
    trading = {"fee": test["fee"], "max_holding": test["max_holding"], "levels": levels}
    close, features = prepared_split(smoke_run / "data", "test")
    macd = scores(close, macd_actions(close, levels=levels)[None], **trading)
    assert macd["ASR"][0] == pytest.approx(test["macd"]["ASR"], rel=1e-5) and macd["trades"][0] == test["macd"]["trades"]
    assert features.shape[0] == close.size and np.isfinite(features).all()
    rows = market_rows(0, metrics, *lab_rules(smoke_run / "data", **trading))
    assert [r["split"] for r in rows] == ["valid", "test"]
    for row in rows:
        assert {"macrohft", *STRATEGIES} <= set(row)
        assert all(np.isfinite(v) for v in row.values() if isinstance(v, float))
        assert 0 <= row["sub-agents stay long %"] <= 100 and 0 <= row["momentum_timing"] <= 100
    assert {r["strategy"] for r in summary_rows(rows, "test")} == {"MacroHFT", *STRATEGIES.values()}


def test_report_and_plots_match_metrics(smoke_run):
    """``evaluate`` writes report.md and valid PNGs; the report's table is metrics.json's numbers."""
    import matplotlib.image

    from hftjax.report import COLUMNS
    from hftjax.strategies import strategies

    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    report = (smoke_run / "results" / "report.md").read_text()
    for name in ("equity", "drawdown", "positions", "weights", "regimes"):
        path = smoke_run / "results" / "plots" / f"test_{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plots/test_{name}.png" in report
        height, width, _ = matplotlib.image.imread(path).shape
        assert height >= 300 and width >= 900
    results = report.split("## Results")[1].split("\n## ")[0]
    rows = {line.split(" | ")[0].strip("| "): [c.strip(" |") for c in line.split(" | ")[1:]]
            for line in results.splitlines() if line.startswith("| ")}
    assert [k for k, _ in strategies(metrics)][-6:] == ["iv", "dqn", "ddqn", "cdqnrp", "ppo", "oracle_single_subagent"]
    for key, label in strategies(metrics):
        entry = metrics[key]["mean"] if "mean" in metrics[key] else metrics[key]
        for (metric, _, scale, decimals), text in zip(COLUMNS, rows[label]):
            assert float(text.split(" ± ")[0]) == pytest.approx(round(entry[metric] * scale, decimals), abs=10 ** -decimals), (label, metric)


def copy_subagents(run, to):
    """A fresh run directory that shares the smoke run's trained sub-agents (and its data)."""
    meta = json.loads((run / "subagents.json").read_text())
    meta["data_dir"] = os.path.relpath(run / meta["data_dir"], to)
    (to / "subagents.json").write_text(json.dumps(meta))
    shutil.copytree(run / "subagents_best", to / "subagents_best")
    shutil.copy(run / ".hftjax", to / ".hftjax")  # what makes it a run directory


def test_hyper_resume_equals_uninterrupted(smoke_run, tmp_path):
    copy_subagents(smoke_run, tmp_path)
    overrides = {**PRESETS["smoke"]["hyper"], "epochs": 2}
    cfg = load_hyper_config(**overrides)
    full, _ = train_hyper(tmp_path, cfg, progress=False)
    shutil.rmtree(tmp_path / "hyper_checkpoints")
    half, _ = train_hyper(tmp_path, cfg, stop_after=1, progress=False)
    resumed, _ = train_hyper(tmp_path, cfg, progress=False)
    for field in ("params", "target_params", "opt_state", "memory", "best_params", "best_score"):
        for x, y in zip(jax.tree.leaves(getattr(full, field)), jax.tree.leaves(getattr(resumed, field))):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=field)


@pytest.mark.parametrize("select_on", ["return", "sharpe"])
def test_hyper_keeps_the_epoch_best_on_its_selection_score(smoke_run, tmp_path, select_on):
    """The kept epoch is the one with the best validation return rate (the reference) or the
    best validation ASR, as logged; the ASR logged is the paper's, recomputed from a rollout that
    runs the network at every step (training validates by looking Q_mix up in a precomputed table)."""
    from tests.metrics_oracle import oracle_metrics

    from hftjax.learner.dqn import greedy_rollout
    from hftjax.hyper.agent import q_mix

    copy_subagents(smoke_run, tmp_path)
    cfg = load_hyper_config(**{**PRESETS["smoke"]["hyper"], "epochs": 3, "select_on": select_on})
    state, run = train_hyper(tmp_path, cfg, progress=False)
    lines = [json.loads(x) for x in (tmp_path / "hyper_log.jsonl").read_text().splitlines()]
    key = "valid_asr" if select_on == "sharpe" else "valid_return_rate"
    scores = [x[key] for x in lines]
    assert int(state.best_epoch[0]) == int(np.argmax(scores))
    assert lines[-1]["best_valid_score"] == pytest.approx(max(scores))
    market, tables = run.market("valid")
    params = jax.tree.map(lambda x: x[0], state.params)  # the last epoch's
    policy = lambda obs: q_mix(run.setup, params, obs, tables[0])[0]  # noqa: E731
    _, rewards, acc = greedy_rollout(policy, market, run.trading, run.setup.levels)
    expected = oracle_metrics(np.asarray(rewards, np.float64), float(acc["required_money"]))["ASR"]
    assert lines[-1]["valid_asr"] == pytest.approx(expected, rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("switch", ["memory=false", "context=false"])
def test_ablation_switches(smoke_run, tmp_path, switch, capsys):
    copy_subagents(smoke_run, tmp_path)
    args = [f"{k}={json.dumps(v)}" for k, v in PRESETS["smoke"]["hyper"].items()]
    assert main(["train-hyper", str(tmp_path), "--quiet", "-v", *args, switch, "warn_loss_above=1e-9"]) == 0
    line = json.loads((tmp_path / "hyper_log.jsonl").read_text().splitlines()[0])
    if switch == "memory=false":
        assert line["memory"] == 0.0
    out, err = capsys.readouterr()
    assert "best epoch 0" in out
    assert "hftjax train-hyper: warning: hyper-agent seed=0: mean loss" in err and "warn_loss_above=1e-09" in err
    assert f"hftjax train-hyper: hyper-agent seed=0, epoch 0: loss {line['loss']:.4g}, validation return rate" in err


def test_readme_ablation_keeps_the_main_result(smoke_run, capsys):
    """The README's ablation commands on the directory ``hftjax run`` made."""
    main_result = (smoke_run / "results" / "metrics.json").read_bytes()
    assert main(["train-hyper", str(smoke_run), "memory=false", "--quiet"]) == 2  # would mix two configs
    assert "differs in memory" in (err := capsys.readouterr().err) and "--out" in err
    ablation = smoke_run / "ablations" / "no-memory"
    assert main(["train-hyper", str(smoke_run), "--out", str(ablation), "memory=false", "--quiet"]) == 0
    assert main(["evaluate", str(ablation)]) == 0
    assert (smoke_run / "results" / "metrics.json").read_bytes() == main_result
    trained = json.loads((smoke_run / "hyper.json").read_text())["config"]
    ablated = json.loads((ablation / "hyper.json").read_text())["config"]
    assert ablated == {**trained, "memory": False}  # the run's resolved config, not the defaults
    metrics = json.loads((ablation / "results" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["macrohft"]["per_seed"][0]["seed"] == 0


def test_hyper_divergence_names_the_seed(smoke_run, tmp_path, capsys):
    copy_subagents(smoke_run, tmp_path)
    args = [f"{k}={json.dumps(v)}" for k, v in PRESETS["smoke"]["hyper"].items()]
    assert main(["train-hyper", str(tmp_path), "--quiet", *args, "lr=1e38"]) == 2
    err = capsys.readouterr().err
    assert "training diverged for hyper-agent seed=0 in epoch 0" in err and "no checkpoint was written" in err
    assert not (tmp_path / "hyper.json").exists() and not list((tmp_path / "hyper_checkpoints").iterdir())
    line = json.loads((tmp_path / "hyper_log.jsonl").read_text().splitlines()[0])
    assert line["nonfinite"] > 0 or "non-finite parameters" in err, (line, err)


def test_logs_are_quiet_by_default_with_detail_and_bars_on_request(smoke_run, tmp_path, capsys):
    shutil.copytree(smoke_run, tmp_path / "run")
    run = str(tmp_path / "run")
    stages = ["MacroHFT and its sub-agents", "rules", "diagnostics and timing", "learned baselines", "metrics and positions",
              "report and plots"]
    assert main(["evaluate", run, "--split", "valid", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["evaluate", run, "--split", "valid"]) == 0
    err = capsys.readouterr().err
    assert "evaluate valid: 100%" in err and "6/6" in err and "done in" not in err  # a bar, no detail
    assert main(["-v", "evaluate", run, "--split", "valid", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "%|" not in err
    for stage in stages:
        assert f"hftjax evaluate: evaluate valid: {stage} done in " in err
    assert main(["evaluate", run, "--split", "valid", "--quiet"]) == 0  # -v does not stick to the next command
    assert capsys.readouterr().err == ""


def test_run_directory_can_be_moved(smoke_run, tmp_path):
    shutil.copytree(smoke_run, tmp_path / "a")
    shutil.move(tmp_path / "a", tmp_path / "b")
    assert main(["evaluate", str(tmp_path / "b"), "--split", "valid"]) == 0
    for path in (tmp_path / "b").glob("*.json"):
        assert str(smoke_run) not in path.read_text(), path


def test_run_on_real_ohlcv_file(tmp_path):
    src = shared_file("binance_BTCUSDT_1m_2023-01-01_2023-01-28.parquet")
    out = tmp_path / "real"
    assert main(["run", "--preset", "smoke", "--data", str(src), "--out", str(out), "--quiet"]) == 0
    for name in ARTIFACTS:
        assert (out / name).exists(), name
    assert json.loads((out / "data" / "manifest.json").read_text())["feature_set"] == "ohlcv"


def test_one_compile_covers_hyper_settings(smoke_run):
    """A changed fee, max_holding, lr, gamma, beta, alpha_memory or epsilon schedule reuses the
    compiled hyper-agent epoch."""
    import dataclasses

    import chex

    from hftjax.env import EnvConfig
    from hftjax.hyper.agent import hyper_epoch
    from hftjax.hyper.artifacts import load_subagents
    from hftjax.hyper.trainer import HyperTrainer

    @functools.partial(jax.jit, static_argnums=0)
    @chex.assert_max_traces(n=1)
    def epoch(setup, state, hp, table, market, trading):
        first = lambda tree: jax.tree.map(lambda x: x[0], tree)  # noqa: E731
        return hyper_epoch(setup, first(state), first(hp), table, market, trading)

    subagents = load_subagents(smoke_run)
    smoke = PRESETS["smoke"]["hyper"]
    changed = {"lr": 3e-3, "gamma": 0.9, "beta": 1.0, "alpha_memory": 0.1, "epsilon_start": 0.9,
               "epsilon_end": 0.1, "epsilon_decay_epochs": 2.0}
    runs = [HyperTrainer(subagents, load_hyper_config(**smoke)),
            HyperTrainer(dataclasses.replace(subagents, env=EnvConfig(fee=5e-4, max_holding=0.5)),
                     load_hyper_config(**{**smoke, **changed}))]
    assert runs[0].setup == runs[1].setup
    losses = []
    for run in runs:
        market, tables = run.market("train")
        _, metrics = epoch(run.setup, run.init(), run.hp, tables[0], market, run.trading)
        losses.append(float(metrics["loss"]))
    chex.clear_trace_counter()
    assert losses[0] != losses[1]

def test_hyper_epochs_share_one_compiled_program(smoke_run):
    """The first epoch (from the fresh state) and the next ones (from an epoch's output) hit the
    same compiled program: a fresh state that differed (uncommitted arrays) recompiled it once."""
    from hftjax.hyper.artifacts import load_subagents
    from hftjax.hyper.trainer import HyperTrainer, hyper_train_epoch

    run = HyperTrainer(load_subagents(smoke_run), load_hyper_config(**PRESETS["smoke"]["hyper"]))
    state, _ = run.epoch(run.init())
    compiled = hyper_train_epoch._cache_size()
    run.epoch(state)
    assert hyper_train_epoch._cache_size() == compiled


def test_compare_merges_seeds_and_refuses_other_splits(smoke_run, tmp_path, capsys):
    import csv

    other = tmp_path / "other"
    shutil.copytree(smoke_run, other)
    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    as_seed_1 = {k: {**v, "per_seed": [{**s, "seed": 1} for s in v["per_seed"]]} if "per_seed" in v else v
                 for k, v in metrics.items() if isinstance(v, dict)}
    (other / "results" / "metrics.json").write_text(json.dumps({**metrics, **as_seed_1}))  # a copy would count once
    assert main(["compare", str(smoke_run), str(other), "--out", str(tmp_path / "cmp")]) == 0
    rows = {r["strategy"]: r for r in csv.DictReader((tmp_path / "cmp" / "compare.csv").open())}
    macro = rows["MacroHFT"]
    assert int(macro["seeds"]) == 2  # one seed from each run
    assert float(macro["TR_mean"]) == pytest.approx(metrics["macrohft"]["mean"]["TR"], abs=1e-9)
    assert float(macro["TR_std"]) == pytest.approx(0.0, abs=1e-12)  # the copy has the same numbers
    assert int(rows["buy and hold"]["seeds"]) == 1 and "| MacroHFT | 2 |" in (tmp_path / "cmp" / "compare.md").read_text()
    changed = json.loads((other / "results" / "metrics.json").read_text())
    changed["rows"] += 1
    (other / "results" / "metrics.json").write_text(json.dumps(changed))
    assert main(["compare", str(smoke_run), str(other)]) == 2
    assert "another split" in (err := capsys.readouterr().err) and "rows" in err
    assert main(["compare", str(tmp_path)]) == 2
    assert "hftjax evaluate" in capsys.readouterr().err


def test_compare_pools_only_seeds_of_one_config_and_counts_a_directory_once(smoke_run, tmp_path, capsys):
    import csv

    assert main(["compare", str(smoke_run), f"{smoke_run}/", "--out", str(tmp_path / "once")]) == 0
    rows = {r["strategy"]: r for r in csv.DictReader((tmp_path / "once" / "compare.csv").open())}
    assert int(rows["MacroHFT"]["seeds"]) == 1
    capsys.readouterr()
    other = tmp_path / "other"
    shutil.copytree(smoke_run, other)
    config = json.loads((other / "config.json").read_text())
    config["hyper"]["lr"] = 1e30
    config["subagents"]["seeds"] = [5]  # seeds may differ
    (other / "config.json").write_text(json.dumps(config))
    assert main(["compare", str(smoke_run), str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert "differ in hyper.lr)" in err and "--allow-different" in err and "\n" not in err, err
    assert main(["compare", str(smoke_run), str(other), "--allow-different"]) == 0
    out = capsys.readouterr().out
    assert "Pooled runs of different settings (differ in hyper.lr)" in out and "| MacroHFT | 2 |" in out


def test_agents_trained_on_data_prepared_again_are_refused(smoke_run, tmp_path, capsys):
    """``prepare`` into a trained run's data/ (allowed while nothing trains): evaluate and
    train-hyper then refuse the agents trained on the earlier preparation."""
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    assert main(["prepare", str(run / "market.parquet"), "--out", str(run / "data"), "--chunk-len", "300", "-q"]) == 0
    for command in (["evaluate", str(run), "--split", "valid"], ["train-hyper", str(run), "--out", str(tmp_path / "h")]):
        assert main([*command, "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert "was prepared again after the sub-agents were trained on it" in err and "\n" not in err, err
    assert not (run / "results" / "metrics_valid.json").exists() or (
        (run / "results" / "metrics_valid.json").read_bytes() == (smoke_run / "results" / "metrics_valid.json").read_bytes())


@pytest.fixture(scope="module")
def stopped_run(smoke_run, tmp_path_factory):
    """``run`` whose sub-agents diverge in epoch 1 and whose hyper-agent saturates its softmax.
    The sub-agents' epoch 0 collects without updating (learning_starts above what any agent
    collects in one epoch: the smoke run's labels, of the same synthetic market), epoch 1 updates
    with lr=1e30; the hyper-agent's lr=1e30 leaves its weights finite but puts weights of exactly
    0 in its softmax (Q_mix stays a bounded mix)."""
    labels = json.loads((smoke_run / "data" / "train_labels.json").read_text())
    collected = max(len(chunks) for kind in ("slope", "vol") for chunks in labels[kind]["chunks"].values()) * \
        (labels["chunk_len"] - 1)
    out = tmp_path_factory.mktemp("stopped") / "run"
    args = ["subagents.epochs=3", "subagents.lr=1e30", f"subagents.learning_starts={collected + 10}",
            f"subagents.buffer_size={4 * collected}", "hyper.lr=1e30", "hyper.epochs=2", "baselines.algorithms=[]"]
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", *args]) == 0
    return out, args


def test_a_saturated_softmax_is_counted_and_training_goes_on(stopped_run):
    """A softmax with a weight of 0 somewhere is a legitimate state: every epoch trains, the
    count is in metrics.json and report.md, and ``run`` ends with its report."""
    run, _ = stopped_run
    lines = [json.loads(x) for x in (run / "hyper_log.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1] and all(x["saturated"] > 0 for x in lines), lines
    assert json.loads((run / "hyper.json").read_text())["stopped"] is None
    expected = sum(round(x["saturated"] * x["updates"]) for x in lines)
    training = json.loads((run / "results" / "metrics.json").read_text())["training"]
    assert training["hyper_saturated"] == [{"seed": 0, "saturated_updates": expected, "saturated_epochs": 2}]
    assert expected > 0 and f"seed 0: {expected:,} updates in 2 epochs" in \
        (run / "results" / "report.md").read_text()


def test_a_divergence_after_the_first_epoch_keeps_the_best_checkpoint_and_run_evaluates_it(stopped_run, capsys):
    """The sub-agents go back to checkpoint 1 (epoch 0's best, validated) and the stop is in
    subagents.json, metrics.json, report.md and the printed summary; the hyper-agent trains over
    epoch 0's sub-agents and ``run`` evaluates."""
    run, args = stopped_run
    lines = [json.loads(x) for x in (run / "subagents_log.jsonl").read_text().splitlines()]
    assert sorted({x["epoch"] for x in lines}) == [0, 1] and all(x["updates"] == 0 for x in lines if x["epoch"] == 0)
    stopped = json.loads((run / "subagents.json").read_text())["stopped"]
    assert stopped["epoch"] == 1 and "non-finite" in stopped["reason"], stopped
    assert stopped["member"].startswith("sub-agent agent=")
    metrics = json.loads((run / "results" / "metrics.json").read_text())
    assert metrics["training"]["stopped"] == [{"stage": "sub-agents", **stopped}]
    report = (run / "results" / "report.md").read_text()
    assert "**Training stopped early:** sub-agents training stopped in epoch 1" in report
    assert "the stage keeps the best validated params of epoch 0" in report
    # a rerun reuses the stopped stage (it is done: rerunning it would stop in the same place)
    # and prints the stop under the summary
    assert main(["run", "--preset", "smoke", "--out", str(run), "--quiet", *args]) == 0
    assert "sub-agents training stopped in epoch 1" in capsys.readouterr().out


# Levers against sub-agents that agree (hyper-agent options; benchmarks/experiments/levers.py measures them)

def test_constant_experts_span_the_sub_agents_range_and_overrule_agreement():
    from hftjax.hyper.agent import with_experts
    from hftjax.hyper.network import mix_q

    sub_q = np.array([[[1.0, 3.0], [2.0, 0.0]]], np.float32)  # one row, two agents, two levels
    got = np.asarray(with_experts(sub_q))
    np.testing.assert_array_equal(got[0, 2:], [[3.0, 0.0], [0.0, 3.0]])  # flat then long, over [min, max]
    rng = np.random.default_rng(0)
    agree_long = np.sort(rng.normal(size=(50, 6, 2)), axis=-1).astype(np.float32)  # every agent prefers long
    q = with_experts(agree_long)
    weights = np.full((50, 8), 0.5 / 7, np.float32)
    weights[:, 6] = 0.5  # half the weight on the flat expert
    assert np.all(np.argmax(np.asarray(mix_q(weights, np.swapaxes(q, 0, 1))), -1) == 0)
    weights[:, 6] = 0.0
    assert np.all(np.argmax(np.asarray(mix_q(weights, np.swapaxes(q, 0, 1))), -1) == 1)


def test_hard_routing_follows_the_highest_weight_member(smoke_run):
    """Each step's action is the greedy action of the member the network weighs most there
    (recomputed with the network on the run's own path)."""
    from hftjax.hyper.artifacts import load_hyper

    state, run = load_hyper(smoke_run)
    actions = np.asarray(run.acting(routing="hard").rollout(state.best_params, "valid")[0][0])
    market, tables = run.market("valid")
    params = jax.tree.map(lambda x: x[0], state.best_params)
    rows = np.arange(len(actions))
    previous = np.concatenate([[0], actions[:-1]])
    weights = np.asarray(run.setup.net.apply(params, np.asarray(market.single)[rows], np.asarray(market.trend)[rows],
                                             np.asarray(market.context)[rows], previous)[0])
    chosen = np.asarray(tables[0])[rows, previous, np.argmax(weights, -1)]  # (T-1, K) the top member's Q
    np.testing.assert_array_equal(actions, np.argmax(chosen, -1))


def test_decision_interval_changes_position_only_on_its_rows(smoke_run):
    from hftjax.hyper.artifacts import load_hyper
    from hftjax.hyper.trainer import acting_q

    state, run = load_hyper(smoke_run)
    k = 7
    actions = np.asarray(run.acting(decision_interval=k).rollout(state.best_params, "valid")[0][0])
    market, tables = run.market("valid")
    q = np.asarray(acting_q(run.setup, jax.tree.map(lambda x: x[0], state.best_params), tables[0], market))
    held = 0
    for row, action in enumerate(actions):  # the oracle: argmax on rows k divides, hold elsewhere
        held = int(np.argmax(q[row, held])) if row % k == 0 else held
        assert action == held, row


def test_seed_vote_follows_the_majority(smoke_run):
    from hftjax.hyper.artifacts import load_hyper
    from hftjax.hyper.trainer import HyperTrainer, seed_votes

    q = np.zeros((3, 1, 2, 2), np.float32)  # three seeds, one row, from flat / from long
    q[0, 0, :, 1] = q[1, 0, :, 1] = 1.0     # two seeds go long from either level, one stays flat
    np.testing.assert_array_equal(np.argmax(np.asarray(seed_votes(q)), -1), [[1, 1]])
    np.testing.assert_array_equal(np.argmax(np.asarray(seed_votes(q[1:])), -1), [[0, 1]])  # a tie keeps the position
    state, run = load_hyper(smoke_run)
    three = HyperTrainer(run.subagents, dataclasses.replace(run.cfg, seeds=(0, 1, 2)))  # seeds 1, 2 mix seed 0's sub-agents
    other = jax.tree.map(lambda x: x * 0.5, state.best_params)  # a third seed that disagrees somewhere
    params = jax.tree.map(lambda a, b: np.concatenate([a, a, b]), state.best_params, other)
    voted = np.asarray(three.acting(seed_vote=True).rollout(params, "valid")[0])
    alone = np.asarray(run.rollout(state.best_params, "valid")[0][0])
    for row in voted:  # two seeds of three agree everywhere: the vote is theirs, for every seed
        np.testing.assert_array_equal(row, alone)


def test_constant_experts_train_and_evaluate(smoke_run, tmp_path):
    """With the experts the mixture weighs eight members; training, evaluation and the report run."""
    from hftjax.hyper.artifacts import load_hyper

    copy_subagents(smoke_run, tmp_path)
    args = [f"{k}={json.dumps(v)}" for k, v in PRESETS["smoke"]["hyper"].items()]
    assert main(["train-hyper", str(tmp_path), "--quiet", *args, "constant_experts=true"]) == 0
    assert main(["evaluate", str(tmp_path), "--split", "valid", "--quiet"]) == 0
    state, run = load_hyper(tmp_path)
    assert run.setup.members[-2:] == ("flat", "long")
    assert state.best_params["params"]["net_out"]["kernel"].shape[-1] == 8
    diagnostics = json.loads((tmp_path / "results" / "metrics_valid.json").read_text())["diagnostics"]["mean"]
    assert 0 <= diagnostics["weight_entropy"] <= np.log(8) + 1e-6
    assert (tmp_path / "results" / "plots" / "valid_weights.png").exists()


def test_every_strategy_evaluated_is_registered_and_reported(smoke_run):
    """A strategy evaluation scores but the registry lacks would silently drop out of report.md,
    compare and the summary."""
    from hftjax.strategies import REGISTRY, strategies

    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    scored = {k for k, v in metrics.items() if isinstance(v, dict) and "TR" in v.get("mean", v)}
    assert scored - {"diagnostics"} <= {s.key for s in REGISTRY}
    assert {"macrohft", "buy_and_hold", "equal_weight_mix", "dqn"} <= scored
    report = (smoke_run / "results" / "report.md").read_text()
    for key, label in strategies(metrics):
        assert f"| {label} |" in report, key


def tensorboard_scalars(directory) -> dict[tuple[str, int], float]:
    """{(tag, step): value} read back from the TFRecord event files under ``directory`` (no
    TensorBoard needed: each record is a length, its CRC, an ``Event`` proto and its CRC)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    out = {}
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                out[(value.tag, event.step)] = value.simple_value
    return out


def test_every_trainer_writes_its_log_lines_to_tensorboard(smoke_run):
    pytest.importorskip("tensorboardX")
    from hftjax.learner.tensorboard import member_tag

    for stage in ("subagents", "baselines", "ppo", "hyper"):
        scalars = tensorboard_scalars(smoke_run / "tb" / stage)
        lines = [json.loads(line) for line in (smoke_run / f"{stage}_log.jsonl").read_text().splitlines()]
        members = len({(line.get("agent"), line["seed"]) for line in lines}) or 1
        for n, line in enumerate(lines):
            for key in ("loss", "valid_return_rate", "train_reward"):
                tag = f"{member_tag(n % members, line)}/{key}"
                assert scalars[(tag, line["epoch"])] == pytest.approx(line[key], rel=1e-6), (stage, tag)


def test_returns_files_round_trip_into_empyrical_with_the_metrics_sharpe(smoke_run):
    empyrical = pytest.importorskip("empyrical")
    import pandas as pd

    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    minute = pd.read_csv(smoke_run / "results" / "test_returns.csv", index_col=0, parse_dates=True)
    day = pd.read_csv(smoke_run / "results" / "test_daily_returns.csv", index_col=0, parse_dates=True)
    assert str(minute.index.tz) == "UTC" and len(minute) == metrics["rows"] - 1
    assert minute.index[0] == pd.Timestamp(metrics["period"][0]) + pd.Timedelta(minutes=1)
    for key in ("macrohft", "equal_weight_mix", "dqn"):
        for entry in metrics[key]["per_seed"]:
            column = minute[f"{key}_seed{entry['seed']}"]
            assert empyrical.sharpe_ratio(column, annualization=525_600) == pytest.approx(entry["sharpe"], rel=1e-3)
    for key in ("buy_and_hold", "macd"):
        assert empyrical.sharpe_ratio(minute[key], annualization=525_600) == pytest.approx(metrics[key]["sharpe"], rel=1e-3)
    compounded = (1 + minute).groupby(minute.index.floor("D")).prod() - 1  # pandas' own grouping: the oracle
    np.testing.assert_allclose(day.to_numpy(), compounded.to_numpy(), rtol=1e-9, atol=1e-12)
    assert list(day.index.strftime("%Y-%m-%d")) == list(compounded.index.strftime("%Y-%m-%d"))


def test_tearsheet_writes_html_or_names_the_extra(smoke_run, tmp_path, capsys, monkeypatch):
    pytest.importorskip("quantstats")
    out = tmp_path / "sheet.html"
    assert main(["tearsheet", str(smoke_run), "--out", str(out), "-q"]) == 0
    html = out.read_text()
    assert "MacroHFT" in html and "buy and hold" in html and "<svg" in html
    monkeypatch.setitem(__import__("sys").modules, "quantstats", None)  # as if the extra were not installed
    assert main(["tearsheet", str(smoke_run), "--out", str(tmp_path / "none.html"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'hftjax[report]'" in err[0]
    assert not (tmp_path / "none.html").exists()


def test_a_rerun_says_what_it_reuses_and_a_wrong_split_lists_the_splits(smoke_run, capsys):
    assert main(["evaluate", str(smoke_run), "--split", "foo", "-q"]) == 2
    assert "no split 'foo'" in (err := capsys.readouterr().err) and "its splits: test, train, valid" in err
    assert main(["run", "--preset", "smoke", "--out", str(smoke_run), "-q"]) == 0
    err = capsys.readouterr().err
    assert f"{smoke_run} already holds this config's run: reusing prepared data (data/manifest.json), sub-agents " \
           "(subagents.json)" in err and "hyper-agent (hyper.json); evaluation runs again" in err
