"""Feature sets: ``lob`` (the reference's 36 + 9 + 2) and ``ohlcv`` (no book); ``auto`` picks one.

``compute_features`` returns every feature aligned with the input rows; rows made NaN by the
windows (the warm-up) are a prefix of length ``warmup`` that callers drop.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from hftjax.data.table import BOOK_LEVELS, Table, book_levels
from hftjax.errors import ConfigError
from hftjax.features import lob, ohlcv
from hftjax.features.context import CONTEXT, CONTEXT_WINDOW, context_features
from hftjax.features.rolling import rolling_zscore

FEATURE_VERSION = 1
TREND_WINDOW = 60


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    name: str
    single: tuple[str, ...]
    trend_base: tuple[str, ...]
    compute_single: Callable[[Table], dict[str, np.ndarray]]

    @property
    def trend(self) -> tuple[str, ...]:
        return tuple(f"{x}_trend_{TREND_WINDOW}" for x in self.trend_base)

    @property
    def context(self) -> tuple[str, ...]:
        return CONTEXT

    @property
    def columns(self) -> tuple[str, ...]:
        return self.single + self.trend + self.context


FEATURE_SETS = {
    "lob": FeatureSet("lob", lob.SINGLE, lob.TREND_BASE, lob.lob_single),
    "ohlcv": FeatureSet("ohlcv", ohlcv.SINGLE, ohlcv.TREND_BASE, ohlcv.ohlcv_single),
}


def resolve_feature_set(name: str, table: Table) -> FeatureSet:
    """``auto`` is ``lob`` when the table has at least 5 book levels, else ``ohlcv``."""
    has_book = book_levels(table) >= BOOK_LEVELS
    if name == "auto":
        name = "lob" if has_book else "ohlcv"
    if name not in FEATURE_SETS:
        raise ConfigError("features", f"must be one of auto, {', '.join(FEATURE_SETS)}; got {name!r}")
    if name == "lob" and not has_book:
        raise ConfigError("features", f"'lob' needs {BOOK_LEVELS} book levels; the data has "
                                      f"{book_levels(table)} (use --features ohlcv)")
    return FEATURE_SETS[name]


def compute_features(table: Table, feature_set: FeatureSet) -> tuple[dict[str, np.ndarray], int]:
    """All columns of ``feature_set`` for every row, and the warm-up length to drop."""
    raw = feature_set.compute_single(table)
    out = {name: raw[name] for name in feature_set.single}
    for base, name in zip(feature_set.trend_base, feature_set.trend):
        out[name] = rolling_zscore(raw[base], TREND_WINDOW)
    out.update(context_features(table["close"], CONTEXT_WINDOW))
    finite = np.all(np.isfinite(np.column_stack(list(out.values()))), axis=1)
    warmup = int(np.argmax(finite)) if finite.any() else len(finite)
    if not finite[warmup:].all():
        bad = warmup + int(np.argmin(finite[warmup:]))
        column = next(k for k, v in out.items() if not np.isfinite(v[bad]))
        raise ValueError(f"feature {column!r} is not finite at row {bad} after the warm-up")
    return out, warmup
