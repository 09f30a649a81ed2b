"""Progress bars for the host-level loops (epochs, data preparation, evaluation, benchmarks).

tqdm on stderr: a widget in a notebook that has ipywidgets, text elsewhere (tqdm.auto without
ipywidgets would warn, then fall back to text anyway). A disabled bar still iterates and takes
``update`` calls, so callers need no second code path."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time

log = logging.getLogger(__name__)


def bar(iterable=None, *, desc: str, total: int | None = None, unit: str = "it", initial: int = 0,
        enabled: bool = True):
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(iterable, desc=desc, total=total, unit=unit, initial=initial, disable=not enabled)


@contextlib.contextmanager
def stages(desc: str, total: int, *, enabled: bool = True):
    """A bar over ``total`` named stages; ``advance(name)`` ends the current stage and starts the
    next. Each finished stage is logged with its wall time (INFO: ``hftjax -v``)."""
    progress = bar(desc=desc, total=total, unit="stage", enabled=enabled)
    current, started = None, time.perf_counter()

    def advance(name: str | None) -> None:
        nonlocal current, started
        if current is not None:
            log.info("%s: %s done in %.1f s", desc, current, time.perf_counter() - started)
            progress.update()
        current, started = name, time.perf_counter()
        if name is not None:
            progress.set_postfix_str(name)

    try:
        yield advance
        advance(None)
    finally:
        progress.close()
