"""The hyper-agent population of one run: markets, the frozen sub-agents' Q tables, and the
compiled init / epoch / validation / rollout functions (seeds vmapped, one compile)."""

from __future__ import annotations

import copy
import dataclasses
import functools

import jax
import jax.numpy as jnp

from hftjax.dataset import learning_settings, load_market, trading_settings
from hftjax.env.config import EnvConfig
from hftjax.hyper.agent import HyperSetup, hyper_epoch, init_hyper, q_mix_grid, seed_hparams
from hftjax.hyper.config import HyperConfig
from hftjax.hyper.subq import sub_q_table
from hftjax.learner.dqn import greedy_rollout
from hftjax.learner.loop import q_bound
from hftjax.learner.members import keep_best, vmap_members
from hftjax.metrics import paper_metrics
from hftjax.options import compiled_part
from hftjax.sharding import Placement, host_values
from hftjax.subagent import subagent_net


class HyperTrainer:
    """Everything the hyper-agent of ``cfg`` needs from a sub-agent run (``hyper.artifacts.TrainedSubAgents``)."""

    def __init__(self, subagents, cfg: HyperConfig, placement: Placement = Placement()):
        self.subagents = subagents
        self.cfg = cfg
        self.placement = placement  # the seeds over devices
        self.env: EnvConfig = subagents.env
        self.setup = HyperSetup(compiled_part(cfg), self.env.levels)
        self.hp = placement.members(seed_hparams(cfg))
        self.trading = placement.replicated(learning_settings(self.env, subagents.data_dir))  # training and validation
        self.evaluation_trading = trading_settings(self.env, subagents.data_dir)
        self.sub_params = jax.tree.map(lambda *x: jnp.stack(x), *[subagents.for_seed(s) for s in cfg.seeds])
        self.sub_net = subagent_net(subagents.cfg, self.env.levels)
        self._markets: dict = {}

    def acting(self, **options) -> HyperTrainer:
        """This run acting otherwise (``routing``, ``decision_interval``, ``seed_vote``): the same
        members and Q tables, so levers on acting are compared without retraining."""
        other = copy.copy(self)  # shares the computed markets
        other.cfg = dataclasses.replace(self.cfg, **options)
        other.setup = HyperSetup(compiled_part(other.cfg), self.env.levels)
        return other

    def market(self, split: str):
        """(market, per-seed Q tables (S, T, K, A, K)) of a split, computed once."""
        if split not in self._markets:
            market, _ = load_market(self.env, self.subagents.data_dir, split, episode="split",
                                   run_dir=self.subagents.run_dir)
            tables = jnp.stack([sub_q_table(self.sub_net, jax.tree.map(lambda x: x[i], self.sub_params), market)
                                for i in range(len(self.cfg.seeds))])
            self._markets[split] = (self.placement.replicated(market), self.placement.members(tables))
        return self._markets[split]

    def init(self):
        market, _ = self.market("train")
        keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1_000_003) for s in self.cfg.seeds])
        return hyper_init(self.setup, self.placement.members(keys), self.hp, market)

    def q_bound(self):
        """Per seed, the |Q_mix| that means divergence (``hftjax.learner.loop.q_bound``)."""
        market, _ = self.market("train")
        return q_bound(host_values(market.close), self.trading, host_values(self.hp.gamma))

    def epoch(self, state):
        market, tables = self.market("train")
        state, metrics = hyper_train_epoch(self.setup, state, self.hp, tables, market, self.trading)
        valid, valid_tables = self.market("valid")
        state, scores = hyper_validate(self.setup, state, valid_tables, valid, self.trading)
        return state, {**metrics, **scores}

    def rollout(self, params, split: str):
        """Greedy per-seed runs of the hyper-agent with ``params`` (stacked over seeds); with
        ``seed_vote`` one run of the seeds' majority, repeated per seed."""
        market, tables = self.market(split)
        if self.cfg.seed_vote:
            return voted_rollout(self.setup, params, tables, market, self.evaluation_trading)
        return hyper_rollouts(self.setup, params, tables, market, self.evaluation_trading)


@functools.partial(jax.jit, static_argnums=0)
def hyper_init(setup, keys, hp, market):
    return jax.vmap(lambda k, h: init_hyper(setup, k, h, market))(keys, hp)


@functools.partial(jax.jit, static_argnums=0)
def hyper_train_epoch(setup, state, hp, tables, market, trading):
    return vmap_members(lambda s, h, t: hyper_epoch(setup, s, h, t, market, trading))(state, hp, tables)


def acting_q(setup, params, table, market):
    """(T, K, K) Q_mix of every row from every previous level, as the greedy policy mixes it
    (soft, or hard routing); the params are fixed along a greedy run, so acting is a lookup."""
    return q_mix_grid(setup, params, market, jnp.arange(market.num_rows), table, setup.cfg.routing == "hard")[0]


def lookup_policy(setup, q):
    """The greedy policy over a (T, K, K) grid of scores, changing position only at rows that
    ``decision_interval`` divides (elsewhere a score whose argmax is the held level)."""
    interval = setup.cfg.decision_interval

    def policy(obs):
        scores = q[obs.row, obs.prev_action]
        if interval == 1:
            return scores
        hold = jax.nn.one_hot(obs.prev_action, setup.levels)
        return jnp.where((obs.row % interval == 0)[:, None], scores, hold)
    return policy


def mixed_policy(setup, params, table, market):
    return lookup_policy(setup, acting_q(setup, params, table, market))


def seed_votes(q):
    """(S, T, K, K) per-seed Q grids -> (T, K, K): per level, how many seeds' greedy action it
    is, plus 1/2 for the held level (a tie keeps the position)."""
    levels = q.shape[-1]
    return jax.nn.one_hot(jnp.argmax(q, axis=-1), levels).sum(axis=0) + 0.5 * jnp.eye(levels)


@functools.partial(jax.jit, static_argnums=0)
def hyper_rollouts(setup, params, tables, market, trading):
    return jax.vmap(lambda p, t: greedy_rollout(mixed_policy(setup, p, t, market), market, trading, setup.levels))(params, tables)


@functools.partial(jax.jit, static_argnums=0)
def voted_rollout(setup, params, tables, market, trading):
    votes = seed_votes(jax.vmap(lambda p, t: acting_q(setup, p, t, market))(params, tables))
    run = greedy_rollout(lookup_policy(setup, votes), market, trading, setup.levels)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (tables.shape[0], *x.shape)), run)


@functools.partial(jax.jit, static_argnums=0)
def hyper_validate(setup, state, tables, market, trading):
    """Greedy run on the validation split; keep the best params by ``select_on``. Returns the
    state and the return rate and ASR of each seed."""
    def one(s, table):
        _, rewards, acc = greedy_rollout(mixed_policy(setup, s.params, table, market), market, trading, setup.levels)
        asr = paper_metrics(rewards, acc["required_money"])["ASR"]
        score = asr if setup.cfg.select_on == "sharpe" else acc["return_rate"]
        return keep_best(s, score), {"valid_return_rate": acc["return_rate"], "valid_asr": asr}
    return jax.vmap(one)(state, tables)
