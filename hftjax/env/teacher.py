"""Q-teacher ("optimal value supervisor"): a backward dynamic program as a reverse ``lax.scan``.

Q[t, p, a] = r(t, p, a) + gamma * max_b Q[t+1, a, b], Q[last] = 0, with the trade reward of
``hftjax.env.accounting`` (the reference uses fee 1e-3 here, not the trading fee). Each episode
(a chunk, or a whole split) has its own table, its last row 0; chunks run vmapped. The result
is cached next to the prepared dataset, keyed by every parameter (``hftjax.dataset``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.env.accounting import position, trade
from hftjax.env.market import price_change
from hftjax.env.params import LEVELS
from hftjax.errors import ConfigError

TEACHER_FEE = 1e-3
TEACHER_GAMMA = 0.99


@functools.partial(jax.jit, static_argnames=("levels",))
def teacher_scan(close, change, fee, max_holding, gamma, *, levels: int):
    """(T, K, K) table of one episode from float32 close and close[t+1] - close[t]."""
    pos = position(jnp.arange(levels, dtype=close.dtype), levels, max_holding)

    def backward(q_next, row):
        c, dc = row
        reward, _ = trade(pos[:, None], pos[None, :], c, dc, fee)  # [previous action, action]
        q = reward + gamma * q_next.max(axis=1)[None, :]
        return q, q

    last = jnp.zeros((levels, levels), close.dtype)
    _, table = jax.lax.scan(backward, last, (close[:-1], change[:-1]), reverse=True)
    return jnp.concatenate([table, last[None]])


def _check(levels: int, gamma: float) -> None:
    if levels < 2:
        raise ConfigError("levels", f"needs at least 2 position levels, got {levels}")
    if not 0.0 < gamma <= 1.0:
        raise ConfigError("gamma", f"must lie in (0, 1] (as env.teacher_gamma), got {gamma}")


def q_teacher(close, *, fee: float = TEACHER_FEE, max_holding: float, levels: int = LEVELS,
              gamma: float = TEACHER_GAMMA) -> jax.Array:
    """The (T, levels, levels) teacher table of one price series (one episode)."""
    _check(levels, gamma)
    close = np.asarray(close, np.float64)
    return teacher_scan(jnp.asarray(close, jnp.float32), jnp.asarray(price_change(close), jnp.float32),
                        fee, max_holding, gamma, levels=levels)


def episode_teacher(close, episode_len: int, *, fee: float = TEACHER_FEE, max_holding: float,
                    levels: int = LEVELS, gamma: float = TEACHER_GAMMA) -> jax.Array:
    """(T, K, K) table where every run of ``episode_len`` rows is its own episode (vmapped);
    rows past the last whole episode are 0."""
    _check(levels, gamma)
    close = np.asarray(close, np.float64)
    n = len(close) // episode_len
    rows = n * episode_len
    chunks = close[:rows].reshape(n, episode_len)
    change = np.diff(chunks, axis=1, append=chunks[:, -1:])
    one = functools.partial(teacher_scan, levels=levels)
    tables = jax.vmap(one, in_axes=(0, 0, None, None, None))(
        jnp.asarray(chunks, jnp.float32), jnp.asarray(change, jnp.float32), fee, max_holding, gamma)
    tail = jnp.zeros((len(close) - rows, levels, levels), jnp.float32)
    return jnp.concatenate([tables.reshape(rows, levels, levels), tail])
