"""Time splits of a dataset: ``NAME=START:END`` specs, or the default 70/15/15 by time.

START and END are UTC dates (``2022-02-01``) or date-times (``2022-02-01T12:00``); START is
inclusive, END exclusive, and either may be empty for an open end.
"""

from __future__ import annotations

import re

import numpy as np

from hftjax.errors import ConfigError

_TIME = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_SPEC = re.compile(rf"^(?P<name>[A-Za-z_][\w-]*)=(?P<start>{_TIME})?:(?P<end>{_TIME})?$")
DEFAULT_FRACTIONS = {"train": 0.70, "valid": 0.15, "test": 0.15}
NO_LIMIT = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)

Splits = dict[str, tuple[int, int]]  # name -> [start_ms, end_ms)


def _to_ms(text: str) -> int:
    return int(np.datetime64(text.replace(" ", "T"), "ms").astype(np.int64))


def parse_splits(specs: list[str]) -> Splits:
    """Parse ``NAME=START:END`` specs; a ``train`` split is required (its chunks set the edges)."""
    splits: Splits = {}
    for spec in specs:
        m = _SPEC.match(spec)
        if not m:
            raise ConfigError("--split", f"{spec!r} is not NAME=START:END with UTC dates, "
                                         "e.g. train=2022-02-01:2023-02-01")
        start = _to_ms(m["start"]) if m["start"] else NO_LIMIT[0]
        end = _to_ms(m["end"]) if m["end"] else NO_LIMIT[1]
        if m["name"] in splits:
            raise ConfigError("--split", f"split {m['name']!r} is given twice")
        if start >= end:
            raise ConfigError("--split", f"{spec!r}: START must be before END")
        splits[m["name"]] = (start, end)
    if "train" not in splits:
        raise ConfigError("--split", "a 'train' split is required: its chunks set the label edges")
    ordered = sorted(splits.items(), key=lambda kv: kv[1])
    for (a, (_, end_a)), (b, (start_b, _)) in zip(ordered, ordered[1:]):
        if start_b < end_a:
            raise ConfigError("--split", f"splits {a!r} and {b!r} overlap")
    return splits


def default_splits(first_ms: int, end_ms: int, interval_ms: int) -> Splits:
    """70/15/15 of the time span [first_ms, end_ms), cut on the bar grid."""
    span = end_ms - first_ms
    cuts, acc = [first_ms], 0.0
    for fraction in DEFAULT_FRACTIONS.values():
        acc += fraction
        cuts.append(first_ms + int(round(acc * span / interval_ms)) * interval_ms)
    cuts[-1] = end_ms
    return {name: (cuts[i], cuts[i + 1]) for i, name in enumerate(DEFAULT_FRACTIONS)}
