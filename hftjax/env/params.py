"""Env parameters: a pytree, so fee, holding, levels and start rule are values, not recompiles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hftjax.env.market import MarketData
from hftjax.errors import ConfigError

TRADING_FEE = 2e-4  # 2 bps
LEVELS = 2  # target positions flat and long (docs/method.md s.3); EarnHFT-style K > 2 also works
MAX_HOLDING = {"BTC": 0.01, "ETH": 0.2, "DOT": 10.0, "LTC": 10.0}  # coins, per market (paper)


@struct.dataclass
class EnvParams:
    market: MarketData
    episode_starts: jax.Array  # (E,) int32 first row of each candidate episode (padded)
    num_episodes: jax.Array    # () int32 valid prefix of episode_starts
    episode_len: jax.Array     # () int32 rows per episode; an episode has episode_len - 1 steps
    fee: jax.Array             # () float32 trading fee on the traded notional
    max_holding: jax.Array     # () float32 position of the top level, in coins
    levels: jax.Array          # () int32 number K of target-position levels
    random_start: jax.Array    # () bool: start level uniform over [0, K) instead of start_action
    start_action: jax.Array    # () int32 start level when not random


@struct.dataclass
class TradingSettings:
    """The traced market settings of ``EnvConfig``: values, so changing them does not recompile."""
    fee: jax.Array          # () float32
    max_holding: jax.Array  # () float32


def episode_params(market: MarketData, trading: TradingSettings, episode_starts, num_episodes, episode_len,
                   levels: int, random_start=True, start_action=0) -> EnvParams:
    """EnvParams from (possibly traced) values, inside or outside ``jit``; ``make_params``
    checks host values first."""
    return EnvParams(market=market, episode_starts=jnp.asarray(episode_starts, jnp.int32),
                     num_episodes=jnp.asarray(num_episodes, jnp.int32), episode_len=jnp.asarray(episode_len, jnp.int32),
                     fee=jnp.asarray(trading.fee, jnp.float32), max_holding=jnp.asarray(trading.max_holding, jnp.float32),
                     levels=jnp.int32(levels), random_start=jnp.asarray(random_start, jnp.bool_),
                     start_action=jnp.asarray(start_action, jnp.int32))


def split_params(market: MarketData, trading: TradingSettings, levels: int) -> EnvParams:
    """The whole split as one episode (the hyper-agent's training and every evaluation run)."""
    return episode_params(market, trading, jnp.zeros((1,), jnp.int32), 1, market.num_rows, levels)


def make_params(market: MarketData, *, episode_len: int | None = None, episode_starts=None,
                fee: float = TRADING_FEE, max_holding: float = MAX_HOLDING["ETH"],
                random_start: bool = True, start_action: int = 0, pad_to: int | None = None) -> EnvParams:
    """Checked EnvParams. Default episodes: consecutive chunks of ``episode_len`` rows, or the
    whole series as one episode when ``episode_len`` is None. ``pad_to`` pads the episode list
    (for vmapping agents whose chunk sets differ in size)."""
    rows, levels = market.num_rows, market.levels
    episode_len = rows if episode_len is None else int(episode_len)
    if not 2 <= episode_len <= rows:
        raise ConfigError("episode_len", f"must lie in [2, {rows}], got {episode_len}")
    starts = (np.arange(rows // episode_len) * episode_len if episode_starts is None
              else np.asarray(episode_starts, np.int64))
    if starts.ndim != 1 or starts.size == 0:
        raise ConfigError("episode_starts", "must be a non-empty 1-D list of rows")
    if starts.min() < 0 or starts.max() + episode_len > rows:
        raise ConfigError("episode_starts", f"every episode must fit in the {rows} market rows")
    if fee < 0 or max_holding <= 0:
        raise ConfigError("fee" if fee < 0 else "max_holding", "fee must be >= 0 and max_holding > 0")
    if not 0 <= start_action < levels:
        raise ConfigError("start_action", f"must lie in [0, {levels}), got {start_action}")
    count = starts.size
    if pad_to is not None:
        if pad_to < count:
            raise ConfigError("pad_to", f"{pad_to} is fewer than the {count} episodes")
        starts = np.pad(starts, (0, pad_to - count), constant_values=starts[0])
    return episode_params(market, TradingSettings(fee=jnp.float32(fee), max_holding=jnp.float32(max_holding)),
                          starts, count, episode_len, levels, random_start, start_action)
