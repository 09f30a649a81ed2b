"""Sub-agent training throughput: env steps/s and gradient updates/s for 1 agent, 6 agents and
6 agents x 16 seeds, in faithful and fast mode, and the wall time to train 6 sub-agents for
15 epochs on a 525,600-row training split (ETH scale).

Each configuration runs one epoch to compile, then times a second epoch. The ETH-scale wall
time is measured directly with ``--eth-scale`` (GPU machines); otherwise it is extrapolated from
the measured per-transition cost of the 6-agent run, and labelled as such.

Table ``update_alone``: the gradient update by itself at faithful mode's batch (512) and fast
mode's (8192), with XLA's FLOP count, shows what a larger batch can gain per sample on the device.

    python -m benchmarks.throughput.train_throughput [--rows 12000] [--chunk-len 360] [--eth-scale] [--update-alone]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import record
from hftjax.cli import main as cli
from hftjax.env import EnvConfig
from hftjax.learner.dqn import Transition, ddqn_loss, hparams
from hftjax.learner.optimizer import apply_gradients, make_optimizer
from hftjax.options import traced_leaves
from hftjax.subagent.config import load_config
from hftjax.subagent.population import subagent_net
from hftjax.subagent.run import SubAgentTrainer
from hftjax.throughput import best_of, synthetic_market

ETH_TRAIN_ROWS = 525_600
EPOCHS = 15


def time_epoch(cfg, data_dir) -> dict:
    trainer = SubAgentTrainer(cfg, EnvConfig(), data_dir)
    state = trainer.init()
    t0 = time.perf_counter()
    state, _ = trainer.epoch(state)
    jax.block_until_ready(state.params)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, metrics = trainer.epoch(state)
    jax.block_until_ready(state.params)
    seconds = time.perf_counter() - t0
    transitions = float(np.sum(np.asarray(trainer.spec.num_train)) * (trainer.setup.chunk_len - 1))
    updates = float(np.sum(np.asarray(metrics["updates"])))
    return {"members": len(trainer.members), "epoch_s": seconds, "first_epoch_s": compile_s,
            "env_steps_per_s": transitions / seconds, "updates_per_s": updates / seconds,
            "samples_per_s": updates * cfg.batch_size / seconds, "transitions": transitions}


def update_alone(batch: int, updates: int = 64) -> dict:
    """The gradient update alone, without collection or replay sampling: ``ddqn_loss`` through the
    sub-agent network (online Q of s and s', target Q of s', the teacher KL), its gradient, Adam and
    the soft target update, ``updates`` times in one scan on a fixed batch of market rows.
    Samples/s, and XLA's FLOP count (``cost_analysis``) per sample and per second."""
    *_, market = synthetic_market(20_000)
    cfg = load_config(alpha=1.0)  # the reference's learner settings, one KL weight for the one member
    net = subagent_net(cfg, market.levels)
    q_fn = lambda p, obs: net.apply(p, obs.single, obs.trend, obs.prev_action)  # noqa: E731
    k_row, k_prev, k_act, k_init = jax.random.split(jax.random.key(0), 4)
    transitions = Transition(row=jax.random.randint(k_row, (batch,), 0, 19_000),
                             prev_action=jax.random.randint(k_prev, (batch,), 0, market.levels),
                             action=jax.random.randint(k_act, (batch,), 0, market.levels),
                             reward=jnp.zeros(batch), done=jnp.zeros(batch, bool))
    params = net.init(k_init, market.single[:1], market.trend[:1], jnp.zeros(1, jnp.int32))
    hp = hparams(traced_leaves(cfg))
    optimizer = make_optimizer(cfg.grad_clip)

    def one(carry, _):
        params, target, opt_state = carry
        grads = jax.grad(lambda p: ddqn_loss(p, target, q_fn, market, transitions, hp)[0])(params)
        return apply_gradients(optimizer, params, target, opt_state, grads, hp.tau), None

    run = jax.jit(lambda carry: jax.lax.scan(one, carry, length=updates)[0])
    carry = (params, params, optimizer.init(params))
    flops = run.lower(carry).compile().cost_analysis()
    flops = (flops[0] if isinstance(flops, list) else flops).get("flops", float("nan"))
    jax.block_until_ready(run(carry))
    seconds = best_of(lambda: run(carry))
    # XLA counts a scan's body once, so its FLOPs are one update's
    return {"batch": batch, "samples_per_s": batch * updates / seconds, "flops_per_sample": flops / batch,
            "gflops_per_s": flops * updates / seconds / 1e9}


