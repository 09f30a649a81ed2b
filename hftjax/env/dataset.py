"""A prepared split (``hftjax prepare`` output) as device-resident ``MarketData``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hftjax.env.market import MarketData, market_from_arrays
from hftjax.env.params import LEVELS
from hftjax.env.teacher import TEACHER_FEE, TEACHER_GAMMA, cached_episode_teacher
from hftjax.errors import ConfigError, DataError
from hftjax.features import normalize


def load_split(data_dir: str | Path, split: str, *, max_holding: float, levels: int = LEVELS,
               episode: str = "chunk", teacher_fee: float = TEACHER_FEE,
               gamma: float = TEACHER_GAMMA) -> tuple[MarketData, dict]:
    """MarketData of ``DIR/<split>.parquet`` and its labels file.

    ``episode="chunk"`` gives each chunk its own teacher (sub-agents); ``"split"`` makes the
    whole split one episode (hyper-agent). The teacher is cached under ``DIR/teacher/``. A
    dataset prepared with ``normalize=zscore`` has its features scaled here, by the statistics
    fitted on its training split (``hftjax.features.normalize``).
    """
    data_dir = Path(data_dir)
    path = data_dir / f"{split}.parquet"
    if not path.exists():
        raise DataError("no such prepared split (run hftjax prepare first)", file=str(path))
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"hftjax"])
    labels = json.loads((data_dir / f"{split}_labels.json").read_text())
    if episode not in ("chunk", "split"):
        raise ConfigError("episode", f"must be 'chunk' or 'split', got {episode!r}")
    close = table["close"].to_numpy()
    episode_len = labels["chunk_len"] if episode == "chunk" else len(close)
    stats = normalize.read(data_dir)  # the training split's, for every split
    block = lambda names: normalize.apply(np.column_stack([table[c].to_numpy() for c in names]), names, stats)  # noqa: E731
    teacher = cached_episode_teacher(data_dir, f"{split}-{episode}", close, episode_len, fee=teacher_fee,
                                     max_holding=max_holding, levels=levels, gamma=gamma)
    market = market_from_arrays(close, teacher, block(meta["columns"]["single"]),
                                block(meta["columns"]["trend"]), block(meta["columns"]["context"]))
    return market, labels


def mean_close(data_dir: str | Path, split: str) -> float:
    """Mean close of a prepared split (the learning scale's reference price)."""
    path = Path(data_dir) / f"{split}.parquet"
    if not path.exists():
        raise DataError("no such prepared split (run hftjax prepare first)", file=str(path))
    return float(np.mean(pq.read_table(path, columns=["close"])["close"].to_numpy()))
