"""``hftjax synth`` / ``hftjax prepare`` end to end, and bad input leaving nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import random_book_table, shared_file
from hftjax import decompose
from hftjax.cli import main
from hftjax.data.table import to_arrow
from hftjax.io import write_parquet
from hftjax.rundir import mark

CHUNK = 360


def write_table(table, path):
    write_parquet(to_arrow(table), path)
    return path


def check_prepared(out, chunk_len, feature_set):
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["feature_set"] == feature_set
    columns = manifest["columns"]
    train_edges = None
    for name in ("train", "valid", "test"):
        table = pq.read_table(out / f"{name}.parquet")
        meta = json.loads(table.schema.metadata[b"hftjax"])
        assert meta["split"] == name and meta["feature_set"] == feature_set
        expected = ["timestamp", "close", "segment", *columns["single"], *columns["trend"], *columns["context"]]
        assert table.column_names == expected
        data = {c: table[c].to_numpy() for c in ("close", "segment")}
        assert all(np.isfinite(table[c].to_numpy()).all() for c in expected[1:])
        labels = json.loads((out / f"{name}_labels.json").read_text())
        assert labels["chunk_len"] == chunk_len
        n_chunks = table.num_rows // chunk_len
        for ind, stat in decompose_stats().items():
            block = labels[ind]
            assert len(block["edges"]) == 6 and set(block["chunks"]) == {"0", "1", "2", "3", "4"}
            ids = sorted(i for ids in block["chunks"].values() for i in ids)
            assert ids == sorted(set(range(n_chunks)) - set(labels["excluded_chunks"]))
            # chunk i is rows [i*L, (i+1)*L) of the split file
            values = stat(data["close"], chunk_len)
            for i in ids:
                assert block["values"][i] == pytest.approx(values[i], rel=1e-12)
            if name == "train":
                counts = np.array([len(block["chunks"][str(k)]) for k in range(5)])
                target = len(ids) * np.diff(decompose.QUANTILES)
                assert np.all(np.abs(counts - target) <= 1), (ind, counts, target)
                train_edges = train_edges or {}
                train_edges[ind] = block["edges"]
            else:
                assert block["edges"] == train_edges[ind]
                assert block["chunks"]["0"] == [] and block["chunks"]["4"] == []
        for i in labels["excluded_chunks"]:
            seg = data["segment"][i * chunk_len:(i + 1) * chunk_len]
            assert seg.min() != seg.max()
    return manifest


def decompose_stats():
    return {"slope": decompose.chunk_slopes, "vol": decompose.chunk_volatility}


def test_prepare_lob_default_split(tmp_path):
    src = write_table(random_book_table(24_000, seed=1), tmp_path / "bars.parquet")
    assert main(["prepare", str(src), "--out", str(tmp_path / "d"), "--chunk-len", str(CHUNK)]) == 0
    manifest = check_prepared(tmp_path / "d", CHUNK, "lob")
    rows = {k: v["rows"] for k, v in manifest["splits"].items()}
    total = sum(rows.values())
    assert total == 24_000 - 360
    assert abs(rows["train"] / total - 0.70) < 0.01 and abs(rows["test"] / total - 0.15) < 0.01
    assert manifest["sources"][0]["sha256"]


def test_prepare_gap_splits_segments_and_excludes_straddling_chunks(tmp_path):
    table = random_book_table(20_000, seed=2)
    table["timestamp"] = table["timestamp"].copy()
    table["timestamp"][9_100:] += 30 * 60_000  # a 30-minute gap inside the training period
    src = write_table(table, tmp_path / "gappy.parquet")
    assert main(["prepare", str(src), "--out", str(tmp_path / "d"), "--chunk-len", str(CHUNK),
                 "--features", "ohlcv"]) == 0
    manifest = check_prepared(tmp_path / "d", CHUNK, "ohlcv")
    assert [s["kept"] for s in manifest["segments"]] == [9_100 - 360, 10_900 - 360]
    train = json.loads((tmp_path / "d" / "train_labels.json").read_text())
    assert len(train["excluded_chunks"]) == 1


def test_prepare_explicit_splits(tmp_path):
    src = write_table(random_book_table(12_000, seed=4), tmp_path / "bars.parquet")
    t0 = np.datetime64(int(random_book_table(1)["timestamp"][0]), "ms")
    day = np.timedelta64(1, "D")
    cut1, cut2 = (str(t0 + 5 * day)[:10], str(t0 + 7 * day)[:10])
    args = ["prepare", str(src), "--out", str(tmp_path / "d"), "--chunk-len", str(CHUNK),
            f"--split=train=:{cut1}", f"--split=valid={cut1}:{cut2}", f"--split=test={cut2}:"]
    assert main(args) == 0
    manifest = check_prepared(tmp_path / "d", CHUNK, "lob")
    first_valid = np.datetime64(manifest["splits"]["valid"]["first_timestamp"], "ms")
    assert str(first_valid)[:10] == cut1


def test_synth_then_prepare_cli(tmp_path, capsys):
    market = tmp_path / "synth.parquet"
    assert main(["synth", "--rows", "30000", "--seed", "3", "--out", str(market)]) == 0
    table = pq.read_table(market)
    assert table.num_rows == 30_000 and "ask5_size" in table.column_names
    assert main(["prepare", str(market), "--out", str(tmp_path / "d"), "--chunk-len", str(CHUNK)]) == 0
    check_prepared(tmp_path / "d", CHUNK, "lob")
    assert "prepared lob features" in capsys.readouterr().out


def test_prepare_real_eth_ohlcv(tmp_path):
    src = shared_file("binance_ETHUSDT_1m_2021-04-02_2021-06-15.parquet")
    assert main(["prepare", str(src), "--out", str(tmp_path / "d")]) == 0
    manifest = check_prepared(tmp_path / "d", 4320, "ohlcv")
    assert len(manifest["segments"]) == 3  # the two Binance maintenance gaps split the data
    assert manifest["splits"]["train"]["chunks"] >= 15


BAD_CSV = {
    "unparseable": (3, "close", lambda rows: rows[3].__setitem__("close", "12x.5")),
    "non-monotonic": (4, "timestamp", lambda rows: rows[4].__setitem__("timestamp", rows[2]["timestamp"])),
    "nan": (5, "high", lambda rows: rows[5].__setitem__("high", "nan")),
    "inf": (5, "volume", lambda rows: rows[5].__setitem__("volume", "inf")),
    "non-positive": (6, "low", lambda rows: rows[6].__setitem__("low", "-1.0")),
    "high<low": (7, "high", lambda rows: rows[7].__setitem__("high", str(float(rows[7]["low"]) - 1))),
    "crossed": (8, "bid1_price", lambda rows: rows[8].__setitem__("bid1_price", str(float(rows[8]["ask1_price"]) + 1))),
}


def csv_rows(n=50):
    t = random_book_table(n, seed=9)
    t["timestamp"] = np.array([str(np.datetime64(int(v), "ms")) for v in t["timestamp"]])
    return [{k: str(v[i]) for k, v in t.items()} for i in range(n)]


def write_csv(rows, path, drop=()):
    cols = [c for c in rows[0] if c not in drop]
    path.write_text("\n".join([",".join(cols)] + [",".join(r[c] for c in cols) for r in rows]) + "\n")
    return path


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_input_clear_error_and_nothing_written(tmp_path, capsys, case):
    row, column, corrupt = BAD_CSV[case]
    rows = csv_rows()
    corrupt(rows)
    src = write_csv(rows, tmp_path / f"{case}.csv")
    out = tmp_path / "out"
    out.mkdir()  # an earlier output (as prepare recognises one) must survive a failed run
    mark(out, "prepared")
    (out / "manifest.json").write_text('{"splits": {"train": {}}}')
    (out / "train.parquet").write_text("previous run")
    assert main(["prepare", str(src), "--out", str(out), "--chunk-len", "16"]) == 2
    err = capsys.readouterr().err
    assert src.name in err and f"row {row}" in err and repr(column) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, "out"])
    assert sorted(p.name for p in out.iterdir()) == [".hftjax", "manifest.json", "train.parquet"]
    assert (out / "train.parquet").read_text() == "previous run"


def test_conflicting_duplicate_and_missing_column(tmp_path, capsys):
    rows = csv_rows()
    rows.insert(6, dict(rows[5], close=str(float(rows[5]["close"]) + 1)))
    src = write_csv(rows, tmp_path / "dup.csv")
    assert main(["prepare", str(src), "--out", str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err
    assert "dup.csv" in err and "row 6" in err and "'close'" in err
    src = write_csv(csv_rows(), tmp_path / "nolow.csv", drop=("low",))
    assert main(["prepare", str(src), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "nolow.csv" in err and "'low'" in err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_bad_options_name_the_option(tmp_path, capsys):
    src = write_table(random_book_table(3_000, seed=1), tmp_path / "bars.parquet")
    assert main(["prepare", str(src), "--out", str(tmp_path / "d"), "--chunk-len", "4320"]) == 2
    err = capsys.readouterr().err  # the default split leaves splits shorter than one chunk
    assert "default 70/15/15" in err and "--chunk-len" in err and "option '--split'" not in err
    assert main(["prepare", str(src), "--out", str(tmp_path / "d"), "--split", "valid=2022-01-01:"]) == 2
    assert "'train' split is required" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_same_input_same_output(tmp_path):
    src = write_table(random_book_table(8_000, seed=6), tmp_path / "bars.parquet")
    for out in ("a", "b"):
        assert main(["prepare", str(src), "--out", str(tmp_path / out), "--chunk-len", str(CHUNK)]) == 0
    for name in ("manifest.json", "train_labels.json", "test_labels.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert pq.read_table(tmp_path / "a" / "train.parquet").equals(pq.read_table(tmp_path / "b" / "train.parquet"))


def test_normalize_statistics_come_from_the_training_split_alone(tmp_path):
    """``--normalize zscore``: the saved statistics are the training split's column mean and std;
    changing every row after the training split (volumes x10) leaves them unchanged; every split
    loads scaled by them, and ``none`` loads the raw columns."""
    from hftjax.dataset import load_split

    table = random_book_table(12_000, seed=4)
    later = {k: v.copy() for k, v in table.items()}
    for k in later:
        if k.endswith("_size") or k == "volume":
            later[k][9_000:] *= 10.0  # after the training split (70% of the rows)
    outs = {}
    for name, t in (("same", table), ("later", later)):
        src = write_table(t, tmp_path / f"{name}.parquet")
        outs[name] = tmp_path / f"d_{name}"
        assert main(["prepare", str(src), "--out", str(outs[name]), "--chunk-len", str(CHUNK), "--normalize", "zscore"]) == 0
    raw = tmp_path / "d_raw"
    assert main(["prepare", str(tmp_path / "same.parquet"), "--out", str(raw), "--chunk-len", str(CHUNK)]) == 0
    assert not (raw / "normalization.json").exists()

    stats = json.loads((outs["same"] / "normalization.json").read_text())
    assert stats == json.loads((outs["later"] / "normalization.json").read_text())
    manifest = json.loads((outs["same"] / "manifest.json").read_text())
    assert manifest["parameters"]["normalize"] == "zscore"
    single, context = manifest["columns"]["single"], manifest["columns"]["context"]
    assert set(stats["columns"]) == set(single) | set(context)
    train = pq.read_table(outs["same"] / "train.parquet")
    valid = pq.read_table(outs["later"] / "valid.parquet")
    assert valid["volume"].to_numpy().mean() > 5 * train["volume"].to_numpy().mean()  # the change reached valid
    for name in single:
        x = train[name].to_numpy()
        assert stats["columns"][name]["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-12)
        assert stats["columns"][name]["std"] == pytest.approx(x.std() if x.std() > 0 else 1.0, rel=1e-9)
    for split, data_dir in (("train", outs["same"]), ("valid", outs["later"])):
        market, _ = load_split(data_dir, split, max_holding=0.2)
        unscaled, _ = load_split(raw if data_dir == outs["same"] else data_dir, split, max_holding=0.2)
        columns = pq.read_table(data_dir / f"{split}.parquet")
        expected = np.column_stack([(columns[n].to_numpy() - stats["columns"][n]["mean"]) / stats["columns"][n]["std"]
                                    for n in single])
        np.testing.assert_allclose(np.asarray(market.single), expected, rtol=1e-5, atol=1e-5)
        if split == "train":
            np.testing.assert_allclose(np.asarray(unscaled.single[:, 0]), train[single[0]].to_numpy(), rtol=1e-6)
    with pytest.raises(SystemExit):
        main(["prepare", str(tmp_path / "same.parquet"), "--out", str(tmp_path / "x"), "--normalize", "minmax"])
