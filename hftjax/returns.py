"""Every evaluated strategy's returns as UTC-dated CSV files, the layout pyfolio-reloaded,
empyrical-reloaded and quantstats read (``pandas.read_csv(path, index_col=0, parse_dates=True)``):

- ``results/<split>_returns.csv``: per minute; row t is the return of the minute that ends at
  ``timestamp`` (a position taken at close_t is marked at close_{t+1});
- ``results/<split>_daily_returns.csv``: those minutes compounded per UTC day.

A return is the step's P&L over the run's equity before it (required money plus P&L so far,
``hftjax.metrics.step_returns``), so the Sharpe ratio of a column is ``metrics.json``'s. A seeded
strategy has a column per seed (``macrohft_seed0``) and their mean (``macrohft``: equal capital in
each seed's run, rebalanced every minute); a rule has one column (``buy_and_hold``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from hftjax.io import atomic_path

DAY_MS = 86_400_000


def columns(returns: dict[str, np.ndarray], seeds: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """{column: (T,) returns} from {strategy key: (runs, T) returns}; ``seeds`` names a seeded
    strategy's runs (a rule is absent from it)."""
    out = {}
    for key, runs in returns.items():
        runs = np.asarray(runs, np.float64)
        if key in seeds:
            out[key] = runs.mean(0)
            out.update({f"{key}_seed{s}": r for s, r in zip(seeds[key], runs)})
        else:
            out[key] = runs[0]
    return out


def daily(end_ms: np.ndarray, minute: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(UTC midnights in ms, {column: compounded return of that day}) of per-minute returns
    ending at ``end_ms``."""
    days, which = np.unique(np.asarray(end_ms) // DAY_MS, return_inverse=True)
    return days * DAY_MS, {k: np.expm1(np.bincount(which, np.log1p(v), len(days))) for k, v in minute.items()}


def write_returns(out: Path, split: str, timestamps: pa.Array, returns: dict, seeds: dict) -> tuple[Path, Path]:
    """Write both files for ``split``; ``timestamps`` (T + 1,) are the split's rows."""
    minute = columns(returns, seeds)
    ends = timestamps.slice(1)
    day_ms, by_day = daily(ends.cast(pa.int64()).to_numpy(), minute)
    paths = out / f"{split}_returns.csv", out / f"{split}_daily_returns.csv"
    tables = (pa.table({"timestamp": ends, **minute}),
              pa.table({"date": pa.array(day_ms.astype("datetime64[ms]")).cast(pa.date32()), **by_day}))
    for path, table in zip(paths, tables):
        with atomic_path(path) as tmp:
            pacsv.write_csv(table, str(tmp))
    return paths