def matmul_gflops(rows: int = 8192, width: int = 256, chain: int = 20) -> float:
    """The device's dense float32 throughput at the network's widest layer: ``chain`` products
    (rows x width) @ (width x width) in one jitted loop."""
    weights = jnp.full((width, width), 1.0 / width)  # keeps the values at 1
    run = jax.jit(lambda x: jax.lax.fori_loop(0, chain, lambda _, x: x @ weights, x))
    x = jnp.ones((rows, width))
    jax.block_until_ready(run(x))
    return 2 * rows * width * width * chain / best_of(lambda: run(x)) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=12_000)
    parser.add_argument("--chunk-len", type=int, default=360)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--eth-scale", action="store_true", help="also train 15 epochs at ETH scale (slow on CPU)")
    parser.add_argument("--update-alone", action="store_true", help="only the gradient update's table")
    args = parser.parse_args()
    platform = jax.devices()[0].platform
    # fast mode's batch is 16x faithful's: what that batch alone gains per sample, on this device
    alone = [update_alone(batch) for batch in (512, 512 * 16)]
    peak = matmul_gflops()
    for row in alone:
        row["vs batch 512"] = row["samples_per_s"] / alone[0]["samples_per_s"]
        row["share of matmul peak"] = row["gflops_per_s"] / peak
    alone.append({"batch": "dense 8192x256 @ 256x256 matmul (the device's float32 peak here)", "gflops_per_s": peak})
    print(record(f"update_alone_{platform}", f"The gradient update alone, batch 512 (faithful) and 8192 (fast) "
                                             f"({platform})", alone))
    if args.update_alone:
        return
    work = Path(tempfile.mkdtemp(prefix="hftjax-train-bench-"))
    cli(["synth", "--rows", str(args.rows), "--seed", "0", "--out", str(work / "m.parquet")])
    cli(["prepare", str(work / "m.parquet"), "--out", str(work / "data"), "--chunk-len", str(args.chunk_len)])
    rows = []
    populations = {"1 agent": ['agents=["slope_1"]', "seeds=[0]"], "6 agents": ["seeds=[0]"],
                   f"6 agents x {args.seeds} seeds": [f"seeds={list(range(args.seeds))}"]}
    for mode in ("faithful", "fast"):
        for name, overrides in populations.items():
            result = time_epoch(load_config(overrides=overrides, mode=mode), work / "data")
            rows.append({"mode": mode, "population": name, **result})
            print(rows[-1], flush=True)
    six = next(r for r in rows if r["mode"] == "faithful" and r["population"] == "6 agents")
    # each label holds ~30% of the training chunks, so an agent-epoch covers ~0.3 of the rows
    eth_transitions = 6 * 0.3 * ETH_TRAIN_ROWS * EPOCHS
    rows.append({"mode": "faithful", "population": "6 agents, 15 epochs, 525,600 train rows",
                 "wall_s": eth_transitions / six["env_steps_per_s"],
                 "how": "extrapolated from the measured 6-agent epoch (same code, smaller split)"})
    if args.eth_scale:
        cli(["synth", "--rows", str(int(ETH_TRAIN_ROWS / 0.7) + 400), "--seed", "0", "--out", str(work / "eth.parquet")])
        cli(["prepare", str(work / "eth.parquet"), "--out", str(work / "eth")])
        t0 = time.perf_counter()
        cli(["train-subagents", str(work / "eth"), "--out", str(work / "eth-run"), "--quiet", "seeds=[0]"])
        rows.append({"mode": "faithful", "population": "6 agents, 15 epochs, 525,600 train rows",
                     "wall_s": time.perf_counter() - t0, "how": "measured (includes compile and checkpoints)"})
    print(record(f"train_throughput_{platform}", f"Sub-agent training throughput ({platform})", rows))


if __name__ == "__main__":
    main()
