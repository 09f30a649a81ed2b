"""Plain NumPy (float64) reference of the MacroHFT trading environment (docs/method.md s.3).

Written from the spec alone, one episode at a time with an explicit Python loop and
explicit buy/sell branches, so that it can serve as the oracle for vectorised versions.

Semantics
---------
- Actions are integers in [0, levels); the target position is
  ``max_holding * a / (levels - 1)`` coins (long-only).
- An episode covers rows ``start_row .. start_row + episode_len - 1`` and has
  ``episode_len - 1`` steps. The step at row t fills at close_t and marks at close_{t+1}.
- Buying d coins: cash flow ``-d * c_t * (1 + fee)``; selling d coins: ``+d * c_t * (1 - fee)``;
  no trade: cash flow 0.
- reward_t = pos_new * (c_{t+1} - c_t) - fee * c_t * |pos_new - pos_old|, where pos_old for
  the first step is the initial position.
- The episode starts holding the initial action's position, booked as a cash outflow
  ``-pos_0 * c_start`` with no fee (the low-level env's rule).
- final_balance = sum(cash flows) + position * close[last row];
  required_money = -min(cumsum(cash flows)); return_rate = final_balance / required_money,
  and return_rate = 0.0 when required_money == 0 (never held anything, nothing at risk).
- Identity of these semantics: sum(rewards) == final_balance (summation by parts).

Q-teacher: backward DP with Q[T-1] = 0 and
Q[t, p, a] = r(t, p, a) + gamma * max_b Q[t+1, a, b].
"""

from __future__ import annotations

import numpy as np


def _position(action: int, max_holding: float, levels: int) -> float:
    return float(max_holding) * action / (levels - 1)


def _check_action(action, levels: int) -> int:
    a = int(action)
    if a != action or not 0 <= a < levels:
        raise ValueError(f"action must be an integer in [0, {levels}), got {action!r}")
    return a


class OracleEnv:
    """One-episode-at-a-time reference environment."""

    def __init__(self, close, *, fee, max_holding, levels=2, single=None, trend=None, context=None):
        if levels < 2:
            raise ValueError("levels must be >= 2")
        self.close = np.asarray(close, dtype=np.float64)
        if self.close.ndim != 1:
            raise ValueError("close must be 1-D")
        self.fee = float(fee)
        self.max_holding = float(max_holding)
        self.levels = int(levels)
        self.single = None if single is None else np.asarray(single, dtype=np.float64)
        self.trend = None if trend is None else np.asarray(trend, dtype=np.float64)
        self.context = None if context is None else np.asarray(context, dtype=np.float64)
        self._started = False

    # ------------------------------------------------------------------ helpers
    def _obs(self, row: int) -> dict:
        obs = {"prev_action": self.prev_action, "row": row}
        if self.single is not None:
            obs["single"] = self.single[row]
        if self.trend is not None:
            obs["trend"] = self.trend[row]
        if self.context is not None:
            obs["context"] = self.context[row]
        return obs

    # ------------------------------------------------------------------ API
    def reset(self, start_row, episode_len, initial_action):
        start_row, episode_len = int(start_row), int(episode_len)
        if episode_len < 2:
            raise ValueError("episode_len must be >= 2 (at least one step)")
        if start_row < 0 or start_row + episode_len > len(self.close):
            raise ValueError("episode does not fit in the series")
        a0 = _check_action(initial_action, self.levels)
        self.start_row = start_row
        self.last_row = start_row + episode_len - 1
        self.t = start_row
        self.prev_action = a0
        self.position = _position(a0, self.max_holding, self.levels)
        # Initial holding booked as a purchase at close[start_row], without fee.
        self.cash_flows = [-self.position * self.close[start_row]]
        self.rewards = []
        self.done = False
        self._started = True
        return self._obs(self.t)

    def step(self, action):
        if not self._started or self.done:
            raise RuntimeError("call reset() before step(); the episode is over")
        a = _check_action(action, self.levels)
        t = self.t
        c_t = self.close[t]
        c_next = self.close[t + 1]
        pos_old = self.position
        pos_new = _position(a, self.max_holding, self.levels)

        # Fill at close_t.
        if pos_new > pos_old:  # buy
            d = pos_new - pos_old
            cash_flow = -d * c_t * (1.0 + self.fee)
        elif pos_new < pos_old:  # sell
            d = pos_old - pos_new
            cash_flow = d * c_t * (1.0 - self.fee)
        else:  # hold
            cash_flow = 0.0
        self.cash_flows.append(cash_flow)

        # Mark at close_{t+1}.
        reward = pos_new * (c_next - c_t) - self.fee * c_t * abs(pos_new - pos_old)
        self.rewards.append(reward)

        self.position = pos_new
        self.prev_action = a
        self.t = t + 1
        self.done = self.t == self.last_row

        info = {"position": pos_new, "cash_flow": cash_flow}
        if self.done:
            info.update(self.accounting())
        return self._obs(self.t), reward, self.done, info

    def accounting(self) -> dict:
        """final_balance, required_money, return_rate of the episode so far (marked at row self.t)."""
        final_balance = 0.0
        cumulative = 0.0
        min_cumulative = np.inf
        for cf in self.cash_flows:
            final_balance += cf
            cumulative += cf
            min_cumulative = min(min_cumulative, cumulative)
        final_balance += self.position * self.close[self.t]
        required_money = -min_cumulative
        return_rate = final_balance / required_money if required_money != 0 else 0.0
        return {"final_balance": final_balance, "required_money": required_money,
                "return_rate": return_rate}


def oracle_simulate(close, actions, *, fee, max_holding, levels=2, initial_action=0) -> dict:
    """Run OracleEnv over the whole series: close (T,), actions (T-1,)."""
    close = np.asarray(close, dtype=np.float64)
    actions = np.asarray(actions)
    if actions.shape != (len(close) - 1,):
        raise ValueError("actions must have shape (T-1,)")
    env = OracleEnv(close, fee=fee, max_holding=max_holding, levels=levels)
    env.reset(0, len(close), initial_action)
    rewards = []
    info = {}
    for a in actions:
        _, r, done, info = env.step(int(a))
        rewards.append(r)
    assert done
    return {"rewards": np.asarray(rewards, dtype=np.float64),
            "cash_flows": np.asarray(env.cash_flows, dtype=np.float64),
            "final_balance": info["final_balance"],
            "required_money": info["required_money"],
            "return_rate": info["return_rate"]}


def oracle_q_teacher(close, *, fee=1e-3, max_holding, levels=2, gamma=0.99) -> np.ndarray:
    """Backward DP: Q[T-1] = 0; Q[t,p,a] = r(t,p,a) + gamma * max_b Q[t+1,a,b]. Shape (T, K, K)."""
    close = np.asarray(close, dtype=np.float64)
    T = len(close)
    K = int(levels)
    Q = np.zeros((T, K, K), dtype=np.float64)
    for t in range(T - 2, -1, -1):
        c_t, c_next = close[t], close[t + 1]
        for p in range(K):
            pos_p = _position(p, max_holding, K)
            for a in range(K):
                pos_a = _position(a, max_holding, K)
                r = pos_a * (c_next - c_t) - fee * c_t * abs(pos_a - pos_p)
                best_next = max(Q[t + 1, a, b] for b in range(K))
                Q[t, p, a] = r + gamma * best_next
    return Q
