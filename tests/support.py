"""What many tests share: small synthetic-looking tables and the path of the real data, when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def random_book_table(rows: int, seed: int = 0, levels: int = 5) -> dict[str, np.ndarray]:
    """A valid canonical table with a book, including flat candles and empty-book rows."""
    rng = np.random.default_rng(seed)
    close = np.round(2000 * np.exp(np.cumsum(rng.normal(0, 1e-3, rows))), 2)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + np.round(rng.exponential(0.5, rows), 2)
    low = np.minimum(open_, close) - np.round(rng.exponential(0.5, rows), 2)
    flat = rng.random(rows) < 0.05  # zero-range candles
    open_[flat] = high[flat] = low[flat] = close[flat]
    table = {"timestamp": 1_643_673_600_000 + 60_000 * np.arange(rows, dtype=np.int64),
             "open": open_, "high": high, "low": low, "close": close,
             "volume": rng.exponential(5.0, rows)}
    empty = rng.random(rows) < 0.03  # zero-depth books
    half = rng.random(rows) < 0.05  # level 1 and 2 empty on both sides
    for i in range(1, levels + 1):
        table[f"bid{i}_price"] = close - 0.01 * i - np.round(rng.exponential(0.2, rows), 2)
        table[f"ask{i}_price"] = close + 0.01 * i + np.round(rng.exponential(0.2, rows), 2)
        for side in ("bid", "ask"):
            size = rng.exponential(3.0, rows)
            size[empty | (half & (i <= 2))] = 0.0
            table[f"{side}{i}_size"] = size
    return table
