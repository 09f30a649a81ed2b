"""``prepare``: raw market files -> features, splits and chunk labels, ready for the env.

For each split, ``DIR/<split>.parquet`` holds timestamp, close, ``segment`` (the contiguous data
segment a row comes from; gaps split segments) and every feature column, with the feature set,
sources and parameters in its schema metadata under ``hftjax``. ``DIR/<split>_labels.json``
labels chunk i = rows [i*L, (i+1)*L) of that file by trend (``slope``) and volatility (``vol``);
a chunk that straddles two segments spans a gap, so it is listed under ``excluded_chunks`` and
gets no label. ``DIR/manifest.json`` describes the whole dataset. Everything is written into a
temporary directory that replaces DIR only once complete.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa

import hftjax
from hftjax import decompose
from hftjax.data import load_market
from hftjax.data.market_id import check_one_market
from hftjax.data.table import MINUTE_MS, Table
from hftjax.errors import ConfigError
from hftjax.features import (CONTEXT_WINDOW, FEATURE_VERSION, TREND_WINDOW, FeatureSet,
                             compute_features, normalize, resolve_feature_set)
from hftjax.io import atomic_dir, write_json, write_parquet
from hftjax.progress import stages
from hftjax.provenance import fingerprint
from hftjax.rundir import check_prepare_out, mark, prepare_lock
from hftjax.splits import Splits, default_splits

CHUNK_LEN = 4320  # rows per chunk: 3 days of minutes, the reference's
LONG_GAP_MS = 86_400_000  # a gap longer than a day is reported: data months apart is likely a mistake
INDICATORS = {"slope": decompose.chunk_slopes, "vol": decompose.chunk_volatility}


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    features: str = "auto"
    chunk_len: int = CHUNK_LEN
    splits: Splits | None = None  # None: 70/15/15 by time
    gap_policy: str = "split"
    max_ffill_minutes: int = 0
    interval_ms: int = MINUTE_MS
    normalize: str = "none"       # "zscore": scale features with training-split statistics (hftjax.features.normalize)

    def request(self, inputs) -> dict:
        """What a prepared dataset was asked for (``manifest.json``'s ``request``): a later
        stage reuses the dataset only for the same request."""
        options = dataclasses.asdict(self)
        options["splits"] = None if self.splits is None else {k: list(v) for k, v in self.splits.items()}
        return {"inputs": [str(Path(p).resolve()) for p in inputs], **options}


def featurize(segments: list[Table], feature_set: FeatureSet) -> tuple[Table, list[dict]]:
    """Features of every segment (warm-up dropped per segment), concatenated in time order."""
    parts, report = [], []
    for seg_id, seg in enumerate(segments):
        feats, warmup = compute_features(seg, feature_set)
        kept = max(len(seg["timestamp"]) - warmup, 0)
        report.append({"segment": seg_id, "rows": len(seg["timestamp"]), "warmup": warmup, "kept": kept})
        if kept:
            parts.append({"timestamp": seg["timestamp"][warmup:], "close": seg["close"][warmup:],
                          "segment": np.full(kept, seg_id, np.int64),
                          **{k: v[warmup:] for k, v in feats.items()}})
    if not parts:
        raise ConfigError("input", f"no segment is longer than the {CONTEXT_WINDOW}-row feature warm-up")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, report


def warn_long_gaps(gaps: list[dict], splits: Splits, interval_ms: int) -> None:
    """Warn about each gap longer than ``LONG_GAP_MS`` (how long, where, which split holds it):
    files of one market months apart train as one dataset, in segments."""
    for gap in gaps:
        length = gap["missing"] * interval_ms
        if length <= LONG_GAP_MS:
            continue
        inside = [name for name, (start, end) in splits.items() if start <= gap["start"] < end]
        where = f"inside split {inside[0]!r}" if inside else "between splits"
        warnings.warn(f"a gap of {length / 86_400_000:.1f} days ({gap['missing']:,} missing bars from "
                      f"{gap['start_utc']}) splits the data into segments, {where}; chunks across it get no label",
                      stacklevel=3)


def label_chunks(split: Table, chunk_len: int, edges: dict[str, np.ndarray] | None) -> dict:
    """Labels-file content for one split; ``edges`` None means this is train and sets them."""
    segment = decompose.chunk_view(split["segment"], chunk_len)
    whole = np.all(segment == segment[:, :1], axis=1)
    ids = np.arange(len(segment))
    out: dict = {"chunk_len": chunk_len}
    for name, stat in INDICATORS.items():
        values = stat(split["close"], chunk_len)
        if edges is None:
            ind_edges = decompose.quantile_edges(values[whole])
        else:
            ind_edges = edges[name]
        labels = decompose.assign_labels(values[whole], ind_edges, fold_tails=edges is not None)
        out[name] = {"edges": [float(e) for e in ind_edges],
                     "chunks": decompose.label_groups(labels, ids[whole]),
                     "values": [float(v) if ok else None for v, ok in zip(values, whole)]}
    out["excluded_chunks"] = [int(i) for i in ids[~whole]]
    return out


def _split_table(data: Table, start: int, end: int) -> Table:
    rows = (data["timestamp"] >= start) & (data["timestamp"] < end)
    return {k: v[rows] for k, v in data.items()}


def _arrow(split: Table, meta: dict) -> pa.Table:
    cols = {"timestamp": pa.array(split["timestamp"], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))}
    cols.update({k: pa.array(v) for k, v in split.items() if k != "timestamp"})
    return pa.table(cols).replace_schema_metadata({"hftjax": json.dumps(meta)})


def prepare(inputs: list[str | Path], out_dir: str | Path, config: PrepareConfig = PrepareConfig(), *,
            progress: bool = True) -> dict:
    """Run the whole preparation; returns the manifest (also written to ``DIR/manifest.json``)."""
    if config.chunk_len < 16:
        raise ConfigError("chunk_len", f"must be at least 16, got {config.chunk_len}")
    if config.normalize not in normalize.NORMALIZE:
        raise ConfigError("normalize", f"must be one of {', '.join(normalize.NORMALIZE)}, got {config.normalize!r}")
    inputs = [Path(p) for p in inputs]
    check_prepare_out(out_dir, inputs)
    market = check_one_market(inputs)
    with prepare_lock(out_dir):
        check_prepare_out(out_dir, inputs)  # again: another prepare may have written it meanwhile
        with stages("prepare", 4, enabled=progress) as advance:
            advance("read and validate")
            return _prepare(inputs, out_dir, config, market, advance)


def _prepare(inputs: list[Path], out_dir: str | Path, config: PrepareConfig, market, advance) -> dict:
    sources = [fingerprint(p) for p in inputs]  # before reading: a file changed meanwhile then fails the check
    segments, load_report = load_market(inputs, interval_ms=config.interval_ms,
                                        gap_policy=config.gap_policy,
                                        max_ffill_minutes=config.max_ffill_minutes)
    advance("features")
    feature_set = resolve_feature_set(config.features, segments[0])
    data, segment_report = featurize(segments, feature_set)
    splits = config.splits or default_splits(int(data["timestamp"][0]),
                                             int(data["timestamp"][-1]) + config.interval_ms,
                                             config.interval_ms)
    warn_long_gaps(load_report["gaps"], splits, config.interval_ms)
    parameters = {"chunk_len": config.chunk_len, "interval_ms": config.interval_ms,
                  "gap_policy": config.gap_policy, "max_ffill_minutes": config.max_ffill_minutes,
                  "trend_window": TREND_WINDOW, "context_window": CONTEXT_WINDOW,
                  "butter_cutoff": decompose.BUTTER_CUTOFF, "normalize": config.normalize,
                  "splits": {k: list(v) for k, v in splits.items()}}
    columns = {"single": list(feature_set.single), "trend": list(feature_set.trend),
               "context": list(feature_set.context)}
    manifest = {"hftjax_version": hftjax.__version__, "feature_set": feature_set.name,
                "feature_version": FEATURE_VERSION, "columns": columns, "parameters": parameters,
                "request": config.request(inputs), "market": market._asdict(),
                "sources": sources, "load_report": load_report, "segments": segment_report,
                "splits": {}}
    split_tables = {name: _split_table(data, *bounds) for name, bounds in splits.items()}
    for name, table in split_tables.items():
        if len(table["timestamp"]) < config.chunk_len:
            short = (f"split {name!r} has {len(table['timestamp'])} rows after the feature warm-up "
                     f"({CONTEXT_WINDOW} rows per segment), fewer than one chunk ({config.chunk_len})")
            if config.splits is None:
                raise ConfigError("--chunk-len", f"with the default 70/15/15 split by time, {short}; give more "
                                                 "data, a smaller --chunk-len or explicit --split NAME=START:END")
            raise ConfigError("--split", short)
    advance("labels")
    train_labels = label_chunks(split_tables["train"], config.chunk_len, None)
    edges = {k: np.array(train_labels[k]["edges"]) for k in INDICATORS}
    advance("write")
    with atomic_dir(out_dir) as tmp:
        mark(tmp, "prepared")
        if config.normalize == "zscore":
            write_json(normalize.fit(split_tables["train"], columns), tmp / normalize.FILE)
        for name, table in split_tables.items():
            labels = train_labels if name == "train" else label_chunks(table, config.chunk_len, edges)
            meta = {"split": name, "feature_set": feature_set.name, "feature_version": FEATURE_VERSION,
                    "columns": columns, "sources": sources, "parameters": parameters}
            write_parquet(_arrow(table, meta), tmp / f"{name}.parquet")
            write_json(labels, tmp / f"{name}_labels.json")
            manifest["splits"][name] = {
                "rows": int(len(table["timestamp"])),
                "first_timestamp": int(table["timestamp"][0]), "last_timestamp": int(table["timestamp"][-1]),
                "chunks": len(labels["slope"]["values"]), "excluded_chunks": len(labels["excluded_chunks"]),
                "label_counts": {k: [len(labels[k]["chunks"][str(i)]) for i in range(decompose.NUM_LABELS)]
                                 for k in INDICATORS},
            }
        write_json(manifest, tmp / "manifest.json")
    return manifest
