"""The market settings of a run: the one home of their defaults (MACROHFT.md s.3).

Saved once per run and read by the sub-agents, the hyper-agent and the evaluation. ``levels`` is
compiled in; ``fee`` and ``max_holding`` are traced (``TradingSettings``), so changing them
reuses the compiled programs; the teacher's fee and discount are used when loading the data.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from hftjax.env.dataset import load_split
from hftjax.env.params import LEVELS, MAX_HOLDING, TRADING_FEE, TradingSettings
from hftjax.env.teacher import TEACHER_FEE, TEACHER_GAMMA
from hftjax.options import HOST, TRACED, check_fields, option

RULES = {
    "levels": (lambda v: v >= 2, "an integer >= 2"),
    "fee": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "max_holding": (lambda v: v > 0, "a number > 0"),
    "teacher_fee": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "teacher_gamma": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
}


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    levels: int = option(LEVELS)                                   # K target-position levels
    fee: float = option(TRADING_FEE, TRACED)                  # on the traded notional
    max_holding: float = option(MAX_HOLDING["ETH"], TRACED)   # coins at the top level
    teacher_fee: float = option(TEACHER_FEE, HOST)            # the Q-teacher's (the reference's 1e-3)
    teacher_gamma: float = option(TEACHER_GAMMA, HOST)

    def __post_init__(self):
        check_fields(self, RULES)

    def load(self, data_dir, split: str, episode: str = "chunk"):
        """(MarketData, labels) of a prepared split, its teacher under these settings."""
        return load_split(data_dir, split, max_holding=self.max_holding, levels=self.levels, episode=episode,
                          teacher_fee=self.teacher_fee, gamma=self.teacher_gamma)

    def trading(self) -> TradingSettings:
        return TradingSettings(fee=jnp.float32(self.fee), max_holding=jnp.float32(self.max_holding))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
