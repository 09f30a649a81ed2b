"""The paper's evaluation metrics (MACROHFT.md s.6), in plain NumPy float64; the standard set
(Sharpe, Sortino, CAGR, Calmar, drawdown depth and length, win rate, profit factor) in JAX,
``standard_metrics``, at the end of this module.

From the per-step rewards r_1..r_T of an evaluation run and its ``required_money``:

- equity: ``V = required_money + [0, cumsum(rewards)]``, i.e. the series starts with
  V_1 = required_money (the money put up before the first step; the paper's "V_1") and has
  T + 1 values, the last being V_{T+1} = required_money + sum(rewards), written V_T below.
  So TR = V_T / V_1 - 1 = sum(rewards) / required_money = final_balance / required_money,
  the env's return rate.
- step returns ``r_t = V_{t+1} / V_t - 1`` (T values, one per step);
- TR = V_T / V_1 - 1
- AVOL = std(r) sqrt(m)
- MDD = max_t (peak_t - V_t) / peak_t, peak_t = max_{s<=t} V_s (V_1 included), a fraction >= 0
- ASR = mean(r) / std(r) sqrt(m)
- ACR = mean(r) m / MDD
- ASoR = mean(r) / std(r[r < 0]) sqrt(m)
- trades = the number of position changes in ``actions``

with m = ``minutes_per_year`` (525,600 for minute data). All standard deviations are population
ones (ddof = 0, ``np.std``'s default), and std(r[r < 0]) is taken around the mean of the negative
returns, as written (not a downside deviation around 0). Identity: ACR = ASR AVOL / MDD.

Degenerate cases, never NaN: a ratio x / 0 (std(r) = 0, fewer than two negative returns, or
MDD = 0) is 0.0 when x = 0 and +-inf with the sign of x otherwise; a run that never put money
up (required_money = 0 and all rewards 0, e.g. always flat) has every metric 0.0. Inputs that
cannot come from the env's accounting (non-finite values, required_money < 0, equity <= 0
somewhere, or required_money = 0 with non-zero rewards) raise :class:`ConfigError`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.errors import ConfigError

__all__ = ["MINUTES_PER_YEAR", "METRIC_NAMES", "paper_metrics", "equity_curve", "count_trades",
           "buy_and_hold_rewards", "trading_activity", "STANDARD_NAMES", "standard_metrics", "step_returns"]

MINUTES_PER_YEAR = 525_600
METRIC_NAMES = ("TR", "AVOL", "MDD", "ASR", "ACR", "ASoR", "trades")


def _ratio(num: float, den: float) -> float:
    """num / den for den >= 0; x / 0 is 0.0 when x == 0, else +-inf (never NaN)."""
    if den > 0:
        return float(num / den)
    return 0.0 if num == 0 else float(np.copysign(np.inf, num))


def equity_curve(rewards, required_money) -> np.ndarray:
    """V = required_money + [0, cumsum(rewards)]: T + 1 values, V[0] = required_money."""
    rewards = np.asarray(rewards, np.float64)
    if rewards.ndim != 1:
        raise ConfigError("rewards", f"must be 1-d (T,), got shape {rewards.shape}")
    if not np.all(np.isfinite(rewards)):
        raise ConfigError("rewards", "contains non-finite values")
    required = float(required_money)
    if not np.isfinite(required) or required < 0:
        raise ConfigError("required_money", f"must be finite and >= 0, got {required_money!r}")
    return required + np.concatenate([[0.0], np.cumsum(rewards)])


def count_trades(actions, initial_action=None) -> int:
    """Position changes in ``actions``, plus one if ``actions[0]`` differs from ``initial_action``."""
    actions = np.asarray(actions)
    if actions.ndim != 1:
        raise ConfigError("actions", f"must be 1-d (T,), got shape {actions.shape}")
    trades = int(np.count_nonzero(actions[1:] != actions[:-1]))
    if initial_action is not None and actions.size:
        trades += int(actions[0] != initial_action)
    return trades


def paper_metrics(rewards, required_money, actions=None, *, initial_action=None,
                  minutes_per_year: float = MINUTES_PER_YEAR) -> dict:
    """TR, AVOL, MDD, ASR, ACR, ASoR (floats) and trades (int, or None without ``actions``).

    ``rewards`` (T,) per-step rewards of one run, ``required_money`` its required money (the
    env's ``accounts``/``simulate`` output); ``actions`` (T,) the positions taken at each step
    and ``initial_action`` the position held before the first (counted as a trade when it
    differs). See the module docstring for the definitions and the degenerate cases.
    """
    m = float(minutes_per_year)
    if not m > 0:
        raise ConfigError("minutes_per_year", f"must be > 0, got {minutes_per_year!r}")
    equity = equity_curve(rewards, required_money)
    if actions is not None and np.asarray(actions).shape != (equity.size - 1,):
        raise ConfigError("actions", f"must have the shape of rewards ({equity.size - 1},), "
                                     f"got {np.asarray(actions).shape}")
    trades = None if actions is None else count_trades(actions, initial_action)
    out = {"TR": 0.0, "AVOL": 0.0, "MDD": 0.0, "ASR": 0.0, "ACR": 0.0, "ASoR": 0.0, "trades": trades}
    if equity[0] == 0:
        if np.any(equity != 0):
            raise ConfigError("required_money", "is 0 but the rewards are not all 0; returns are undefined")
        return out  # never put money up: nothing earned, nothing risked
    if np.any(equity <= 0):
        first = int(np.argmax(equity <= 0))
        raise ConfigError("required_money", f"equity reaches {equity[first]:.6g} <= 0 after step {first}; "
                                            "returns are undefined (is required_money from this run?)")
    r = equity[1:] / equity[:-1] - 1.0
    if r.size == 0:
        return out
    mean, std = float(r.mean()), float(r.std())
    negative = r[r < 0]
    downside = float(negative.std()) if negative.size else 0.0
    peak = np.maximum.accumulate(equity)
    mdd = float(np.max((peak - equity) / peak))
    out.update(TR=float(equity[-1] / equity[0] - 1.0),
               AVOL=std * np.sqrt(m),
               MDD=mdd,
               ASR=_ratio(mean, std) * np.sqrt(m),
               ACR=_ratio(mean * m, mdd),
               ASoR=_ratio(mean, downside) * np.sqrt(m))
    return out


def buy_and_hold_rewards(close, max_holding: float, fee: float):
    """(rewards (T-1,), required_money) of buying ``max_holding`` at close[0] and holding to the end.

    Same accounting as the env (MACROHFT.md s.3): starting flat, the first step buys at close[0]
    paying the fee, reward_t = max_holding (c_{t+1} - c_t) - [t = 0] fee c_0 max_holding; the
    required money is the purchase, max_holding c_0 (1 + fee). Feed both to :func:`paper_metrics`
    (with ``actions = ones(T-1)``, ``initial_action = 0`` this counts one trade).
    """
    close = np.asarray(close, np.float64)
    if close.ndim != 1 or close.size < 2:
        raise ConfigError("close", f"must have shape (T,) with T >= 2, got {close.shape}")
    if not np.all(np.isfinite(close)) or np.any(close <= 0):
        raise ConfigError("close", "must be finite and > 0")
    if not (max_holding > 0 and fee >= 0):
        raise ConfigError("max_holding" if not max_holding > 0 else "fee", "need max_holding > 0 and fee >= 0")
    rewards = max_holding * np.diff(close)
    rewards[0] -= fee * close[0] * max_holding
    return rewards, float(max_holding * close[0] * (1.0 + fee))


def trading_activity(actions, close, *, fee: float, max_holding: float, levels: int, initial_action: int = 0) -> dict:
    """How a run trades: ``exposure`` (share of steps holding a position), ``turnover`` (traded
    notional, sum of |position change| x close, in quote currency) and ``fees_paid`` (fee x
    turnover). ``actions`` (T-1,) are levels filled at close[0..T-2], after ``initial_action``."""
    actions = np.asarray(actions)
    close = np.asarray(close, np.float64)
    if actions.ndim != 1 or close.shape != (actions.size + 1,):
        raise ConfigError("actions", f"must have shape (T-1,) for close (T,), got {actions.shape} and {close.shape}")
    position = actions * (max_holding / (levels - 1))
    traded = np.abs(np.diff(position, prepend=initial_action * max_holding / (levels - 1))) @ close[:-1]
    return {"exposure": float(np.mean(position != 0)) if position.size else 0.0,
            "turnover": float(traded), "fees_paid": float(fee * traded)}


# --- the standard set, in JAX (vmappable over runs and seeds) ------------------------------------

STANDARD_NAMES = ("sharpe", "sortino", "cagr", "calmar", "max_drawdown", "max_drawdown_steps", "win_rate",
                  "profit_factor")


def _jnp_ratio(num, den):
    """num / den for den >= 0: 0 where both are 0, +-inf where only den is (never NaN)."""
    safe = jnp.where(den > 0, den, 1.0)
    return jnp.where(den > 0, num / safe, jnp.where(num == 0, 0.0, jnp.sign(num) * jnp.inf))


def step_returns(rewards, required_money):
    """r_t = reward_t / V_t, V_t = required_money + rewards before t: the same returns as
    ``V_{t+1} / V_t - 1`` without its float32 cancellation (0 while nothing is put up: a run that
    never trades has required money 0)."""
    rewards = jnp.asarray(rewards, jnp.float32)
    before = required_money + jnp.cumsum(rewards) - rewards
    return jnp.where(before > 0, rewards / jnp.where(before > 0, before, 1.0), 0.0)  # 0 before money is put up


def standard_metrics(rewards, required_money, periods_per_year) -> dict:
    """Sharpe (sample std), Sortino (downside deviation around 0), CAGR, Calmar (CAGR / max
    drawdown), max drawdown (a fraction >= 0, the initial equity included in the peak), the
    longest drawdown in steps, win rate (positive among non-zero steps) and profit factor (gains
    over losses) of one run's per-step ``rewards`` (T,) and ``required_money``, with
    ``periods_per_year`` steps a year (525,600 for minutes). Pure JAX: ``vmap`` it over runs."""
    rewards = jnp.asarray(rewards, jnp.float32)
    r = step_returns(rewards, required_money)
    n = r.shape[-1]
    root = jnp.sqrt(jnp.float32(periods_per_year))
    mean, std = r.mean(), r.std(ddof=1)
    downside = jnp.sqrt(jnp.mean(jnp.minimum(r, 0.0) ** 2))
    wealth = jnp.concatenate([jnp.ones(1), jnp.cumprod(1.0 + r)])
    peak = jax.lax.cummax(wealth)
    max_drawdown = jnp.max((peak - wealth) / peak)

    def underwater(run, below):
        run = jnp.where(below, run + 1, 0)
        return run, run

    _, runs = jax.lax.scan(underwater, jnp.int32(0), wealth[1:] < peak[1:])
    cagr = wealth[-1] ** (periods_per_year / n) - 1.0
    gains, losses = jnp.sum(jnp.maximum(rewards, 0.0)), -jnp.sum(jnp.minimum(rewards, 0.0))
    return {"sharpe": _jnp_ratio(mean, std) * root, "sortino": _jnp_ratio(mean, downside) * root, "cagr": cagr,
            "calmar": _jnp_ratio(cagr, max_drawdown), "max_drawdown": max_drawdown,
            "max_drawdown_steps": jnp.max(runs), "win_rate": _jnp_ratio(jnp.sum(r > 0), jnp.sum(r != 0)),
            "profit_factor": _jnp_ratio(gains, losses)}
