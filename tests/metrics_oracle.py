"""The paper's metrics (docs/method.md s.6) in plain NumPy float64, one formula a line, for
consistent inputs only: the independent oracle ``hftjax.metrics.paper_metrics`` (JAX, float32)
is tested against."""

from __future__ import annotations

import numpy as np


def ratio(num: float, den: float) -> float:
    """x / 0 is 0 for x = 0, else +-inf."""
    return float(num / den) if den > 0 else (0.0 if num == 0 else float(np.copysign(np.inf, num)))


def oracle_metrics(rewards, required_money, actions=None, initial_action=None, m: float = 525_600) -> dict:
    rewards = np.asarray(rewards, np.float64)
    equity = required_money + np.concatenate([[0.0], np.cumsum(rewards)])  # V_1 .. V_T
    trades = None
    if actions is not None:
        actions = np.asarray(actions)
        trades = int(np.count_nonzero(np.diff(actions)))
        if initial_action is not None and actions.size:
            trades += int(actions[0] != initial_action)
    if equity[0] == 0 or rewards.size == 0:
        return {"TR": 0.0, "AVOL": 0.0, "MDD": 0.0, "ASR": 0.0, "ACR": 0.0, "ASoR": 0.0, "trades": trades}
    r = equity[1:] / equity[:-1] - 1.0
    negative = r[r < 0]
    downside = negative.std() if negative.size else 0.0
    peak = np.maximum.accumulate(equity)
    mdd = float(np.max((peak - equity) / peak))
    return {"TR": equity[-1] / equity[0] - 1.0, "AVOL": r.std() * np.sqrt(m), "MDD": mdd,
            "ASR": ratio(r.mean(), r.std()) * np.sqrt(m), "ACR": ratio(r.mean() * m, mdd),
            "ASoR": ratio(r.mean(), downside) * np.sqrt(m), "trades": trades}
