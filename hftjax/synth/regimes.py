"""The hidden regime path: trend (bear, flat, bull) and volatility (calm, volatile).

Each is a Markov chain on the minute grid: a spell in state s lasts a
geometric number of rows with mean ``durations[s]``, then the chain jumps to one of the other
states uniformly. Drawn spell by spell, so it is vectorised: the jump chain is a cumulative
sum of offsets modulo the number of states, and rows repeat each spell's state.
"""

from __future__ import annotations

import numpy as np

from hftjax.synth.params import SynthParams

TREND_NAMES = ("bear", "flat", "bull")
VOL_NAMES = ("calm", "volatile")


def markov_path(rng: np.random.Generator, rows: int, durations: np.ndarray) -> np.ndarray:
    """(rows,) int8 states of a chain with geometric spells of the given mean lengths."""
    n_states = len(durations)
    # every spell lasts at least one row, so ``rows`` spells always cover the path
    first = rng.choice(n_states, p=durations / durations.sum())  # stationary start
    offsets = rng.integers(1, n_states, rows)
    offsets[0] = first
    states = np.cumsum(offsets) % n_states
    lengths = rng.geometric(1.0 / durations[states])
    used = int(np.searchsorted(np.cumsum(lengths), rows)) + 1
    return np.repeat(states[:used], lengths[:used])[:rows].astype(np.int8)


def regime_path(rng: np.random.Generator, rows: int, params: SynthParams) -> tuple[np.ndarray, np.ndarray]:
    """(trend, vol): int8 per row, trend 0 bear / 1 flat / 2 bull, vol 0 calm / 1 volatile."""
    trend = markov_path(rng, rows, np.full(len(TREND_NAMES), params.trend_duration))
    vol = markov_path(rng, rows, np.array([params.calm_duration, params.volatile_duration]))
    return trend, vol
