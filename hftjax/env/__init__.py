"""The MacroHFT market environment as pure, jit/vmap-able JAX functions (MACROHFT.md s.3)."""

from hftjax.env.dataset import load_split
from hftjax.env.core import (EnvState, Observation, observe, random_start_state, reset, reset_to,
                             start_state, step, step_no_reset, transition)
from hftjax.env.market import MarketData, market_from_arrays
from hftjax.env.params import MAX_HOLDING, TRADING_FEE, EnvParams, make_params
from hftjax.env.simulate import simulate
from hftjax.env.teacher import TEACHER_FEE, cached_episode_teacher, episode_teacher, q_teacher

__all__ = [
    "MAX_HOLDING", "TEACHER_FEE", "TRADING_FEE", "EnvParams", "EnvState", "MarketData", "Observation",
    "cached_episode_teacher", "episode_teacher", "load_split", "make_params", "market_from_arrays", "observe",
    "q_teacher", "random_start_state", "reset", "reset_to", "simulate", "start_state", "step",
    "step_no_reset", "transition",
]
