"""Missing bars: find them, forward-fill short gaps, split (or stop) at long ones."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hftjax.data.table import MINUTE_MS, PRICE_COLUMNS, Table, num_rows, take, utc
from hftjax.errors import ConfigError, DataError

GAP_POLICIES = ("split", "error")


class Gap(NamedTuple):
    row: int      # index of the first row after the gap
    start: int    # timestamp (ms) of the first missing bar
    missing: int  # number of missing bars


def find_gaps(timestamp: np.ndarray, interval_ms: int = MINUTE_MS) -> list[Gap]:
    """Gaps in sorted, duplicate-free, on-grid timestamps."""
    steps = np.diff(timestamp) // interval_ms
    return [Gap(int(i) + 1, int(timestamp[i]) + interval_ms, int(steps[i]) - 1)
            for i in np.flatnonzero(steps > 1)]


def apply_gap_policy(table: Table, *, policy: str = "split", max_ffill_minutes: int = 0,
                     interval_ms: int = MINUTE_MS, file: str | None = None) -> tuple[list[Table], dict]:
    """Contiguous segments of a validated table, and a JSON-serialisable report.

    A gap of at most ``max_ffill_minutes`` worth of bars is forward-filled: open = high = low =
    close = the previous close, volume 0, book carried from the previous row. A longer gap ends
    the segment (``policy="split"``) or raises a DataError naming the row after it ("error").
    """
    check_gap_options(policy, max_ffill_minutes, interval_ms)
    max_bars = max_ffill_minutes * MINUTE_MS // interval_ms
    gaps = find_gaps(table["timestamp"], interval_ms)
    long = [g for g in gaps if g.missing > max_bars]
    if policy == "error" and long:
        gap = long[0]
        raise DataError(f"{gap.missing} missing bar(s) from {utc(gap.start)}, more than the "
                        f"forward-fill limit of {max_bars}", file=file, row=gap.row, column="timestamp")
    filled = _forward_fill(table, [g for g in gaps if g.missing <= max_bars], interval_ms)
    cuts = [g.row for g in find_gaps(filled["timestamp"], interval_ms)]
    bounds = list(zip([0, *cuts], [*cuts, num_rows(filled)]))
    segments = [take(filled, slice(a, b)) for a, b in bounds if b > a]
    report = {
        "gaps": [{**g._asdict(), "start_utc": utc(g.start),
                  "action": "split" if g.missing > max_bars else "filled"} for g in gaps],
        "rows_filled": num_rows(filled) - num_rows(table),
        "segments": [{"start": int(s["timestamp"][0]), "end": int(s["timestamp"][-1]),
                      "rows": num_rows(s)} for s in segments],
    }
    return segments, report


def check_gap_options(policy: str, max_ffill_minutes: int, interval_ms: int) -> None:
    if not isinstance(interval_ms, (int, np.integer)) or interval_ms <= 0:
        raise ConfigError("interval_ms", f"must be a positive integer, got {interval_ms!r}")
    if policy not in GAP_POLICIES:
        raise ConfigError("gap_policy", f"must be one of {GAP_POLICIES}, got {policy!r}")
    if not isinstance(max_ffill_minutes, (int, np.integer)) or max_ffill_minutes < 0:
        raise ConfigError("max_ffill_minutes", f"must be an integer >= 0, got {max_ffill_minutes!r}")


def _forward_fill(table: Table, gaps: list[Gap], interval_ms: int) -> Table:
    """Repeat the row before each gap once per missing bar, as a flat bar (vectorised)."""
    if not gaps:
        return table
    copies = np.ones(num_rows(table), np.int64)
    for gap in gaps:
        copies[gap.row - 1] += gap.missing
    source = np.repeat(np.arange(num_rows(table)), copies)
    step = np.arange(len(source)) - np.repeat(np.cumsum(copies) - copies, copies)  # 0 = original
    out = take(table, source)
    out["timestamp"] = out["timestamp"] + step * interval_ms
    fill = step > 0
    for column in PRICE_COLUMNS:
        out[column][fill] = out["close"][fill]
    out["volume"][fill] = 0.0
    return out
