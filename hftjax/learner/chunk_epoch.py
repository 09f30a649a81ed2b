"""One training epoch of one member, entirely on device: the shared learner's collect-then-learn.

Every chunk of the member's label runs once, in shuffled order, from a random start level.
``num_envs`` slots run episodes side by side; all chunks have the same length, so episodes
advance in lock-step rounds and each slot knows from the step counter when to start its next
chunk. Every ``steps_per_iteration`` steps the learner runs updates in proportion to the
transitions collected (once more than ``learning_starts`` are stored). Members with fewer
chunks mask the steps past their own epoch end.

The learning reward is the env's, less ``flat_cost`` per minute of the value (at the current
close) of the part of the top level not held: an opportunity cost that makes staying out of the
market cost something (0, the reference, charges nothing). It is in units of the learning
notional, so it means the same on every coin, and it touches only what is learned: validation and
every evaluation score the env's own accounting. The learners trained here (sub-agents, DQN
baselines) all take the sub-agents' options, which hold ``flat_cost``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hftjax.env.accounting import position
from hftjax.env.core import observe_rows, start_state, transition, tree_select
from hftjax.env.market import MarketData
from hftjax.env.params import EnvParams, TradingSettings, episode_params
from hftjax.learner.dqn import (LearnerState, Schedule, Transition, collect_then_learn, ddqn_loss, epsilon,
                                epsilon_greedy)
from hftjax.learner.members import MemberSpec, Setup
from hftjax.learner.replay import replay_add


def chunk_params(setup: Setup, market: MarketData, trading: TradingSettings, starts, count) -> EnvParams:
    """Episodes = the given chunks, from a random start level."""
    return episode_params(market, trading, starts, count, setup.chunk_len, setup.levels)


def epoch_shape(setup: Setup) -> tuple[int, int]:
    """(steps per slot in the longest member's epoch, iterations of the update loop)."""
    c = setup.cfg
    rounds = -(-setup.max_train // c.num_envs)
    steps = rounds * (setup.chunk_len - 1)
    return steps, -(-steps // c.steps_per_iteration)


def schedule(setup: Setup) -> Schedule:
    c = setup.cfg
    return Schedule(iterations=epoch_shape(setup)[1], steps_per_iteration=c.steps_per_iteration,
                    updates_per_iteration=c.updates_per_iteration, batch_size=c.batch_size,
                    learning_starts=c.learning_starts, grad_clip=c.grad_clip)


def train_epoch(setup: Setup, state: LearnerState, spec: MemberSpec, market: MarketData, trading: TradingSettings):
    c, levels = setup.cfg, setup.levels
    ep_steps = setup.chunk_len - 1
    key, k_order, k_run = jax.random.split(state.key, 3)
    valid = jnp.arange(setup.max_train) < spec.num_train
    order = jnp.argsort(jnp.where(valid, jax.random.uniform(k_order, valid.shape), 2.0))
    member_steps = -(-spec.num_train // c.num_envs) * ep_steps
    eps = epsilon(spec.hp, state.epoch)
    # episode windows start up to ``train_jitter`` rows late (0 for the sub-agents); drawn from a
    # folded key so that members without jitter keep their random streams
    late = jax.random.randint(jax.random.fold_in(k_order, 1), spec.train_jitter.shape, 0, spec.train_jitter + 1)
    env = chunk_params(setup, market, trading, spec.train_starts + late, spec.num_train)
    slots = jnp.arange(c.num_envs)

    def collect(params, first):
        def one_step(carry, t):
            envs, replay, key = carry
            key, k_start, k_act = jax.random.split(key, 3)
            slot = (t // ep_steps) * c.num_envs + slots
            active = (slot < spec.num_train) & (t < member_steps)
            episode = order[jnp.minimum(slot, setup.max_train - 1)]
            starts = jax.random.randint(k_start, slots.shape, 0, levels)
            fresh = jax.vmap(start_state, (0, 0, None))(episode, starts, env)
            envs = tree_select(t % ep_steps == 0, fresh, envs)
            q = setup.q_fn(params, observe_rows(market, envs.row, envs.prev_action))
            actions = epsilon_greedy(*jax.random.split(k_act), q, eps, levels)
            after, reward, done, _ = jax.vmap(transition, (0, 0, None))(envs, actions, env)
            if c.flat_cost:  # static: the reference's reward compiles without it
                unheld = env.max_holding - position(actions, env.levels, env.max_holding)
                reward = reward - c.flat_cost * unheld * market.close[envs.row]
            replay = replay_add(replay, Transition(envs.row, envs.prev_action, actions, reward, done), active)
            return (after, replay, key), {"reward": jnp.sum(reward * active), "collected": active.sum()}
        return one_step

    def budget(it, stats):
        # updates in proportion to the transitions collected, so a part-filled iteration (the
        # last round of an epoch) keeps the replay ratio
        n_updates = -(-c.updates_per_iteration * stats["collected"].sum() // (c.num_envs * c.steps_per_iteration))
        return n_updates, it * c.steps_per_iteration < member_steps

    def loss_fn(params, target, batch):
        return ddqn_loss(params, target, setup.q_fn, market, batch, spec.hp)

    envs = jax.vmap(start_state, (0, 0, None))(jnp.zeros_like(slots), jnp.zeros_like(slots), env)
    _, state, metrics = collect_then_learn(schedule(setup), loss_fn, spec.hp, collect, envs, state, k_run, budget=budget)
    return state.replace(key=key), metrics
