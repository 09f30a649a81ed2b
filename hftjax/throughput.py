"""Throughput measurements shared by ``benchmarks/`` and ``notebooks/03_throughput``: env steps/s
of a random policy over any number of parallel episodes and devices, and the samples/s of one
sub-agent training epoch.

The rollout folds every observation field, reward and done flag into a checksum, so nothing the
step produces can be optimised away."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.env import EnvConfig, EnvParams, episode_teacher, market_from_arrays, reset, step
from hftjax.features import compute_features, resolve_feature_set
from hftjax.prepare import CHUNK_LEN
from hftjax.sharding import Placement
from hftjax.synth import generate

EPISODE_LEN = CHUNK_LEN  # the reference's 3-day chunks


def synthetic_market(rows: int, seed: int = 0, *, episode_len: int = EPISODE_LEN, max_holding: float = 0.2):
    """A prepared-like synthetic market without files: lob features (warm-up dropped) and the
    per-episode teacher. Returns (close, single, trend, context, MarketData)."""
    table = generate(rows, seed).table
    fs = resolve_feature_set("lob", table)
    feats, warmup = compute_features(table, fs)
    close = table["close"][warmup:]
    single, trend, context = (np.column_stack([feats[c][warmup:] for c in names])
                              for names in (fs.single, fs.trend, fs.context))
    teacher = episode_teacher(close, episode_len, max_holding=max_holding)
    return close, single, trend, context, market_from_arrays(close, teacher, single, trend, context)


@functools.partial(jax.jit, static_argnames="num_steps")
def random_rollout(keys: jax.Array, params: EnvParams, num_steps: int) -> jax.Array:
    """``num_steps`` steps of ``len(keys)`` parallel episodes under a uniform random policy;
    returns the checksum. Sharded ``keys`` spread the episodes over their devices."""
    num_envs = keys.shape[0]
    _, states = jax.vmap(reset, in_axes=(0, None))(keys, params)

    def one_step(carry, key):
        states, checksum = carry
        k_act, k_step = jax.random.split(key)
        # uniform over levels (exact for K = 2); half a hash per env, where randint takes one
        actions = (jax.random.bits(k_act, (num_envs,)) % params.levels.astype(jnp.uint32)).astype(jnp.int32)
        obs, states, reward, done, _, _ = jax.vmap(step, in_axes=(0, 0, 0, None))(
            jax.random.split(k_step, num_envs), states, actions, params)
        folded = sum(jnp.sum(x) for x in jax.tree.leaves(obs)) + reward.sum() + done.sum()
        return (states, checksum + folded), None

    (_, checksum), _ = jax.lax.scan(one_step, (states, jnp.float32(0)),
                                    jax.random.split(jax.random.fold_in(keys[0], 1), num_steps))
    return checksum


def best_of(fn, repeats: int = 3) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn`` (blocking on its result), in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def env_steps_per_s(params: EnvParams, episodes: int, steps: int, placement: Placement | None = None,
                    repeats: int = 3) -> float:
    """Env steps/s of ``episodes`` parallel random-policy episodes (spread over ``placement``'s
    devices), compilation excluded."""
    placement = placement or Placement.over(1)
    keys = placement.members(jax.random.split(jax.random.key(0), episodes))
    params = placement.replicated(params)
    jax.block_until_ready(random_rollout(keys, params, steps))  # compile
    return episodes * steps / best_of(lambda: random_rollout(keys, params, steps), repeats)


def subagent_epoch_rate(cfg, data_dir: str | Path, placement: Placement | None = None,
                        env: EnvConfig = EnvConfig()) -> dict:
    """One sub-agent training epoch of the population ``cfg`` on a prepared dataset, after a
    compiling one: its wall time and gradient samples/s (updates x batch size)."""
    from hftjax.subagent.run import SubAgentTrainer

    trainer = SubAgentTrainer(cfg, env, data_dir, placement or Placement.over(1))
    state, _ = trainer.epoch(trainer.init())  # compile
    jax.block_until_ready(state.params)
    t0 = time.perf_counter()
    state, metrics = trainer.epoch(state)
    jax.block_until_ready(state.params)
    seconds = time.perf_counter() - t0
    samples = float(np.sum(jax.device_get(metrics["updates"]))) * cfg.batch_size
    return {"epoch_s": seconds, "samples_per_s": samples / seconds}
