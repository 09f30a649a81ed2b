"""The optimizer every learner uses: global-norm clipping, then Adam with its learning rate in the
state (a traced, per-member value), and the soft target update after each step."""

from __future__ import annotations

import optax


def make_optimizer(grad_clip: float) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam whose learning rate lives in the optimizer state."""
    return optax.chain(optax.clip_by_global_norm(grad_clip),
                       optax.inject_hyperparams(optax.adam)(learning_rate=1e-4))


def set_learning_rate(opt_state, lr):
    adam = opt_state[1]
    return (opt_state[0], adam._replace(hyperparams={**adam.hyperparams, "learning_rate": lr}))


def apply_gradients(optimizer, params, target_params, opt_state, grads, tau):
    """Optimizer step, then the soft target update (after every gradient step)."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, optax.incremental_update(params, target_params, tau), opt_state
