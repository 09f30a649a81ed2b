"""Cutting a series into non-overlapping chunks of ``chunk_len`` rows (the tail remainder is dropped)."""

from __future__ import annotations

import numpy as np

from hftjax.errors import ConfigError


def num_chunks(num_rows: int, chunk_len: int) -> int:
    if chunk_len < 2:
        raise ConfigError("chunk_len", f"must be at least 2, got {chunk_len}")
    return num_rows // chunk_len


def chunk_view(x: np.ndarray, chunk_len: int) -> np.ndarray:
    """(n_chunks, chunk_len) view of the first ``n_chunks * chunk_len`` rows of ``x``."""
    n = num_chunks(len(x), chunk_len)
    return np.asarray(x)[: n * chunk_len].reshape(n, chunk_len)
