"""Training statistics: per update (loss parts, gradient norm, non-finite flag), summed or maxed
over an epoch's updates, then averaged per epoch."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def update_metrics(loss, parts: dict, grads) -> dict:
    """Per-update metrics: the loss and its parts, the gradient norm, and ``nonfinite`` (1 when
    the loss or the gradient is NaN or infinite: the divergence guard counts these)."""
    grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
    bad = ~(jnp.isfinite(loss) & jnp.isfinite(grad_norm))
    return {"loss": loss, **parts, "grad_norm": grad_norm, "nonfinite": bad.astype(jnp.float32)}


def is_maximum(key: str) -> bool:
    """Metrics named ``*_max`` are maxima over the updates, not sums or means."""
    return key.endswith("_max")


def accumulate(totals: dict, metrics: dict) -> dict:
    """Running per-epoch totals: sums, and maxima for ``*_max`` metrics."""
    return {k: jnp.maximum(totals[k], v) if is_maximum(k) else totals[k] + v for k, v in metrics.items()}


def epoch_metrics(totals: dict, averaged: tuple[str, ...]) -> dict:
    """Per-epoch metrics from per-update totals: ``averaged`` keys (and the gradient norm) as
    means over the updates done, ``nonfinite`` as a count, ``*_max`` maxima as they are."""
    updates = jnp.maximum(totals["updates"], 1)
    return {"updates": totals["updates"], "nonfinite": totals["nonfinite"],
            **{k: totals[k] for k in totals if is_maximum(k)},
            **{k: totals[k] / updates for k in (*averaged, "grad_norm")}}
