"""No silent wrong results, one line always (issue 30): a changed Q-teacher cache is rebuilt, data
another hftjax or feature version prepared is refused (``run`` prepares it again), ambiguous
columns are refused, an ``open`` outside [low, high] is warned, values the float32 features
cannot hold are refused at ``prepare``, and a full disk during a checkpoint save is one line.
Each test reproduces one way this used to fail."""

from __future__ import annotations

import errno
import json
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hftjax.pipeline
from hftjax.cli import main
from hftjax.data import load_market
from hftjax.data.load import read_input
from hftjax.data.table import to_arrow
from hftjax.data.validate import MAX_VALUE
from hftjax.dataset import cached_episode_teacher, load_split
from hftjax.env.teacher import episode_teacher
from hftjax.errors import DataError, RunDirError
from hftjax.features import FEATURE_VERSION
from hftjax.io import write_parquet
from hftjax.learner.checkpoint import Checkpoints, save_best
from hftjax.provenance import stale_preparation
from tests.support import random_book_table
from tests.test_integrity import bars, one_line

HOLD = 0.05


def caught_warnings(call) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught]


# --- the Q-teacher cache ---------------------------------------------------------------------------

def test_a_changed_or_truncated_teacher_cache_is_rebuilt_with_one_warning(tmp_path):
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.1, 400))
    expected = np.asarray(episode_teacher(close, 100, max_holding=HOLD))

    def load():
        return np.asarray(cached_episode_teacher(tmp_path, "train-chunk", close, 100, max_holding=HOLD))

    assert not caught_warnings(lambda: np.testing.assert_array_equal(load(), expected))
    [path] = tmp_path.glob("*.npy")
    assert not caught_warnings(load)  # read back: its checksum holds
    for damage in ("negated", "truncated"):
        size = path.stat().st_size
        if damage == "negated":  # same size, other values: used to change training silently
            with open(path, "wb") as f:
                np.save(f, -expected)
            assert path.stat().st_size == size
        else:  # used to be a ValueError traceback
            path.write_bytes(path.read_bytes()[: size // 2])
        messages = caught_warnings(lambda: np.testing.assert_array_equal(load(), expected))
        assert len(messages) == 1 and str(path) in messages[0] and "fails its checksum" in messages[0], messages
        assert not caught_warnings(lambda: np.testing.assert_array_equal(load(), expected))  # rebuilt, in place
        assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".sha256"]


# --- the versions that prepared the data -----------------------------------------------------------

def test_data_of_another_feature_version_is_refused_by_stages_and_prepared_again_by_run(tmp_path, capsys,
                                                                                         monkeypatch):
    def interrupt(*args, **kwargs):  # run up to the first training stage
        raise KeyboardInterrupt
    monkeypatch.setattr(hftjax.pipeline, "train_subagents", interrupt)
    src = bars(tmp_path / "m.parquet")
    run = tmp_path / "run"
    command = ["run", "--preset", "smoke", "--data", str(src), "--out", str(run), "-q"]
    assert main(command) == 130
    capsys.readouterr()
    manifest_path = run / "data" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert stale_preparation(manifest) is None
    assert "by hftjax 0.0.1 (feature version" in stale_preparation({**manifest, "hftjax_version": "0.0.1"})
    manifest_path.write_text(json.dumps({**manifest, "feature_version": FEATURE_VERSION + 1}))

    assert main(["train-subagents", str(run / "data"), "--out", str(tmp_path / "other"), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(run / "data") in line and f"feature version {FEATURE_VERSION + 1}" in line
    assert "run hftjax prepare again" in line and "retrain what was trained on it" in line
    # evaluate (and train-hyper) read the data through the trained sub-agents: refused alike, and
    # run does not prepare again what its agents were trained on (that would strand them)
    (run / "subagents.json").write_text(json.dumps({"data_dir": "data", "members": [], "config": {}, "env": {}}))
    (run / "hyper.json").write_text(json.dumps({"subagents": ".", "config": {}}))
    for stage in (["evaluate", str(run)], ["train-hyper", str(run)]):
        assert main([*stage, "-q"]) == 2
        line = one_line(capsys.readouterr().err)
        assert f"feature version {FEATURE_VERSION + 1}" in line and "retrain what was trained on it" in line
    before = manifest_path.read_bytes()
    assert main(command) == 2
    line = one_line(capsys.readouterr().err)
    assert "the stages of subagents.json, hyper.json were trained on it: give --out a new directory" in line, line
    assert manifest_path.read_bytes() == before
    for name in ("subagents.json", "hyper.json"):
        (run / name).unlink()

    assert main(command) == 130  # run prepares it again, saying so on one line
    err = capsys.readouterr().err.strip().splitlines()
    said = [x for x in err if "preparing it again" in x]
    assert len(said) == 1 and f"feature version {FEATURE_VERSION + 1}" in said[0] and "Traceback" not in "".join(err)
    assert json.loads(manifest_path.read_text())["feature_version"] == FEATURE_VERSION


# --- columns and bars ------------------------------------------------------------------------------

def test_columns_that_differ_only_in_case_are_refused_naming_both(tmp_path, capsys):
    table = random_book_table(50, seed=3)
    rows = [f"{t},{o},{h},{l},{c},{c * 2},{v}" for t, o, h, l, c, v in
            zip(*(table[k] for k in ("timestamp", "open", "high", "low", "close", "volume")))]
    csv = tmp_path / "m.csv"
    csv.write_text("\n".join(["timestamp,open,high,low,close,Close,volume", *rows]) + "\n")
    assert main(["prepare", str(csv), "--out", str(tmp_path / "d"), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(csv) in line and "'close' and 'Close'" in line and "ambiguous" in line
    arrow = to_arrow({k: table[k] for k in ("timestamp", "open", "high", "low", "close", "volume")})
    parquet = tmp_path / "m.parquet"
    write_parquet(arrow.append_column("CLOSE", arrow["close"]), parquet)
    with pytest.raises(DataError, match="'close' and 'CLOSE' both match 'close'") as info:
        read_input(parquet)
    assert info.value.file == str(parquet)


def test_an_open_outside_low_high_is_warned_with_file_and_row(tmp_path):
    table = random_book_table(2000, seed=1)
    table["open"][900] = table["low"][900] - 3.0
    path = tmp_path / "odd.parquet"
    write_parquet(to_arrow(table), path)
    messages = caught_warnings(lambda: load_market([path]))
    assert any(f"{path}, row 900, column 'open': open outside [low, high]" in m for m in messages), messages


# --- values the float32 features cannot hold ------------------------------------------------------

@pytest.mark.parametrize("spike", [False, True])
def test_values_near_1e300_are_refused_at_prepare_with_file_row_and_column(tmp_path, capsys, spike):
    """Prices near 1e300 used to prepare ``"std": null`` and end ``run`` in a traceback; one
    1e300 print was a ValueError traceback in prepare."""
    path = bars(tmp_path / "m.parquet", rows=4000, scale=1.0 if spike else 1e296)
    if spike:
        table = {k: np.array(v) for k, v in read_input(path).items()}
        table["close"][700] = table["high"][700] = 1e300
        write_parquet(to_arrow(table), path)
    assert main(["prepare", str(path), "--out", str(tmp_path / "d"), "--chunk-len", "100", "--normalize", "zscore",
                 "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    where = f"{path}, row 700, column 'high'" if spike else f"{path}, row 0, column 'open'"
    assert where in line and "beyond 1e+15" in line, line
    assert not (tmp_path / "d").exists()


def test_values_just_under_the_bound_give_finite_float32_features(tmp_path):
    """The bound is what keeps the features finite: prices and book sizes just under it prepare
    into a float32 market (features, scaled features and teacher) without an inf or NaN."""
    table = random_book_table(4000, seed=4)
    price_scale = 0.9 * MAX_VALUE / max(table[c].max() for c in table if c.endswith("price") or c == "high")
    size_scale = 0.9 * MAX_VALUE / max(table[c].max() for c in table if c.endswith("size") or c == "volume")
    for column in table:
        if column != "timestamp":
            table[column] = table[column] * (size_scale if column.endswith("size") or column == "volume"
                                             else price_scale)
    path = tmp_path / "big.parquet"
    write_parquet(to_arrow(table), path)
    assert main(["prepare", str(path), "--out", str(tmp_path / "d"), "--chunk-len", "100", "--normalize",
                 "zscore", "-q"]) == 0
    for split in ("train", "test"):
        market, _ = load_split(tmp_path / "d", split, max_holding=HOLD)
        for name in ("single", "trend", "context", "close", "price_change", "teacher"):
            array = getattr(market, name)
            assert array.dtype == jnp.float32 and bool(jnp.isfinite(array).all()), (split, name)


# --- a full disk during a checkpoint save ----------------------------------------------------------

# orbax's writer threads may still touch their closed event loop after the failure is raised
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_full_disk_during_a_checkpoint_save_is_one_line_and_keeps_the_earlier_ones(tmp_path, monkeypatch, capsys):
    from etils import epath
    from flax import struct

    @struct.dataclass
    class State:
        key: jax.Array
        params: jax.Array
        best_params: jax.Array
        best_score: jax.Array
        best_epoch: jax.Array

    state = State(jax.random.key(0), jnp.arange(4.0), jnp.ones(3), jnp.float32(1), jnp.int32(2))
    checkpoints = Checkpoints(tmp_path / "ck")
    for epoch in (1, 2):
        checkpoints.save(epoch, state, {"epoch": epoch})

    def full(self, *args, **kwargs):  # every file orbax writes (metadata, the JSON meta) fails
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
    for method in ("write_text", "write_bytes"):
        monkeypatch.setattr(type(epath.Path(tmp_path)), method, full)
    with pytest.raises(RunDirError) as info:
        checkpoints.save(3, state, {"epoch": 3})
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{checkpoints.directory}: cannot save checkpoint 3")
    assert "No space left on device" in message and "rerun the same command" in message
    with pytest.raises(RunDirError, match="cannot save the best parameters .No space left"):
        save_best(tmp_path / "best", state)
    monkeypatch.undo()
    again = Checkpoints(tmp_path / "ck")  # the rerun resumes from checkpoint 2 and saves 3 over the partial one
    assert again.epochs() == [1, 2]
    restored, meta = again.restore(2, state)
    assert meta == {"epoch": 2}
    np.testing.assert_array_equal(restored.params, state.params)
    again.save(3, state, {"epoch": 3})
    assert again.epochs() == [2, 3] and again.restore(3, state)[1] == {"epoch": 3}
    assert sorted(p.name for p in again.directory.iterdir()) == ["2", "3"]


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs: a disk that really fills (skipped where this process may not mount)."""
    import subprocess

    where = tmp_path / "disk"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_really_full_disk_during_a_checkpoint_save_is_one_line(small_disk):
    """The arrays go through tensorstore, whose failure is a ValueError naming the errno: still
    one line saying the disk is full, and the earlier checkpoint stays restorable."""
    from flax import struct

    @struct.dataclass
    class State:
        key: jax.Array
        params: jax.Array

    small = State(jax.random.key(0), jnp.arange(4.0))
    checkpoints = Checkpoints(small_disk / "ck")
    checkpoints.save(1, small, {"epoch": 1})
    with pytest.raises(RunDirError) as info:
        checkpoints.save(2, State(jax.random.key(0), jnp.arange(400_000.0)), {"epoch": 2})  # 1.6 MB
    checkpoints.close()
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "cannot save checkpoint 2 (No space left on device)" in message
    again = Checkpoints(small_disk / "ck")
    assert again.epochs() == [1]
    np.testing.assert_array_equal(again.restore(1, small)[0].params, small.params)
    again.close()
