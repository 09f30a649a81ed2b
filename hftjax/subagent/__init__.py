"""The six MacroHFT sub-agents: conditional-adapter network, population (agents x seeds x sweep)
and their training on the chunks of their label."""

from hftjax.subagent.config import AGENTS, REFERENCE_ALPHA, SubAgentConfig
from hftjax.subagent.network import SubAgentNet

__all__ = ["AGENTS", "REFERENCE_ALPHA", "SubAgentConfig", "SubAgentNet"]
