"""Market decomposition: chunks, their trend and volatility, and the quantile labels."""

from hftjax.decompose.chunks import chunk_view, num_chunks
from hftjax.decompose.labels import NUM_LABELS, QUANTILES, assign_labels, label_groups, quantile_edges
from hftjax.decompose.trend import (BUTTER_CUTOFF, butter1, chunk_slopes, filtfilt, rolling_slope,
                                    slope_kernel)
from hftjax.decompose.volatility import chunk_volatility

__all__ = [
    "BUTTER_CUTOFF", "NUM_LABELS", "QUANTILES", "assign_labels", "butter1", "chunk_slopes",
    "chunk_view", "chunk_volatility", "filtfilt", "label_groups", "num_chunks", "quantile_edges",
    "rolling_slope", "slope_kernel",
]
