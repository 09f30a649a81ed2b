"""The MacroHFT hyper-agent: mixing network over the frozen sub-agents."""

from hftjax.hyper.network import HyperAgentNet, mix_q

__all__ = ["HyperAgentNet", "mix_q"]
