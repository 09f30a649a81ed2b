"""Data integrity end to end: a user's files are never overwritten, no stage trains or scores on
stale or mixed data, a refused command leaves nothing that blocks the corrected rerun, and
Ctrl-C stops training cleanly and resumably. Each test reproduces one way this used to fail.
(compare, re-prepared data under trained agents and the hyper-agent's divergence:
``test_pipeline.py``, which has a trained run.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import random_book_table
from hftjax.cli import main
from hftjax.data import load_market
from hftjax.data.table import to_arrow
from hftjax.errors import RunDirError
from hftjax.io import atomic_dir, write_parquet
from hftjax.rundir import MARKER, claim_run_dir, prepare_lock
from hftjax.subagent.config import load_config
from hftjax.subagent.run import train_subagents

CHUNK = "240"
EPOCHS = 5
TRAIN = [f"epochs={EPOCHS}", "hidden=16", "batch_size=64", "buffer_size=6000", "learning_starts=100",
         'agents=["slope_1","vol_3"]', "seeds=[0]"]
CLI = [sys.executable, "-m", "hftjax.cli"]
START_MS = 1_643_673_600_000
DAY_MS = 86_400_000


def bars(path: Path, rows: int = 6_000, seed: int = 2, start_ms: int = START_MS, scale: float = 1.0) -> Path:
    table = random_book_table(rows, seed=seed)
    table["timestamp"] = table["timestamp"] - table["timestamp"][0] + start_ms
    for column in ("open", "high", "low", "close"):
        table[column] = table[column] * scale
    write_parquet(to_arrow({k: table[k] for k in ("timestamp", "open", "high", "low", "close", "volume")}), path)
    return path


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- ownership -----------------------------------------------------------------------------------

def test_a_users_folder_is_not_a_run_directory_because_of_a_file_name(tmp_path, capsys):
    """A folder holding the user's own ``hyper.json`` (here also their --config) is refused,
    naming the file; the file is untouched. Only the .hftjax mark makes a run directory."""
    exp = tmp_path / "myexp"
    exp.mkdir()
    mine = '{"hyper": {"epochs": 1}}'
    (exp / "hyper.json").write_text(mine)
    assert main(["run", "--preset", "smoke", "--config", str(exp / "hyper.json"), "--out", str(exp), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(exp) in line and "hyper.json" in line and "no .hftjax mark" in line
    assert tree(exp) == ["hyper.json"] and (exp / "hyper.json").read_text() == mine
    (exp / "hyper.json").unlink()
    (exp / "subagents.json").write_text("{}")
    with pytest.raises(RunDirError, match="holds subagents.json and is not an hftjax run directory"):
        claim_run_dir(exp)
    assert tree(exp) == ["subagents.json"]
    run = claim_run_dir(tmp_path / "run")
    mark = json.loads((run / MARKER).read_text())
    assert mark["kind"] == "run" and mark["hftjax_version"]


def test_a_users_market_parquet_in_a_run_directory_is_not_the_synthetic_market(tmp_path, capsys):
    run = claim_run_dir(tmp_path / "run")
    bars(run / "market.parquet")
    before = (run / "market.parquet").read_bytes()
    assert main(["run", "--preset", "smoke", "--out", str(run), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "market.parquet" in line and "hftjax synth did not write" in line
    assert (run / "market.parquet").read_bytes() == before and not (run / "config.json").exists()


def test_synth_replaces_only_its_own_files(tmp_path, capsys):
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("years of work")
    real = bars(tmp_path / "real.parquet", rows=100)
    for path in (thesis, real):
        before = path.read_bytes()
        assert main(["synth", "--rows", "2000", "--out", str(path)]) == 2
        assert "--force" in one_line(capsys.readouterr().err) and path.read_bytes() == before
    market = tmp_path / "m.parquet"
    assert main(["synth", "--rows", "2000", "--seed", "1", "--out", str(market)]) == 0
    assert main(["synth", "--rows", "3000", "--seed", "1", "--out", str(market)]) == 0  # its own: replaced
    assert pq.read_metadata(market).num_rows == 3000
    assert main(["synth", "--rows", "2000", "--out", str(thesis), "--force"]) == 0
    assert pq.read_metadata(thesis).num_rows == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.parquet", "real.parquet", "thesis.txt"]  # no temporaries


# --- stale data ----------------------------------------------------------------------------------

@pytest.fixture
def stop_before_training(monkeypatch):
    """``run`` up to the first training stage (data prepared, config.json written), then a Ctrl-C."""
    import hftjax.pipeline

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(hftjax.pipeline, "train_subagents", interrupt)


def test_run_refuses_changed_inputs_and_same_names_from_elsewhere(tmp_path, capsys, monkeypatch, stop_before_training):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    bars(a / "m.parquet", seed=2)
    bars(b / "m.parquet", seed=5)
    run = tmp_path / "run"
    command = ["run", "--preset", "smoke", "--data", "m.parquet", "--out", str(run), "-q"]
    monkeypatch.chdir(a)
    assert main(command) == 130
    assert "interrupted; rerun the same command to resume" in one_line(capsys.readouterr().err)
    assert (run / "config.json").exists() and (run / "data" / "manifest.json").exists()
    sources = json.loads((run / "data" / "manifest.json").read_text())["sources"]
    assert sources[0]["resolved"] == str(a / "m.parquet") and sources[0]["size"] == (a / "m.parquet").stat().st_size
    assert main(command) == 130  # unchanged: the prepared data is reused
    capsys.readouterr()

    monkeypatch.chdir(b)  # the same name in another folder
    assert main(command) == 2
    assert "prepared from other inputs" in one_line(capsys.readouterr().err)

    monkeypatch.chdir(a)  # the same file with new content (and a new mtime)
    bars(a / "m.parquet", seed=7)
    assert main(command) == 2
    line = one_line(capsys.readouterr().err)
    assert str(a / "m.parquet") in line and "changed since hftjax prepare read it" in line
    assert main(["train-subagents", str(run / "data"), "--out", str(tmp_path / "other"), "-q"]) == 2
    assert "changed since hftjax prepare" in one_line(capsys.readouterr().err)


def test_same_content_with_a_new_mtime_is_not_a_change(tmp_path, stop_before_training, capsys):
    src = bars(tmp_path / "m.parquet")
    run = tmp_path / "run"
    command = ["run", "--preset", "smoke", "--data", str(src), "--out", str(run), "-q"]
    assert main(command) == 130
    os.utime(src, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, not changed: hashed again, accepted
    assert main(command) == 130
    assert "changed since" not in capsys.readouterr().err


def test_a_users_file_with_the_lock_name_is_left_alone(tmp_path, capsys):
    src = bars(tmp_path / "m.parquet")
    mine = tmp_path / ".data.hftjax.lock"
    mine.write_text("my notes")
    assert main(["prepare", str(src), "--out", str(tmp_path / "data"), "--chunk-len", CHUNK, "-q"]) == 2
    assert "is not an hftjax lock" in one_line(capsys.readouterr().err)
    assert mine.read_text() == "my notes" and not (tmp_path / "data").exists()


def test_concurrent_prepares_on_one_out(tmp_path):
    """While one prepare writes --out (its lock held here), a second process is refused."""
    src = bars(tmp_path / "m.parquet")
    out = tmp_path / "data"
    with prepare_lock(out):
        second = subprocess.run([*CLI, "prepare", str(src), "--out", str(out), "--chunk-len", CHUNK, "-q"],
                                capture_output=True, text=True)
    assert second.returncode == 2 and f"in use by process {os.getpid()}" in one_line(second.stderr)
    assert not out.exists()
    assert main(["prepare", str(src), "--out", str(out), "--chunk-len", CHUNK, "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "m.parquet"]  # the lock file is gone too


def test_prepare_into_a_training_run_and_ctrl_c_then_resume(tmp_path, capsys):
    """A real second process: ``prepare`` into the data/ of a run that is training is refused;
    SIGINT during sub-agent training exits 130 with one line after a whole checkpointed epoch;
    the rerun resumes to exactly the parameters of an uninterrupted run. A same-size byte flip
    in a checkpoint is then one line naming it and the earlier ones, with no orbax traceback."""
    assert main(["synth", "--rows", "16000", "--seed", "3", "--out", str(tmp_path / "m.parquet"), "-q"]) == 0
    run = claim_run_dir(tmp_path / "run")
    assert main(["prepare", str(tmp_path / "m.parquet"), "--out", str(run / "data"), "--chunk-len", CHUNK, "-q"]) == 0
    manifest = (run / "data" / "manifest.json").read_text()
    command = [*CLI, "train-subagents", str(run / "data"), "--out", str(run), "-q", *TRAIN]
    trainer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = run / "subagents_log.jsonl"
    deadline = time.monotonic() + 300
    while not (log.exists() and log.read_text().strip()):  # epoch 0 done: training is under way
        assert trainer.poll() is None and time.monotonic() < deadline, trainer.communicate()
        time.sleep(0.05)

    # this process is the second one: prepare into the trainer's data/ is refused (with no delay
    # that could let the training end first)
    assert main(["prepare", str(tmp_path / "m.parquet"), "--out", str(run / "data"), "--chunk-len", "300", "-q"]) == 2
    assert f"in use by process {trainer.pid}" in one_line(capsys.readouterr().err)
    assert (run / "data" / "manifest.json").read_text() == manifest

    trainer.send_signal(signal.SIGINT)
    _, err = trainer.communicate(timeout=300)
    assert trainer.returncode == 130, err
    line = one_line(err)
    assert "interrupted at epoch" in line and "rerun the same command to resume" in line
    done = int(line.split("interrupted at epoch ")[1].split()[0])
    assert 1 <= done < EPOCHS and not (run / "subagents.json").exists()
    assert sorted(int(p.name) for p in (run / "subagents_checkpoints").iterdir())[-1] == done

    cfg = load_config(overrides=TRAIN)
    resumed, _ = train_subagents(cfg, run / "data", run, progress=False)
    reference, _ = train_subagents(cfg, run / "data", tmp_path / "reference", progress=False)
    for field in ("params", "best_params", "best_score", "replay"):
        assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in
                   zip(jax.tree.leaves(getattr(resumed, field)), jax.tree.leaves(getattr(reference, field)))), field

    damaged = max((run / "subagents_checkpoints" / str(EPOCHS) / "state").rglob("d/*"), key=lambda p: p.stat().st_size)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 2
    line = one_line(again.stderr)  # no orbax "Event loop is closed" traceback after it
    assert str(run / "subagents_checkpoints" / str(EPOCHS)) in line and "differs from its checksum" in line
    assert f"--resume-from {EPOCHS - 1}" in line


def test_a_second_ctrl_c_takes_the_default_action():
    """Inside training the first SIGINT is only remembered and hands SIGINT back to the default
    action, so a second one ends the process at once; the old handler returns after the block."""
    from hftjax.learner.loop import deferred_interrupt

    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupt() as interrupted:
        assert not interrupted()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs between bytecodes
        assert interrupted() and signal.getsignal(signal.SIGINT) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is before


# --- one market per dataset ------------------------------------------------------------------------

def test_prepare_refuses_two_symbols_or_two_venues(tmp_path, capsys):
    btc = bars(tmp_path / "binance_BTCUSDT_1m_2022-02-01_2022-02-05.parquet", scale=20)
    eth = bars(tmp_path / "binance_ETHUSDT_1m_2022-02-05_2022-02-09.parquet", start_ms=START_MS + 6000 * 60_000)
    futures = bars(tmp_path / "binance-usdm_BTCUSDT_1m_2022-02-05_2022-02-09.parquet", start_ms=START_MS + 6000 * 60_000)
    for other, what in ((eth, "ETHUSDT"), (futures, "Binance USD-M futures")):
        assert main(["prepare", str(btc), str(other), "--out", str(tmp_path / "data"), "--chunk-len", CHUNK, "-q"]) == 2
        line = one_line(capsys.readouterr().err)
        assert other.name in line and btc.name in line and what in line and "one dataset is one market" in line
    assert main(["run", "--preset", "smoke", "--data", str(btc), str(eth), "--out", str(tmp_path / "run"), "-q"]) == 2
    assert "one dataset is one market" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "data").exists() and not (tmp_path / "run" / "config.json").exists()


def test_a_gap_of_days_between_files_is_reported_with_its_split(tmp_path, capsys):
    first = bars(tmp_path / "binance_BTCUSDT_1m_a.parquet", rows=4000)
    second = bars(tmp_path / "binance_BTCUSDT_1m_b.parquet", rows=4000, start_ms=START_MS + 4000 * 60_000 + 2 * DAY_MS)
    assert main(["prepare", str(first), str(second), "--out", str(tmp_path / "data"), "--chunk-len", CHUNK, "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: a gap of 2.0 days (2,880 missing bars from 2022-02-03T18:40" in err
    assert "inside split 'train'" in err
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["market"] == {"symbol": "BTCUSDT", "venue": "Binance spot"}


def test_inconsistent_bars_and_spikes_are_warned_with_file_and_row(tmp_path):
    table = random_book_table(2000, seed=1)
    table["close"][700] = table["high"][700] + 5.0  # close above the bar's high
    table["open"][1500] = table["high"][1500] = table["close"][1500] = table["close"][1500] * 1000  # a 1000x print
    path = tmp_path / "odd.parquet"
    write_parquet(to_arrow(table), path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_market([path])
    messages = [str(w.message) for w in caught]
    assert any(f"{path}, row 700, column 'close': close outside [low, high]" in m for m in messages), messages
    assert any(f"{path}, row 1500, column 'close': close jumps" in m and "1 more such bar" in m for m in messages)
    clean = tmp_path / "clean.parquet"
    write_parquet(to_arrow(random_book_table(2000, seed=1)), clean)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_market([clean])
    assert not caught


# --- validate, then write ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, key", [
    (["--devices", "3"], "devices.count"),
    (["evaluation.splits=[\"nosuch\"]"], "evaluation.splits"),
    (["--seeds", "-1"], "subagents.seeds"),
    (["data.chunk_len=5000"], "data.chunk_len"),
])
def test_a_refused_run_writes_nothing(tmp_path, capsys, args, key):
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--out", str(out), "-q", *args]) == 2
    assert f"option {key!r}" in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_chunk_len_longer_than_real_data_leaves_nothing_that_blocks_the_rerun(tmp_path, capsys, stop_before_training):
    src = bars(tmp_path / "m.parquet")
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--data", str(src), "--out", str(out), "-q", "data.chunk_len=2000"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "option 'data.chunk_len'" in line and "a smaller data.chunk_len" in line
    assert not (out / "config.json").exists() and not (out / "data").exists()
    assert main(["run", "--preset", "smoke", "--data", str(src), "--out", str(out), "-q"]) == 130  # the corrected rerun
    assert json.loads((out / "config.json").read_text())["data"]["chunk_len"] == 240


def test_a_platform_this_machine_lacks_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([*CLI, "run", "--preset", "smoke", "--out", str(out), "-q", "devices.platform=cuda"],
                          capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": ""})
    if done.returncode == 0:
        pytest.skip("this machine has a CUDA device")
    assert done.returncode == 2 and "option 'devices.platform'" in one_line(done.stderr)
    assert not out.exists()


# --- hints and leftovers ----------------------------------------------------------------------------

def test_evaluate_says_which_stage_is_missing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(empty)]) == 2
    assert "not an hftjax run directory" in one_line(capsys.readouterr().err)
    run = claim_run_dir(tmp_path / "run")
    assert main(["prepare", str(bars(tmp_path / "m.parquet")), "--out", str(run / "data"), "--chunk-len", CHUNK, "-q"]) == 0
    assert main(["evaluate", str(run)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"hftjax train-subagents {run / 'data'} --out {run}" in line and "--resume-from" not in line


def test_run_and_train_baselines_take_resume_from():
    from hftjax.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "--resume-from", "2"]).resume_from == 2
    assert parser.parse_args(["train-baselines", "d", "--out", "r", "--resume-from", "0"]).resume_from == 0


def test_a_failed_replace_puts_the_old_output_back_and_leaves_nothing(tmp_path, monkeypatch):
    """As when the output folder is read-only: the new output cannot take the old one's place."""
    out = tmp_path / "data"
    out.mkdir()
    (out / "train.parquet").write_text("previous")
    real_replace = os.replace

    def refuse_publish(src, dst):
        if Path(dst) == out and Path(src).name.endswith(".tmp"):
            raise PermissionError(13, "Permission denied", str(dst))
        real_replace(src, dst)
    monkeypatch.setattr(os, "replace", refuse_publish)
    with pytest.raises(PermissionError):
        with atomic_dir(out) as tmp:
            (tmp / "train.parquet").write_text("new")
    assert tree(tmp_path) == ["data", "data/train.parquet"] and (out / "train.parquet").read_text() == "previous"


def test_a_damaged_stage_record_is_one_line_naming_it(tmp_path, capsys):
    """A hyper.json (or any stage's record, or a manifest) cut short or overwritten is named in
    one line, not a JSONDecodeError traceback."""
    run = tmp_path / "run"
    run.mkdir()
    (run / ".hftjax").write_text(json.dumps({"kind": "run"}))
    for text in ("{not json", "[1, 2]"):
        (run / "hyper.json").write_text(text)
        assert main(["evaluate", str(run)]) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert str(run / "hyper.json") in line and "is damaged (not a JSON object)" in line, line
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text('{"splits": ')
    assert main(["train-subagents", str(data), "--out", str(tmp_path / "out"), "-q"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(data / "manifest.json") in line and "is damaged" in line, line
