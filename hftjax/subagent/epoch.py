"""One training epoch of one member, entirely on device: collect and update in ``lax.scan``.

Every chunk of the member's label runs once, in shuffled order, from a random start level.
``num_envs`` slots run episodes side by side; all chunks have the same length, so episodes
advance in lock-step rounds and each slot knows from the step counter when to start its next
chunk. Every ``steps_per_iteration`` steps the learner runs ``updates_per_iteration`` updates
(once more than ``learning_starts`` transitions are stored). Members with fewer chunks mask
the steps past their own epoch end.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hftjax.env.core import start_state, transition
from hftjax.env.market import MarketData
from hftjax.env.params import EnvParams
from hftjax.replay import replay_add, replay_sample
from hftjax.rl import epoch_metrics, make_optimizer, tree_select
from hftjax.subagent.learner import Transition, act, epsilon, update
from hftjax.subagent.population import MemberSpec, MemberState, Setup


def env_params(setup: Setup, market: MarketData, starts, count) -> EnvParams:
    c = setup.cfg
    return EnvParams(market=market, episode_starts=starts, num_episodes=count,
                     episode_len=jnp.int32(setup.chunk_len), fee=jnp.float32(c.fee),
                     max_holding=jnp.float32(c.max_holding), levels=jnp.int32(c.levels),
                     random_start=jnp.bool_(True), start_action=jnp.int32(0))


def epoch_shape(setup: Setup) -> tuple[int, int]:
    """(steps per slot in the longest member's epoch, iterations of the update loop)."""
    c = setup.cfg
    rounds = -(-setup.max_train // c.num_envs)
    steps = rounds * (setup.chunk_len - 1)
    return steps, -(-steps // c.steps_per_iteration)


def train_epoch(setup: Setup, state: MemberState, spec: MemberSpec, market: MarketData):
    c, net = setup.cfg, setup.net
    optimizer = make_optimizer(c.grad_clip)
    ep_steps = setup.chunk_len - 1
    total_steps, iterations = epoch_shape(setup)
    key, k_order, k_run = jax.random.split(state.key, 3)
    valid = jnp.arange(setup.max_train) < spec.num_train
    order = jnp.argsort(jnp.where(valid, jax.random.uniform(k_order, valid.shape), 2.0))
    member_steps = -(-spec.num_train // c.num_envs) * ep_steps
    eps = epsilon(spec.hp, state.epoch)
    params_env = env_params(setup, market, spec.train_starts, spec.num_train)
    slots = jnp.arange(c.num_envs)

    def collect(params):
        def one_step(carry, t):
            envs, replay, key = carry
            key, k_start, k_act = jax.random.split(key, 3)
            slot = (t // ep_steps) * c.num_envs + slots
            active = (slot < spec.num_train) & (t < member_steps)
            episode = order[jnp.minimum(slot, setup.max_train - 1)]
            starts = jax.random.randint(k_start, slots.shape, 0, c.levels)
            fresh = jax.vmap(start_state, (0, 0, None))(episode, starts, params_env)
            envs = tree_select(t % ep_steps == 0, fresh, envs)
            actions = act(net, params, market, k_act, envs.row, envs.prev_action, eps, c.levels)
            after, reward, done, _ = jax.vmap(transition, (0, 0, None))(envs, actions, params_env)
            replay = replay_add(replay, Transition(envs.row, envs.prev_action, actions, reward, done), active)
            return (after, replay, key), (jnp.sum(reward * active), active.sum())
        return one_step

    def iteration(carry, it):
        envs, replay, params, target, opt_state, key = carry
        (envs, replay, key), (rewards, collected) = jax.lax.scan(
            collect(params), (envs, replay, key), it * c.steps_per_iteration + jnp.arange(c.steps_per_iteration))
        key, k_updates = jax.random.split(key)
        # updates in proportion to the transitions collected, so a part-filled iteration (the
        # last round of an epoch) keeps the replay ratio
        n_updates = -(-c.updates_per_iteration * collected.sum() // (c.num_envs * c.steps_per_iteration))

        def learn(x):
            def one_update(carry, inputs):
                j, k = inputs
                new_p, new_tp, new_os, metrics = update(net, optimizer, *carry, market,
                                                        replay_sample(replay, k, c.batch_size), spec.hp)
                keep = j < n_updates
                carry = tree_select(keep, (new_p, new_tp, new_os), carry)
                return carry, jax.tree.map(lambda m: jnp.where(keep, m, 0.0), metrics)
            inputs = (jnp.arange(c.updates_per_iteration), jax.random.split(k_updates, c.updates_per_iteration))
            carry, metrics = jax.lax.scan(one_update, x, inputs)
            return carry, jax.tree.map(jnp.sum, metrics)

        def skip(x):
            zero = jnp.float32(0)
            return x, {k: zero for k in ("loss", "td", "kl", "grad_norm", "nonfinite")}

        ready = (replay.count > c.learning_starts) & (it * c.steps_per_iteration < member_steps)
        (params, target, opt_state), metrics = jax.lax.cond(ready, learn, skip, (params, target, opt_state))
        metrics["updates"] = ready * n_updates
        return (envs, replay, params, target, opt_state, key), {"reward": rewards.sum(), **metrics}

    envs = jax.vmap(start_state, (0, 0, None))(jnp.zeros_like(slots), jnp.zeros_like(slots), params_env)
    carry = (envs, state.replay, state.params, state.target_params, state.opt_state, k_run)
    (_, replay, params, target, opt_state, _), per_iteration = jax.lax.scan(iteration, carry, jnp.arange(iterations))
    totals = jax.tree.map(jnp.sum, per_iteration)
    metrics = {"train_reward": totals["reward"], "epsilon": eps, **epoch_metrics(totals, ("loss", "td", "kl"))}
    state = state.replace(params=params, target_params=target, opt_state=opt_state, replay=replay,
                          key=key, epoch=state.epoch + 1)
    return state, metrics
