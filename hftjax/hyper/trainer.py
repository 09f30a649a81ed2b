"""The hyper-agent population of one run: markets, the frozen sub-agents' Q tables, and the
compiled init / epoch / validation / rollout functions (seeds vmapped, one compile)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from hftjax.env.config import EnvConfig
from hftjax.dqn import greedy_rollout
from hftjax.hyper.agent import HyperSetup, hyper_epoch, init_hyper, q_mix_grid, seed_hparams
from hftjax.hyper.config import HyperConfig
from hftjax.hyper.subq import sub_q_table
from hftjax.metrics import paper_metrics
from hftjax.options import compiled_part
from hftjax.rl import keep_best, vmap_members
from hftjax.sharding import Placement, host_values
from hftjax.subagent.population import subagent_net
from hftjax.training import q_bound


class HyperRun:
    """Everything the hyper-agent of ``cfg`` needs from a sub-agent run (``hyper.artifacts.SubAgentRun``)."""

    def __init__(self, subagents, cfg: HyperConfig, placement: Placement = Placement()):
        self.subagents = subagents
        self.cfg = cfg
        self.placement = placement  # the seeds over devices
        self.env: EnvConfig = subagents.env
        self.setup = HyperSetup(compiled_part(cfg), self.env.levels)
        self.hp = placement.members(seed_hparams(cfg))
        self.trading = placement.replicated(self.env.learning(subagents.data_dir))  # training and validation
        self.evaluation_trading = self.env.trading(subagents.data_dir)
        self.sub_params = jax.tree.map(lambda *x: jnp.stack(x), *[subagents.for_seed(s) for s in cfg.seeds])
        self.sub_net = subagent_net(subagents.cfg, self.env.levels)
        self._markets: dict = {}

    def market(self, split: str):
        """(market, per-seed Q tables (S, T, K, A, K)) of a split, computed once."""
        if split not in self._markets:
            market, _ = self.env.load(self.subagents.data_dir, split, episode="split")
            tables = jnp.stack([sub_q_table(self.sub_net, jax.tree.map(lambda x: x[i], self.sub_params), market)
                                for i in range(len(self.cfg.seeds))])
            self._markets[split] = (self.placement.replicated(market), self.placement.members(tables))
        return self._markets[split]

    def init(self):
        market, _ = self.market("train")
        keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1_000_003) for s in self.cfg.seeds])
        return hyper_init(self.setup, self.placement.members(keys), self.hp, market)

    def q_bound(self):
        """Per seed, the |Q_mix| that means divergence (``hftjax.training.q_bound``)."""
        market, _ = self.market("train")
        return q_bound(host_values(market.close), self.trading, host_values(self.hp.gamma))

    def epoch(self, state):
        market, tables = self.market("train")
        state, metrics = hyper_train_epoch(self.setup, state, self.hp, tables, market, self.trading)
        valid, valid_tables = self.market("valid")
        state, scores = hyper_validate(self.setup, state, valid_tables, valid, self.trading)
        return state, {**metrics, **scores}

    def rollout(self, params, split: str):
        """Greedy per-seed runs of the hyper-agent with ``params`` (stacked over seeds)."""
        market, tables = self.market(split)
        return hyper_rollouts(self.setup, params, tables, market, self.evaluation_trading)


@functools.partial(jax.jit, static_argnums=0)
def hyper_init(setup, keys, hp, market):
    return jax.vmap(lambda k, h: init_hyper(setup, k, h, market))(keys, hp)


@functools.partial(jax.jit, static_argnums=0)
def hyper_train_epoch(setup, state, hp, tables, market, trading):
    return vmap_members(lambda s, h, t: hyper_epoch(setup, s, h, t, market, trading))(state, hp, tables)


def mixed_policy(setup, params, table, market):
    """The greedy policy of Q_mix, as a lookup into Q_mix of every row (the params are fixed
    along a greedy run)."""
    q, _ = q_mix_grid(setup.net, params, market, jnp.arange(market.num_rows), table)
    return lambda obs: q[obs.row, obs.prev_action]


@functools.partial(jax.jit, static_argnums=0)
def hyper_rollouts(setup, params, tables, market, trading):
    return jax.vmap(lambda p, t: greedy_rollout(mixed_policy(setup, p, t, market), market, trading, setup.levels))(params, tables)


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
