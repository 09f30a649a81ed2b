"""A prepared dataset (``hftjax prepare``'s output) read for learning and evaluation: each split as
device-resident ``MarketData`` with its Q-teacher (cached in the run directory's ``teacher/``), features
scaled by the training split's statistics, and the position sizes that ``EnvConfig`` resolves
against the training split's mean close (its module docstring says why).

The env itself (``hftjax.env``) is pure functions over arrays; this module is where files become
those arrays.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hftjax.env.config import EnvConfig
from hftjax.env.market import MarketData, market_from_arrays
from hftjax.env.params import LEVELS, TradingSettings
from hftjax.env.teacher import TEACHER_FEE, TEACHER_GAMMA, episode_teacher
from hftjax.errors import ConfigError, DataError
from hftjax.features import normalize
from hftjax.io import atomic_path, write_text
from hftjax.paths import check_name


def load_split(data_dir: str | Path, split: str, *, max_holding: float, levels: int = LEVELS,
               episode: str = "chunk", teacher_fee: float = TEACHER_FEE, gamma: float = TEACHER_GAMMA,
               teacher_cache: str | Path | None = None) -> tuple[MarketData, dict]:
    """MarketData of ``DIR/<split>.parquet`` and its labels file.

    ``episode="chunk"`` gives each chunk its own teacher (sub-agents); ``"split"`` makes the
    whole split one episode (hyper-agent). The teacher is kept in ``teacher_cache`` (a run's
    ``teacher/``, so the prepared dataset is only ever read) or, without one, computed afresh. A
    dataset prepared with ``normalize=zscore`` has its features scaled here, by the statistics
    fitted on its training split (``hftjax.features.normalize``).
    """
    data_dir = Path(data_dir)
    table = split_table(data_dir, split)
    meta = json.loads(table.schema.metadata[b"hftjax"])
    labels = json.loads((data_dir / f"{split}_labels.json").read_text())
    if episode not in ("chunk", "split"):
        raise ConfigError("episode", f"must be 'chunk' or 'split', got {episode!r}")
    close = table["close"].to_numpy()
    episode_len = labels["chunk_len"] if episode == "chunk" else len(close)
    stats = normalize.read(data_dir)  # the training split's, for every split
    def block(names):
        return normalize.apply(np.column_stack([table[c].to_numpy() for c in names]), names, stats)
    teacher_options = {"fee": teacher_fee, "max_holding": max_holding, "levels": levels, "gamma": gamma}
    teacher = (episode_teacher(close, episode_len, **teacher_options) if teacher_cache is None else
               cached_episode_teacher(teacher_cache, f"{split}-{episode}", close, episode_len, **teacher_options))
    market = market_from_arrays(close, teacher, block(meta["columns"]["single"]),
                                block(meta["columns"]["trend"]), block(meta["columns"]["context"]))
    return market, labels


def split_path(data_dir: str | Path, split: str) -> Path:
    """``DIR/<split>.parquet``; a clear error naming the splits there when that one was not prepared."""
    path = Path(data_dir) / f"{check_name(split, '--split')}.parquet"
    if not path.exists():
        have = sorted(p.stem for p in Path(data_dir).glob("*.parquet") if (p.parent / f"{p.stem}_labels.json").exists())
        if have:
            raise ConfigError("--split", f"no split {split!r} in {data_dir}; its splits: {', '.join(have)}")
        raise DataError("no such prepared split (run hftjax prepare first)", file=str(path))
    return path


def split_table(data_dir: str | Path, split: str, columns: list[str] | None = None) -> pa.Table:
    """A prepared split's rows (every column, or ``columns``), as prepare wrote them."""
    return pq.read_table(split_path(data_dir, split), columns=columns)


def split_columns(data_dir: str | Path, split: str) -> list[str]:
    return pq.read_schema(split_path(data_dir, split)).names


def mean_close(data_dir: str | Path, split: str) -> float:
    """Mean close of a prepared split (the learning scale's reference price)."""
    return float(np.mean(split_table(data_dir, split, ["close"])["close"].to_numpy()))


def cached_episode_teacher(cache_dir: str | Path, name: str, close, episode_len: int, **kw) -> jax.Array:
    """``episode_teacher`` stored as ``cache_dir/<name>-<key>.npy``, with the sha256 of that file in
    ``<file>.sha256`` beside it; recomputed when absent. A file that fails its checksum (changed,
    truncated, or without one) is recomputed too, with a warning naming it: a table of the right
    size but other values would otherwise change training without a word."""
    close = np.asarray(close, np.float64)
    spec = {"episode_len": episode_len, "rows": len(close), "close_sha": hashlib.sha256(close).hexdigest(),
            **{k: float(v) if isinstance(v, float) else v for k, v in sorted(kw.items())}}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{name}-{key}.npy"
    checksum = path.with_name(path.name + ".sha256")
    if path.exists():
        data = path.read_bytes()
        if checksum.exists() and checksum.read_text().strip() == hashlib.sha256(data).hexdigest():
            return jnp.asarray(np.load(io.BytesIO(data)))
        warnings.warn(f"{path}: the cached Q-teacher fails its checksum (damaged or changed); computing it again",
                      stacklevel=2)
    table = episode_teacher(close, episode_len, **kw)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(table))
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    write_text(hashlib.sha256(buffer.getvalue()).hexdigest() + "\n", checksum)
    return table


def holding(env: EnvConfig, data_dir=None) -> float:
    """Coins at the top level when trading: ``env.max_holding``, else ``env.notional`` at the
    mean close of ``data_dir``'s training split."""
    if env.max_holding is not None:
        return env.max_holding
    if data_dir is None:
        raise ConfigError("env.max_holding", "is null (sized from env.notional), which needs the prepared data")
    return env.notional / mean_close(data_dir, "train")


def learning_holding(env: EnvConfig, data_dir) -> float:
    """The position of the top level the agents learn with (``hftjax.env.config``)."""
    if env.learn_notional is None:
        return holding(env, data_dir)
    return env.learn_notional / mean_close(data_dir, "train")


def load_market(env: EnvConfig, data_dir, split: str, episode: str = "chunk", run_dir=None):
    """(MarketData, labels) of a prepared split, its teacher at the learning scale (kept in
    ``RUN_DIR/teacher/`` when a run directory is given)."""
    return load_split(data_dir, split, max_holding=learning_holding(env, data_dir), levels=env.levels,
                      episode=episode, teacher_fee=env.teacher_fee_rate(), gamma=env.teacher_gamma,
                      teacher_cache=None if run_dir is None else Path(run_dir) / "teacher")


def learning_settings(env: EnvConfig, data_dir) -> TradingSettings:
    """The settings the agents train and validate under."""
    return TradingSettings(fee=jnp.float32(env.fee), max_holding=jnp.float32(learning_holding(env, data_dir)))


def trading_settings(env: EnvConfig, data_dir=None) -> TradingSettings:
    """The settings every evaluation and report uses."""
    return TradingSettings(fee=jnp.float32(env.fee), max_holding=jnp.float32(holding(env, data_dir)))
