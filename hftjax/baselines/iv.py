"""IV: the order-book imbalance-volume rule (the paper's rule baseline, docs/method.md s.1, s.6).

volume_imbalance_t = (sum of bid sizes - sum of ask sizes) / (their sum) over the 5 book levels
at bar t's close (the ``lob`` feature). The rule goes long (the top level) when the imbalance
rises above ``enter`` and back to flat when it falls below ``exit``, holding in between: the
hysteresis keeps it from trading on every flicker of the book. Defaults +0.3 / -0.3 are this
project's choice (the paper does not state its thresholds). It needs a book: on data prepared
with ``ohlcv`` features it refuses.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hftjax.dataset import split_columns, split_path, split_table
from hftjax.env.params import LEVELS
from hftjax.errors import ConfigError, DataError

ENTER, EXIT = 0.3, -0.3
COLUMN = "volume_imbalance"


@jax.jit
def _hysteresis(imbalance, enter, exit_):
    def step(long, value):
        long = jnp.where(value > enter, True, jnp.where(value < exit_, False, long))
        return long, long
    return jax.lax.scan(step, jnp.bool_(False), imbalance)[1]


def iv_actions(imbalance, *, enter: float = ENTER, exit: float = EXIT, levels: int = LEVELS) -> np.ndarray:
    """(T-1,) actions from the imbalance at each of the T-1 trading steps (the last row of a
    split has no step): ``levels - 1`` while long, else 0; flat before the first signal."""
    imbalance = np.asarray(imbalance, np.float64)
    if imbalance.ndim != 1 or not np.all(np.isfinite(imbalance)):
        raise ConfigError("imbalance", f"must be a finite 1-d series, got shape {imbalance.shape}")
    if not -1 <= exit <= enter <= 1:
        raise ConfigError("iv", f"needs -1 <= exit <= enter <= 1, got enter {enter}, exit {exit}")
    long = np.asarray(_hysteresis(jnp.asarray(imbalance[:-1], jnp.float32), enter, exit))
    return np.where(long, levels - 1, 0).astype(np.int32)


def split_imbalance(data_dir: str | Path, split: str) -> np.ndarray:
    """The ``volume_imbalance`` column of a prepared split; a clear error when it has no book."""
    if COLUMN not in split_columns(data_dir, split):
        raise DataError("has no order book (prepared with ohlcv features): the IV rule needs a 5-level book",
                        file=str(split_path(data_dir, split)), column=COLUMN)
    return split_table(data_dir, split, [COLUMN])[COLUMN].to_numpy()
