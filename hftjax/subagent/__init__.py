"""The six MacroHFT sub-agents: conditional-adapter network, population (agents x seeds x sweep)
and their training on the chunks of their label."""

from hftjax.subagent.config import AGENTS, HPARAMS, REFERENCE_ALPHA, SubAgentConfig
from hftjax.subagent.network import SubAgentNet
from hftjax.subagent.population import subagent_net

__all__ = ["AGENTS", "HPARAMS", "REFERENCE_ALPHA", "SubAgentConfig", "SubAgentNet", "subagent_net"]
