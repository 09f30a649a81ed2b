"""Chunk volatility: sample std (ddof=1) of close-to-close returns, the first return taken as 0."""

from __future__ import annotations

import numpy as np

from hftjax.decompose.chunks import chunk_view


def chunk_volatility(close: np.ndarray, chunk_len: int) -> np.ndarray:
    """(n_chunks,) volatility of each non-overlapping chunk; returns never cross chunk borders."""
    chunks = chunk_view(np.asarray(close, np.float64), chunk_len)
    returns = np.zeros_like(chunks)
    returns[:, 1:] = chunks[:, 1:] / chunks[:, :-1] - 1.0
    return returns.std(axis=1, ddof=1)
