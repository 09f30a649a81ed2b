"""The MacroHFT hyper-agent: mixing network, episodic memory, and its training over frozen sub-agents."""

from hftjax.hyper.config import HyperConfig
from hftjax.hyper.network import HyperAgentNet, mix_q

__all__ = ["HyperAgentNet", "HyperConfig", "mix_q"]
