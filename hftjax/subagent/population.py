"""The six sub-agents as a population: their network, and each agent on the chunks of its label."""

from __future__ import annotations

import numpy as np

from hftjax.learner.population import MemberSpec, Setup, population
from hftjax.subagent.config import SubAgentConfig
from hftjax.subagent.network import SubAgentNet


def subagent_net(cfg: SubAgentConfig, levels: int) -> SubAgentNet:
    return SubAgentNet(levels=levels, hidden=cfg.hidden, dueling_mean=cfg.dueling_mean, adapter=cfg.adapter)


def _chunk_starts(labels: dict, agent: str) -> np.ndarray:
    indicator, label = agent.split("_")
    return np.asarray(labels[indicator]["chunks"][label], np.int64) * labels["chunk_len"]


def build_population(cfg: SubAgentConfig, levels: int, train_labels: dict,
                     valid_labels: dict) -> tuple[Setup, MemberSpec, list[dict]]:
    """The six agents (x seeds x sweep), each on the chunks of its label."""
    members = cfg.members
    train = [_chunk_starts(train_labels, m["agent"]) for m in members]
    valid = [_chunk_starts(valid_labels, m["agent"]) for m in members]
    setup, spec = population(cfg, levels, subagent_net(cfg, levels), members, train_labels, valid_labels, train, valid)
    return setup, spec, members
