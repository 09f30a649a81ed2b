"""Layers shared by the sub-agents and the hyper-agent, initialised like the PyTorch reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import flax.linen as nn


def torch_uniform(fan_in: int):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch.nn.Linear's default for weights and biases."""
    bound = 1.0 / jnp.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


class Linear(nn.Module):
    """Dense layer with torch's default initialisation (kernel stored (in, out))."""

    features: int
    zero_init: bool = False  # the hyper-agent's last layer starts at 0 (uniform mixing weights)

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        init = nn.initializers.zeros if self.zero_init else torch_uniform(fan_in)
        kernel = self.param("kernel", init, (fan_in, self.features))
        bias = self.param("bias", init, (self.features,))
        return dense(x, kernel) + bias


@jax.custom_vjp
def dense(x, kernel):
    """``x @ kernel`` (x (..., in), kernel (in, out)); its kernel gradient is the same sum of
    products, laid out so that XLA:CPU does not take its slow path (see ``_dense_backward``)."""
    return x @ kernel


def _dense_forward(x, kernel):
    return x @ kernel, (x, kernel)


def _dense_backward(residuals, g):
    # The kernel gradient x^T g, summed over every leading row. A narrow output layer (the
    # dueling heads' 2 or 3 actions, the hyper-agent's few members) makes it (in, small), which
    # XLA:CPU computes about 10x slower than the transposed product (small, in) (the largest
    # single op of a sub-agent epoch, ``benchmarks/throughput/epoch_profile.py``); the barrier keeps XLA from
    # folding the transpose back into the product. Same products, same sums.
    x, kernel = residuals
    rows, grads = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    if kernel.shape[1] < kernel.shape[0]:
        kernel_grad = jax.lax.optimization_barrier(grads.T @ rows).T
    else:
        kernel_grad = rows.T @ grads
    return g @ kernel.T, kernel_grad


dense.defvjp(_dense_forward, _dense_backward)


def layer_norm(x, eps: float = 1e-6):
    """LayerNorm without learnable scale or offset (biased variance), as in the reference."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps)


def gelu_tanh(x):
    return nn.gelu(x, approximate=True)


def modulate(x, condition, hidden: int):
    """Conditional adapter (adaLN / FiLM): LayerNorm(x) * (1 + scale) + shift, with
    (shift, scale) = split(Linear(2 * hidden)(SiLU(condition))), shift first."""
    shift, scale = jnp.split(Linear(2 * hidden, name="adaLN_modulation")(nn.silu(condition)), 2, axis=-1)
    return layer_norm(x) * (1 + scale) + shift
