"""5-bin quantile labelling of chunk statistics (docs/method.md s.2).

Training edges are the quantiles [0, .05, .35, .65, .95, 1] of the training chunks' values.
Bins are right-closed like ``pandas.cut(..., include_lowest=True)``: label i holds
``edges[i] < x <= edges[i+1]`` (label 0 also holds ``x == edges[0]``). Validation and test
chunks are binned with the training edges, outer edges opened to +-inf, then the tails are
folded (0 -> 1, 4 -> 3), so every valid/test chunk lands on one of the three trained agents.
"""

from __future__ import annotations

import numpy as np

from hftjax.errors import ConfigError

QUANTILES = (0.0, 0.05, 0.35, 0.65, 0.95, 1.0)
NUM_LABELS = len(QUANTILES) - 1


def quantile_edges(train_values: np.ndarray) -> np.ndarray:
    """The 6 bin edges from the training chunks' values."""
    values = np.asarray(train_values, np.float64)
    if values.size == 0:
        raise ConfigError("chunk_len", "the training split holds no whole chunk; use a shorter chunk_len")
    return np.quantile(values, QUANTILES)


def assign_labels(values: np.ndarray, edges: np.ndarray, *, fold_tails: bool) -> np.ndarray:
    """Label 0..4 of each value; with ``fold_tails`` (valid/test) labels 0 and 4 become 1 and 3."""
    labels = np.searchsorted(np.asarray(edges)[1:-1], values, side="left")
    if fold_tails:
        labels = np.clip(labels, 1, NUM_LABELS - 2)
    return labels.astype(np.int64)


def label_groups(labels: np.ndarray, chunk_ids: np.ndarray) -> dict[str, list[int]]:
    """``{"0": [chunk ids], ..., "4": [...]}`` for the labels-file layout."""
    return {str(k): [int(i) for i in chunk_ids[labels == k]] for k in range(NUM_LABELS)}
