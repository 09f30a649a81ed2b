"""The PPO baseline of the paper (docs/method.md s.6), in the PureJaxRL style: every update of an
epoch (rollout, GAE, clipped policy and value losses over shuffled minibatches) runs inside one
``jit`` as a ``lax.scan``, with ``ppo_envs`` episodes side by side, and the seeds as a ``vmap``.

Episodes are the whole chunks of the training split (as for DQN and DDQN), each from a random
start level, auto-reset when they end; the episodes in flight carry over from one epoch to the
next. An epoch runs ``ppo_passes`` x (training chunks x chunk steps) env steps, so at 1 it sees
as many steps as a DQN epoch. The policy learns from rewards in percent of a full position's
notional at the step's close (100 r_t / (max_holding c_t)), so its value scale does not depend
on the position size or the price level; evaluation uses the env's own rewards.

The actor and the critic are separate two-layer tanh MLPs on [single features, trend features,
one-hot previous level], orthogonally initialised. Calling the network gives the actor's logits,
so greedy evaluation (argmax) runs through the same code as the Q-network baselines. Each seed
keeps its best epoch by the greedy validation return rate, as every other learner does.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hftjax.baselines.config import BASELINES, BaselineConfig, SUBAGENT_STREAMS
from hftjax.baselines.learned import whole_chunks
from hftjax.env.config import EnvConfig
from hftjax.env.core import EnvState, observe_rows, random_start_state, step
from hftjax.env.market import MarketData
from hftjax.env.params import LEVELS, TradingSettings
from hftjax.learner.chunk_epoch import chunk_params
from hftjax.learner.config import LearnerConfig
from hftjax.learner.members import Setup, keep_best, padded
from hftjax.learner.optimizer import make_optimizer, set_learning_rate
from hftjax.learner.population import PopulationTrainer
from hftjax.learner.stats import update_metrics
from hftjax.learner.validation import validate as validate_chunks
from hftjax.options import compiled_part
from hftjax.sharding import Placement


class ActorCritic(nn.Module):
    levels: int = LEVELS
    hidden: int = 64

    def setup(self):
        def mlp(last: int, scale: float):
            orthogonal = nn.initializers.orthogonal
            return [nn.Dense(self.hidden, kernel_init=orthogonal(math.sqrt(2))),
                    nn.Dense(self.hidden, kernel_init=orthogonal(math.sqrt(2))),
                    nn.Dense(last, kernel_init=orthogonal(scale))]
        self.actor = mlp(self.levels, 0.01)  # near-uniform first policy
        self.critic = mlp(1, 1.0)

    def _run(self, layers, x):
        for layer in layers[:-1]:
            x = jnp.tanh(layer(x))
        return layers[-1](x)

    def _inputs(self, single, trend, prev_action):
        return jnp.concatenate([single, trend, jax.nn.one_hot(prev_action, self.levels)], axis=-1)

    def __call__(self, single, trend, prev_action):
        """Logits (N, K) of the policy."""
        return self._run(self.actor, self._inputs(single, trend, prev_action))

    def policy_value(self, single, trend, prev_action):
        """(logits (N, K), value (N,))."""
        x = self._inputs(single, trend, prev_action)
        return self._run(self.actor, x), self._run(self.critic, x)[..., 0]


@struct.dataclass
class PPOHParams:
    """Traced per-member hyper-parameters."""
    lr: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip: jax.Array
    entropy: jax.Array
    value: jax.Array


@dataclasses.dataclass(frozen=True)
class PPOSetup:
    """Static structure (hashable: part of the compiled program)."""
    base: Setup              # levels, chunk length, chunk counts and the network (validation reuses it)
    envs: int
    rollout: int
    update_epochs: int
    minibatches: int
    updates: int             # PPO updates per epoch
    grad_clip: float


@struct.dataclass
class PPOSpec:
    train_starts: jax.Array  # (E,) int32 first rows of the training chunks
    num_train: jax.Array     # () int32
    valid_starts: jax.Array  # (V,) int32 first rows of the validation chunks
    num_valid: jax.Array     # () int32
    hp: PPOHParams


@struct.dataclass
class PPOState:
    params: object
    opt_state: object
    envs: EnvState           # (ppo_envs,) episodes in flight
    key: jax.Array
    epoch: jax.Array         # () int32 epochs completed
    best_params: object
    best_score: jax.Array    # () float32 best validation return rate so far
    best_epoch: jax.Array    # () int32 (-1 before any validation)


@struct.dataclass
class Rollout:
    row: jax.Array           # (T, N) int32
    prev_action: jax.Array   # (T, N) int32
    action: jax.Array        # (T, N) int32
    log_prob: jax.Array      # (T, N) float32 under the policy that acted
    value: jax.Array         # (T, N) float32
    reward: jax.Array        # (T, N) float32 in percent of the notional
    done: jax.Array          # (T, N) bool


def ppo_hparams(cfg: BaselineConfig, learner: LearnerConfig, count: int) -> PPOHParams:
    values = {"lr": cfg.ppo_lr, "gamma": learner.gamma, "gae_lambda": cfg.ppo_gae_lambda, "clip": cfg.ppo_clip,
              "entropy": cfg.ppo_entropy, "value": cfg.ppo_value}
    return PPOHParams(**{k: jnp.full((count,), v, jnp.float32) for k, v in values.items()})


def build_ppo(cfg: BaselineConfig, learner: LearnerConfig, levels: int, chunk_len: int,
              train_starts, valid_starts) -> tuple[PPOSetup, PPOSpec, list[dict]]:
    """(setup, spec, members): one member per seed, on every whole training chunk."""
    members = [{"agent": "ppo", "seed": int(s)} for s in learner.seeds]
    count = len(members)
    net = ActorCritic(levels=levels, hidden=cfg.hidden)
    base = Setup(compiled_part(learner), levels, chunk_len, len(train_starts), max(1, len(valid_starts)), net)
    batch = cfg.ppo_envs * cfg.ppo_rollout
    updates = max(1, math.ceil(cfg.ppo_passes * len(train_starts) * (chunk_len - 1) / batch))
    setup = PPOSetup(base, cfg.ppo_envs, cfg.ppo_rollout, cfg.ppo_update_epochs, cfg.ppo_minibatches, updates,
                     learner.grad_clip)

    (train, num_train, _), (valid, num_valid, _) = (padded([np.asarray(s)] * count) for s in (train_starts, valid_starts))
    spec = PPOSpec(jnp.asarray(train), jnp.asarray(num_train), jnp.asarray(valid), jnp.asarray(num_valid),
                   ppo_hparams(cfg, learner, count))
    return setup, spec, members


def ppo_keys(members: list[dict]) -> jax.Array:
    return jnp.stack([jax.random.fold_in(jax.random.key(m["seed"]), SUBAGENT_STREAMS + BASELINES.index("ppo"))
                      for m in members])


def init_member(setup: PPOSetup, key, spec: PPOSpec, market: MarketData, trading: TradingSettings) -> PPOState:
    k_net, k_env, k_run = jax.random.split(key, 3)
    params = setup.base.net.init(k_net, market.single[:1], market.trend[:1], jnp.zeros((1,), jnp.int32),
                                 method=ActorCritic.policy_value)
    opt_state = set_learning_rate(make_optimizer(setup.grad_clip).init(params), spec.hp.lr)
    env = chunk_params(setup.base, market, trading, spec.train_starts, spec.num_train)
    envs = jax.vmap(random_start_state, (0, None))(jax.random.split(k_env, setup.envs), env)
    return PPOState(params=params, opt_state=opt_state, envs=envs, key=k_run, epoch=jnp.int32(0),
                    best_params=params, best_score=jnp.float32(-jnp.inf), best_epoch=jnp.int32(-1))


def advantages(rollout: Rollout, last_value, gamma, gae_lambda):
    """(advantages, returns) (T, N) by generalised advantage estimation; an episode's last step
    (``done``) bootstraps nothing."""
    def back(carry, x):
        advantage, next_value = carry
        reward, value, done = x
        live = 1.0 - done
        delta = reward + gamma * live * next_value - value
        advantage = delta + gamma * gae_lambda * live * advantage
        return (advantage, value), advantage

    _, adv = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value),
                          (rollout.reward, rollout.value, rollout.done.astype(jnp.float32)), reverse=True)
    return adv, adv + rollout.value


def ppo_loss(params, net, market: MarketData, batch: Rollout, adv, returns, hp: PPOHParams):
    """Clipped surrogate + value weight x clipped value loss - entropy weight x entropy."""
    obs = observe_rows(market, batch.row, batch.prev_action)
    logits, value = net.apply(params, obs.single, obs.trend, obs.prev_action, method=ActorCritic.policy_value)
    log_p = jax.nn.log_softmax(logits)
    ratio = jnp.exp(jnp.take_along_axis(log_p, batch.action[:, None], axis=-1)[:, 0] - batch.log_prob)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - hp.clip, 1 + hp.clip) * adv))
    clipped = batch.value + jnp.clip(value - batch.value, -hp.clip, hp.clip)
    value_loss = 0.5 * jnp.mean(jnp.maximum((value - returns) ** 2, (clipped - returns) ** 2))
    entropy = -jnp.mean(jnp.sum(jnp.exp(log_p) * log_p, axis=-1))
    loss = policy + hp.value * value_loss - hp.entropy * entropy
    return loss, {"policy_loss": policy, "value_loss": value_loss, "entropy": entropy}


def train_epoch(setup: PPOSetup, state: PPOState, spec: PPOSpec, market: MarketData, trading: TradingSettings):
    """``setup.updates`` PPO updates of one member."""
    net, hp = setup.base.net, spec.hp
    env = chunk_params(setup.base, market, trading, spec.train_starts, spec.num_train)
    optimizer = make_optimizer(setup.grad_clip)

    def policy_value(params, envs):
        obs = observe_rows(market, envs.row, envs.prev_action)
        return net.apply(params, obs.single, obs.trend, obs.prev_action, method=ActorCritic.policy_value)

    def env_step(params):
        def one(carry, _):
            envs, key = carry
            key, k_act, k_reset = jax.random.split(key, 3)
            logits, value = policy_value(params, envs)
            action = jax.random.categorical(k_act, logits).astype(jnp.int32)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
            notional = env.max_holding * market.close[envs.row]
            _, after, reward, done, _, _ = jax.vmap(step, (0, 0, 0, None))(
                jax.random.split(k_reset, setup.envs), envs, action, env)
            return (after, key), (Rollout(envs.row, envs.prev_action, action, log_prob, value,
                                          100.0 * reward / notional, done), reward)
        return one

    def update(carry, _):
        params, opt_state, envs, key = carry
        (envs, key), (rollout, reward) = jax.lax.scan(env_step(params), (envs, key), None, length=setup.rollout)
        adv, returns = advantages(rollout, policy_value(params, envs)[1], hp.gamma, hp.gae_lambda)
        flat = jax.tree.map(lambda x: x.reshape(-1), (rollout, adv, returns))

        def pass_over(carry, key):
            order = jax.random.permutation(key, setup.envs * setup.rollout).reshape(setup.minibatches, -1)

            def minibatch(carry, rows):
                params, opt_state = carry
                batch, b_adv, b_returns = jax.tree.map(lambda x: x[rows], flat)
                (loss, parts), grads = jax.value_and_grad(ppo_loss, has_aux=True)(
                    params, net, market, batch, b_adv, b_returns, hp)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (jax.tree.map(jnp.add, params, updates), opt_state), update_metrics(loss, parts, grads)
            return jax.lax.scan(minibatch, carry, order)

        key, k_pass = jax.random.split(key)
        (params, opt_state), metrics = jax.lax.scan(pass_over, (params, opt_state),
                                                    jax.random.split(k_pass, setup.update_epochs))
        return (params, opt_state, envs, key), (jax.tree.map(jnp.sum, metrics), reward.sum())

    carry = (state.params, state.opt_state, state.envs, state.key)
    (params, opt_state, envs, key), (sums, rewards) = jax.lax.scan(update, carry, None, length=setup.updates)
    totals = jax.tree.map(jnp.sum, sums)
    steps = setup.updates * setup.update_epochs * setup.minibatches
    metrics = {"train_reward": rewards.sum(), "updates": jnp.int32(steps), "nonfinite": totals["nonfinite"],
               **{k: totals[k] / steps for k in totals if k != "nonfinite"}}
    state = state.replace(params=params, opt_state=opt_state, envs=envs, key=key, epoch=state.epoch + 1)
    return state, metrics


def validate(setup: PPOSetup, state: PPOState, spec: PPOSpec, market: MarketData, trading: TradingSettings):
    """Keep the best params by the mean greedy return rate over the validation chunks."""
    score = validate_chunks(setup.base, state, spec, market, trading)
    return keep_best(state, score, spec.num_valid > 0), score


def build(cfg: BaselineConfig, learner: LearnerConfig, levels: int, train_labels: dict, valid_labels: dict):
    chunk_len = train_labels["chunk_len"]
    return build_ppo(cfg, learner, levels, chunk_len, whole_chunks(train_labels) * chunk_len,
                     whole_chunks(valid_labels) * chunk_len)


class PPOTrainer(PopulationTrainer):
    """The seeds' PPO members, trained and validated by one jitted call each per epoch."""

    def __init__(self, cfg: BaselineConfig, learner: LearnerConfig, env: EnvConfig, data_dir,
                 placement: Placement = Placement(), run_dir=None):
        super().__init__(env, data_dir, functools.partial(build, cfg, learner), ppo_keys, placement, run_dir)

    def init(self):
        return population_init(self.setup, self.keys(), self.spec, self.train_market, self.trading)

    def q_bound(self):
        return None  # not a Q-learner: the non-finite checks only

    def epoch(self, state):
        state, metrics = population_epoch(self.setup, state, self.spec, self.train_market, self.trading)
        state, score = population_validate(self.setup, state, self.spec, self.valid_market, self.trading)
        return state, {**metrics, "valid_return_rate": score}


@functools.partial(jax.jit, static_argnums=0)
def population_init(setup, keys, spec, market, trading):
    return jax.vmap(functools.partial(init_member, setup), (0, 0, None, None))(keys, spec, market, trading)


@functools.partial(jax.jit, static_argnums=0)
def population_epoch(setup, state, spec, market, trading):
    return jax.vmap(functools.partial(train_epoch, setup), (0, 0, None, None))(state, spec, market, trading)


@functools.partial(jax.jit, static_argnums=0)
def population_validate(setup, state, spec, market, trading):
    return jax.vmap(functools.partial(validate, setup), (0, 0, None, None))(state, spec, market, trading)
