"""Traded volume per minute: higher when volatile, and higher still on the big moves themselves."""

from __future__ import annotations

import numpy as np

from hftjax.synth.params import SynthParams


def volume_path(rng: np.random.Generator, sigma: np.ndarray, z: np.ndarray, params: SynthParams) -> np.ndarray:
    """(rows,) positive volume in base-asset units."""
    log_volume = (params.volume_beta * np.log(sigma / params.sigma_calm)
                  + params.volume_shock * np.log1p(np.abs(z))
                  + params.volume_noise * rng.standard_normal(len(z)))
    return params.volume_scale * np.exp(log_volume)
