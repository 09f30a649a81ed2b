"""Does MacroHFT time the market, or only hold exposure? Per-seed diagnostics of an evaluation.

- ``timing_percentile``: MacroHFT's ASR against the ASRs of its own action series circularly
  shifted in time (the same exposure and the same trades, at random times): the percentile of
  its ASR among them (ties count half). Timing is what MacroHFT claims: a policy that sees the
  next price change scores 100, one whose timing carries no information about 50 on average,
  and a constant position exactly 50.
- ``agent_diagnostics``: on MacroHFT's own path (the row and the previous position of each of its
  steps), how often its action differs from what the equal-weight mix of the sub-agents would
  take there, how often all sub-agents agree, the entropy of its mixing weights; over every row
  of the split, each sub-agent's rate of going long from flat and of staying long. A hyper-agent
  whose action never differs from the equal mix's, over sub-agents that always agree, has no
  leverage: its result is the sub-agents' exposure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.env.simulate import simulate
from hftjax.metrics import paper_metrics

SHIFTS = 200  # circular shifts per timing test


@jax.jit
def _asrs(rewards, required_money):
    return jax.vmap(lambda r, q: paper_metrics(r, q)["ASR"])(rewards, required_money)


def timing_percentile(close, actions, *, fee: float, max_holding: float, levels: int, shifts: int = SHIFTS,
                      seed: int = 0) -> float:
    """The percentile (0-100) of ``actions``' ASR among ``shifts`` circular shifts of them."""
    actions = np.asarray(actions)
    steps = actions.shape[0]
    offsets = np.random.default_rng(seed).integers(1, steps, size=shifts) if steps > 1 else np.zeros(shifts, int)
    batch = np.stack([actions, *(np.roll(actions, int(k)) for k in offsets)])
    done = simulate(close, batch, fee=fee, max_holding=max_holding, levels=levels)
    asr = np.asarray(_asrs(done["rewards"], done["required_money"]), np.float64)
    own, shifted = asr[0], asr[1:]
    return float(100.0 * (np.sum(shifted < own) + 0.5 * np.sum(shifted == own)) / shifts)


@jax.jit
def _on_path(table, actions, weights):
    """Per-step statistics along one run: ``table`` (T, K, A, K) the sub-agents' Q of every row
    from every previous level, ``actions`` (T-1,), ``weights`` (T-1, A)."""
    steps, levels = actions.shape[0], table.shape[1]
    previous = jnp.concatenate([jnp.zeros(1, actions.dtype), actions[:-1]])  # runs start flat
    q = table[jnp.arange(steps), previous]                                      # (T-1, A, K)
    greedy = jnp.argmax(q, axis=-1)                                             # (T-1, A)
    equal_mix = jnp.argmax(q.mean(axis=1), axis=-1)
    entropy = -jnp.sum(jnp.where(weights > 0, weights * jnp.log(jnp.where(weights > 0, weights, 1.0)), 0.0), -1)
    from_flat = jnp.argmax(table[:-1, 0], axis=-1) == levels - 1                # (T-1, A)
    from_long = jnp.argmax(table[:-1, levels - 1], axis=-1) == levels - 1
    return {"differs_from_equal_mix": jnp.mean(actions != equal_mix),
            "subagents_agree": jnp.mean(jnp.all(greedy == greedy[:, :1], axis=1)),
            "weight_entropy": jnp.mean(entropy),
            "long_from_flat": from_flat.mean(axis=0), "long_from_long": from_long.mean(axis=0)}


def agent_diagnostics(table, actions, weights, agents: list[str]) -> dict:
    """The diagnostics of one seed's run as a flat JSON-able dict (shares in [0, 1], entropy in
    nats; the uniform mix of six has ln 6 = 1.79)."""
    got = jax.tree.map(np.asarray, _on_path(jnp.asarray(table), jnp.asarray(actions, jnp.int32), jnp.asarray(weights)))
    out = {k: float(got[k]) for k in ("differs_from_equal_mix", "subagents_agree", "weight_entropy")}
    for key in ("long_from_flat", "long_from_long"):
        out.update({f"{key}_{agent}": float(v) for agent, v in zip(agents, got[key])})
    return out
