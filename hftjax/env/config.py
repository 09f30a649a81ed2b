"""The market settings of a run: the one home of their defaults (docs/method.md s.3).

Saved once per run and read by the sub-agents, the hyper-agent and the evaluation; what they
resolve to on a dataset (coins, the teacher's table) is read by ``hftjax.dataset``. ``levels`` is
compiled in; ``fee`` and ``max_holding`` are traced (``TradingSettings``), so changing them
reuses the compiled programs; the teacher's fee and discount are used when loading the data.

The teacher's fee. The reference's Q-teacher charges 1e-3 per traded notional, five times its
trading fee (2e-4), so its demonstrations trade less than the market allows. ``teacher_fee``
``"reference"`` (1e-3, the default), ``"trading"`` (the run's ``fee``) or a number.

Position size. Rewards, the teacher's Q-values and the memory's targets are in quote currency,
so the TD loss, the softmax inside the teacher-KL term and the memory regression all change with
the position size and the price level, although the return rate does not: a fixed coin count
(the reference's 0.2 ETH) makes every coin a different learning problem (0.2 DOT is worth 1
USDT, 0.2 BTC 10,000). So the top level is worth ``notional`` quote units at the training
split's mean close (``max_holding`` = notional / mean close coins), the same for every market;
with features scaled by the training split (``data.normalize=zscore``) the same market at any
price level then learns the same actions (``tests/test_invariance.py``). ``max_holding`` given in
coins overrides it (the ``paper-*`` presets: the reference's BTC 0.01, ETH 0.2, DOT and LTC 10).
``NOTIONAL`` = 500 USDT: the synthetic ETH-like demo's 0.2 coins are worth about 430, and
``learn_notional=500`` is the real-market ablation's line that stopped cheap coins churning. On 8
walk-forward validation windows (2 per coin, 3 seeds, the hyper-agents' last epoch) 100 USDT
scored 1.54 ASR below it [-2.81, -0.33] and 2,500 USDT 0.74 below [-2.06, +0.69]; neither passes
the rule, so 500 stays (table ``setting_choice_notional``).

Learning scale. ``learn_notional`` None learns at the trading size; a number N makes every agent
learn as if the top level were worth N quote units at the training split's mean close, whatever
``max_holding`` trades (an ablation of the learning scale alone). Everything is linear in the
position, so greedy actions and return rates keep their meaning; evaluation, reports and fees are
always at the trading size.
"""

from __future__ import annotations

import dataclasses

from hftjax.env.params import LEVELS, TRADING_FEE
from hftjax.env.teacher import TEACHER_FEE, TEACHER_GAMMA
from hftjax.options import HOST, TRACED, check_fields, option

NOTIONAL = 500.0  # quote units (USDT) of the top level (see the module docstring)
TEACHER_FEES = ("reference", "trading")  # the named teacher fees (see the module docstring)

RULES = {
    "levels": (lambda v: v >= 2, "an integer >= 2"),
    "fee": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "max_holding": (lambda v: v is None or v > 0, "null (notional / mean close) or a number of coins > 0"),
    "notional": (lambda v: v > 0, "a number > 0 (quote currency)"),
    "teacher_fee": (lambda v: v in TEACHER_FEES or isinstance(v, float) and 0 <= v < 1,
                    '"reference" (1e-3), "trading" (the run\'s fee) or a number in [0, 1)'),
    "teacher_gamma": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "learn_notional": (lambda v: v is None or v > 0, "null (learn at max_holding, the reference) or a number > 0"),
}


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    levels: int = option(LEVELS)                                   # K target-position levels
    fee: float = option(TRADING_FEE, TRACED)                  # on the traded notional
    notional: float = option(NOTIONAL, HOST)                   # quote units of the top level at the train mean close
    max_holding: float | None = option(None, TRACED)          # coins at the top level; null: from notional
    teacher_fee: float | str = option("reference", HOST)       # the Q-teacher's: reference|trading|<value>
    teacher_gamma: float = option(TEACHER_GAMMA, HOST)
    learn_notional: float | None = option(None, HOST)         # quote units of the top level while learning

    def __post_init__(self):
        check_fields(self, RULES)

    def teacher_fee_rate(self) -> float:
        """The fee the Q-teacher charges, ``teacher_fee`` resolved."""
        return {"reference": TEACHER_FEE, "trading": self.fee}.get(self.teacher_fee, self.teacher_fee)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
