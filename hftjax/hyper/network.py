"""The hyper-agent network (docs/method.md s.5): softmax mixing weights over the frozen sub-agents.

``encode(single, trend, prev_action)`` is the 2H key [embedding[prev_action], fc1([single, trend])]
(action embedding first) that the episodic memory stores. ``__call__`` conditions the LayerNormed
key on the market context with the adaLN adapter and returns softmax weights over the
``num_agents`` sub-agents, plus the key. The last layer (``net_out``) starts at zero, so a fresh
net mixes uniformly. ``context=False`` is the paper's ablation "without the conditional adapter":
z = LayerNorm(key) and the net has no ``fc2`` / ``adaLN_modulation`` parameters.

Parameter names mirror the PyTorch reference: ``fc1``, ``fc2``, ``embedding``,
``adaLN_modulation`` (torch ``adaLN_modulation.1``), ``net_hidden`` (torch ``net.0``) and
``net_out`` (torch ``net.2``); see :func:`hftjax.interop.reference.hyperagent_params`.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from hftjax.env.params import LEVELS
from hftjax.learner.layers import Linear, gelu_tanh, layer_norm

__all__ = ["HyperAgentNet", "mix_q"]


class HyperAgentNet(nn.Module):
    levels: int = LEVELS  # previous-action embedding rows (K)
    hidden: int = 32      # H; the key and the modulated state are 2H wide
    num_agents: int = 6   # sub-agents mixed, in the order slope_1..3, vol_1..3
    context: bool = True  # False: the ablation without the context conditioning

    def setup(self):
        h = self.hidden
        # Two entry points share these layers, so they live in setup rather than in a compact method.
        self.embedding = self.param("embedding", nn.initializers.normal(1.0), (self.levels, h))
        self.fc1 = Linear(h)
        if self.context:
            self.fc2 = Linear(h)
            # 4H outputs: (shift, scale) for the 2H key, shift first (as hftjax.learner.layers.modulate).
            self.adaLN_modulation = Linear(4 * h)
        self.net_hidden = Linear(4 * h)
        self.net_out = Linear(self.num_agents, zero_init=True)

    def encode(self, single, trend, prev_action):
        """single (N, F_s), trend (N, F_t), prev_action (N,) ints -> key (N, 2H)."""
        state = self.fc1(jnp.concatenate([single, trend], axis=-1))
        return jnp.concatenate([self.embedding[prev_action], state], axis=-1)

    def __call__(self, single, trend, context, prev_action):
        """-> (weights (N, num_agents) summing to 1 per row, key (N, 2H)).

        ``context`` (N, F_c) is ignored (and may be None) when ``self.context`` is False.
        """
        key = self.encode(single, trend, prev_action)
        if self.context:
            c = self.fc2(context)
            # hftjax.learner.layers.modulate, written out because its Linear is created inline (compact-only).
            shift, scale = jnp.split(self.adaLN_modulation(nn.silu(c)), 2, axis=-1)
            z = layer_norm(key) * (1 + scale) + shift
        else:
            z = layer_norm(key)
        logits = self.net_out(gelu_tanh(self.net_hidden(z)))
        return nn.softmax(logits, axis=-1), key


def mix_q(weights, sub_q):
    """Q_mix[n, k] = sum_i weights[n, i] * sub_q[i, n, k].

    ``weights`` (N, A); ``sub_q`` (A, N, K): agent-major, i.e. ``jnp.stack([q_1, ..., q_A])`` of
    the per-agent (N, K) outputs (or a ``vmap`` over stacked sub-agent params). An elementwise
    product and sum rather than a matmul, so the result does not depend on the backend's
    matmul precision.
    """
    weights = jnp.asarray(weights)
    sub_q = jnp.asarray(sub_q)
    if sub_q.ndim != 3 or weights.ndim != 2 or sub_q.shape[:2] != (weights.shape[1], weights.shape[0]):
        raise ValueError(f"mix_q expects weights (N, A) and sub_q (A, N, K), got {weights.shape} and {sub_q.shape}")
    return (weights.T[:, :, None] * sub_q).sum(axis=0)
