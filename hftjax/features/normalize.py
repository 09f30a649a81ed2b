"""Feature scaling fitted on the training split alone (``prepare --normalize``).

The reference feeds raw features: volumes, prices and price-unit candle features next to log
returns near 1e-4, so after the first layer and the LayerNorm the price terms dominate and the
state barely changes from row to row. ``zscore`` rescales every single-step and context column
to (x - mean) / std with the training split's mean and std (an std of 0 counts as 1), saved in
``DIR/normalization.json``; ``load_split`` applies the same statistics to every split. Trend
columns are rolling z-scores already and stay as they are. ``none`` (the reference) leaves
everything raw.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NORMALIZE = ("none", "zscore")
FILE = "normalization.json"
SCALED_BLOCKS = ("single", "context")


def fit(train: dict[str, np.ndarray], columns: dict[str, list[str]]) -> dict:
    """{"method": "zscore", "columns": {name: {"mean", "std"}}} from the training split's columns."""
    stats = {}
    for block in SCALED_BLOCKS:
        for name in columns[block]:
            x = np.asarray(train[name], np.float64)
            std = float(x.std())
            stats[name] = {"mean": float(x.mean()), "std": std if std > 0 else 1.0}
    return {"method": "zscore", "fitted_on": "train", "columns": stats}


def read(data_dir: str | Path) -> dict | None:
    """The statistics a prepared dataset was written with, or None (raw features)."""
    path = Path(data_dir) / FILE
    return json.loads(path.read_text()) if path.exists() else None


def apply(block: np.ndarray, names: list[str], stats: dict | None) -> np.ndarray:
    """``block`` (rows, len(names)) with the fitted columns standardised."""
    if stats is None:
        return block
    mean = np.array([stats["columns"].get(n, {"mean": 0.0})["mean"] for n in names])
    std = np.array([stats["columns"].get(n, {"std": 1.0})["std"] for n in names])
    return (block - mean) / std
