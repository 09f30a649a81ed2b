"""The sub-agent Q-network (docs/method.md s.4): action embedding, conditional adapter, dueling head.

``dueling_mean="sample"`` (default) subtracts each row's mean advantage; ``"batch"`` takes one
mean over the whole batch tensor, as the reference does (identical at batch size 1).
``adapter=False`` is the paper's ablation: the condition (previous-action embedding plus the
trend embedding) is added to the normalised state instead of modulating it.
"""

from __future__ import annotations

import flax.linen as nn

from hftjax.env.params import LEVELS
from hftjax.learner.layers import Linear, gelu_tanh, layer_norm, modulate

DUELING_MEANS = ("sample", "batch")


class SubAgentNet(nn.Module):
    levels: int = LEVELS
    hidden: int = 64
    dueling_mean: str = "sample"
    adapter: bool = True

    @nn.compact
    def __call__(self, single, trend, prev_action):
        """single (N, F_s), trend (N, F_t), prev_action (N,) -> Q (N, levels)."""
        h = self.hidden
        embedding = self.param("embedding", nn.initializers.normal(1.0), (self.levels, h))
        condition = embedding[prev_action] + Linear(h, name="fc2")(trend)
        state = Linear(h, name="fc1")(single)
        x = modulate(state, condition, h) if self.adapter else layer_norm(state) + condition
        value = Linear(1, name="value_out")(gelu_tanh(Linear(4 * h, name="value_hidden")(x)))
        advantage = Linear(self.levels, name="advantage_out")(gelu_tanh(Linear(4 * h, name="advantage_hidden")(x)))
        if self.dueling_mean == "batch":
            mean = advantage.mean()
        else:
            mean = advantage.mean(axis=-1, keepdims=True)
        return value + advantage - mean
