"""Stochastic volatility: log sigma_t as a regime level plus a slow and a fast AR(1) factor.

The slow factor mean-reverts to the regime level (0 calm, log vol_ratio volatile), so a regime
switch phases in over about 1 / (1 - sv_slow_phi) minutes instead of as a step; the fast factor
gives the minute-scale clustering. Subtracting the stationary variance of the two factors makes
``sigma_calm`` the RMS return of a settled calm regime (E[exp(2X)] = exp(2 var X) for Gaussian X).
"""

from __future__ import annotations

import numpy as np

from hftjax.synth.params import SynthParams
from hftjax.synth.recurrence import ar1_filter


def _ar1_factor(rng: np.random.Generator, rows: int, phi: float, std: float, mean: np.ndarray) -> np.ndarray:
    """Stationary-started AR(1) with stationary std ``std`` around the (time-varying) ``mean``."""
    u = (1.0 - phi) * mean + std * np.sqrt(1.0 - phi**2) * rng.standard_normal(rows)
    u[0] = mean[0] + std * rng.standard_normal()
    return ar1_filter(u, phi)


def sigma_path(rng: np.random.Generator, vol: np.ndarray, params: SynthParams) -> np.ndarray:
    """(rows,) per-minute return volatility sigma_t for the volatility regime path ``vol``."""
    rows = len(vol)
    level = np.log(params.vol_ratio) * vol
    slow = _ar1_factor(rng, rows, params.sv_slow_phi, params.sv_slow_std, level)
    fast = _ar1_factor(rng, rows, params.sv_fast_phi, params.sv_fast_std, np.zeros(rows))
    variance = params.sv_slow_std**2 + params.sv_fast_std**2
    return params.sigma_calm * np.exp(slow + fast - variance)
