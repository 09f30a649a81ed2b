"""Evaluation metrics, pure JAX (``vmap`` them over runs and seeds): the paper's set
(docs/method.md s.6), ``paper_metrics``, and the standard set (Sharpe, Sortino, CAGR, Calmar,
drawdown depth and length, win rate, profit factor), ``standard_metrics``; ``check_run`` checks
host inputs first. ``tests/metrics_oracle.py`` is the plain NumPy float64 oracle.

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

The step returns are computed as r_t = reward_t / V_t, which equals V_{t+1} / V_t - 1 without
its float32 cancellation.

Degenerate cases, never NaN: a ratio x / 0 (std(r) = 0, fewer than two negative returns, or
MDD = 0) is 0.0 when x = 0 and +-inf with the sign of x otherwise; a run that never put money
up (required_money = 0 and all rewards 0, e.g. always flat) has every metric 0.0. Inputs that
cannot come from the env's accounting (non-finite values, required_money < 0, equity <= 0
somewhere, or required_money = 0 with non-zero rewards) make :func:`check_run` raise
:class:`ConfigError`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.errors import ConfigError

__all__ = ["MINUTES_PER_YEAR", "METRIC_NAMES", "paper_metrics", "check_run", "count_trades",
           "buy_and_hold_rewards", "trading_activity", "STANDARD_NAMES", "standard_metrics", "step_returns"]

MINUTES_PER_YEAR = 525_600
METRIC_NAMES = ("TR", "AVOL", "MDD", "ASR", "ACR", "ASoR", "trades")


def _ratio(num, den):
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


def check_run(rewards, required_money, actions=None, *, minutes_per_year: float = MINUTES_PER_YEAR) -> None:
    """Raise :class:`ConfigError` for inputs that cannot come from the env's accounting:
    non-finite rewards, required money < 0, equity <= 0 somewhere, required money 0 with non-zero
    rewards, ``actions`` not shaped like ``rewards``, or ``minutes_per_year`` <= 0."""
    rewards = np.asarray(rewards, np.float64)
    if rewards.ndim != 1:
        raise ConfigError("rewards", f"must be 1-d (T,), got shape {rewards.shape}")
    if not np.all(np.isfinite(rewards)):
        raise ConfigError("rewards", f"contains non-finite values (first at step {int(np.argmin(np.isfinite(rewards)))})")
    required = float(required_money)
    if not np.isfinite(required) or required < 0:
        raise ConfigError("required_money", f"must be finite and >= 0, got {required_money!r}")
    if not float(minutes_per_year) > 0:
        raise ConfigError("minutes_per_year", f"must be > 0, got {minutes_per_year!r}")
    if actions is not None and np.shape(actions) != rewards.shape:
        raise ConfigError("actions", f"must have the shape of rewards {rewards.shape}, got {np.shape(actions)}")
    equity = required + np.concatenate([[0.0], np.cumsum(rewards)])
    if required == 0:
        if np.any(equity != 0):
            raise ConfigError("required_money", "is 0 but the rewards are not all 0; returns are undefined")
    elif np.any(equity <= 0):
        first = int(np.argmax(equity <= 0))
        raise ConfigError("required_money", f"equity reaches {equity[first]:.6g} <= 0 after step {first}; "
                                            "returns are undefined (is required_money from this run?)")


def count_trades(actions, initial_action=None):
    """Position changes in ``actions`` (T,), plus one if ``actions[0]`` differs from
    ``initial_action`` (None: not counted). Pure JAX."""
    actions = jnp.asarray(actions)
    trades = jnp.count_nonzero(actions[1:] != actions[:-1])
    if initial_action is not None and actions.shape[-1]:
        trades = trades + (actions[0] != initial_action)
    return trades


def paper_metrics(rewards, required_money, actions=None, initial_action=None,
                  minutes_per_year: float = MINUTES_PER_YEAR) -> dict:
    """TR, AVOL, MDD, ASR, ACR, ASoR and ``trades`` (None without ``actions``) of one run, in
    pure JAX (``vmap`` it over runs and seeds; float32 unless x64 is on).

    ``rewards`` (T,) per-step rewards of one run, ``required_money`` its required money (the
    env's ``accounts``/``simulate`` output); ``actions`` (T,) the positions taken at each step
    and ``initial_action`` the position held before the first (counted as a trade when it
    differs). See the module docstring for the definitions and the degenerate cases; check host
    inputs with :func:`check_run` first.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    required = jnp.asarray(required_money, jnp.float32)
    trades = None if actions is None else count_trades(actions, initial_action)
    if rewards.shape[-1] == 0:
        zero = jnp.float32(0)
        return {"TR": zero, "AVOL": zero, "MDD": zero, "ASR": zero, "ACR": zero, "ASoR": zero, "trades": trades}
    root = jnp.sqrt(jnp.float32(minutes_per_year))
    r = step_returns(rewards, required)
    mean, std = r.mean(), r.std()
    negative = r < 0
    count = jnp.maximum(negative.sum(), 1)
    negative_mean = jnp.sum(jnp.where(negative, r, 0.0)) / count
    downside = jnp.sqrt(jnp.sum(jnp.where(negative, (r - negative_mean) ** 2, 0.0)) / count)
    equity = required + jnp.concatenate([jnp.zeros(1), jnp.cumsum(rewards)])
    peak = jax.lax.cummax(equity)
    mdd = jnp.max(jnp.where(peak > 0, (peak - equity) / jnp.where(peak > 0, peak, 1.0), 0.0))
    return {"TR": _ratio(jnp.sum(rewards), required), "AVOL": std * root, "MDD": mdd,
            "ASR": _ratio(mean, std) * root, "ACR": _ratio(mean * minutes_per_year, mdd),
            "ASoR": _ratio(mean, downside) * root, "trades": trades}


def buy_and_hold_rewards(close, max_holding: float, fee: float):
    """(rewards (T-1,), required_money) of buying ``max_holding`` at close[0] and holding to the end.

    Same accounting as the env (docs/method.md s.3): starting flat, the first step buys at close[0]
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


def trading_activity(actions, close, *, fee, max_holding, levels: int, initial_action=0) -> dict:
    """How a run trades: ``exposure`` (share of steps holding a position), ``turnover`` (traded
    notional, sum of |position change| x close, in quote currency) and ``fees_paid`` (fee x
    turnover). ``actions`` (T-1,) are levels filled at close[0..T-2], after ``initial_action``.
    Pure JAX."""
    actions, close = jnp.asarray(actions), jnp.asarray(close, jnp.float32)
    if actions.ndim != 1 or close.shape != (actions.shape[0] + 1,):
        raise ConfigError("actions", f"must have shape (T-1,) for close (T,), got {actions.shape} and {close.shape}")
    unit = max_holding / (levels - 1)
    position = actions * unit
    traded = jnp.abs(jnp.diff(position, prepend=initial_action * unit)) @ close[:-1]
    exposure = jnp.mean(position != 0) if actions.shape[0] else jnp.float32(0)
    return {"exposure": exposure, "turnover": traded, "fees_paid": fee * traded}


# --- the standard set ------------------------------------------------------------------------------

STANDARD_NAMES = ("sharpe", "sortino", "cagr", "calmar", "max_drawdown", "max_drawdown_steps", "win_rate",
                  "profit_factor")


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
    return {"sharpe": _ratio(mean, std) * root, "sortino": _ratio(mean, downside) * root, "cagr": cagr,
            "calmar": _ratio(cagr, max_drawdown), "max_drawdown": max_drawdown,
            "max_drawdown_steps": jnp.max(runs), "win_rate": _ratio(jnp.sum(r > 0), jnp.sum(r != 0)),
            "profit_factor": _ratio(gains, losses)}
