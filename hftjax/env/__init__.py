"""The MacroHFT market environment as pure, jit/vmap-able JAX functions (docs/method.md s.3)."""

from hftjax.env.core import (EnvState, Observation, accounts, observe, observe_rows, random_start_state, reset,
                             reset_to, start_state, step, step_no_reset, transition)
from hftjax.env.market import MarketData, market_from_arrays
from hftjax.env.config import EnvConfig
from hftjax.env.params import (MAX_HOLDING, TRADING_FEE, EnvParams, TradingSettings, episode_params, make_params,
                               split_params)
from hftjax.env.simulate import simulate
from hftjax.env.teacher import TEACHER_FEE, TEACHER_GAMMA, episode_teacher, q_teacher

__all__ = [
    "MAX_HOLDING", "TEACHER_FEE", "TEACHER_GAMMA", "TRADING_FEE", "EnvConfig", "EnvParams", "EnvState", "MarketData",
    "Observation", "TradingSettings", "accounts", "episode_params", "episode_teacher",
    "make_params", "market_from_arrays", "observe", "observe_rows", "q_teacher", "split_params", "random_start_state", "reset", "reset_to", "simulate", "start_state", "step",
    "step_no_reset", "transition",
]
