"""A user's files and results are never lost, and user errors are one clear line.

``prepare`` never removes what it did not write; a run directory is locked to one process; option
values, config files, compressed and header-only inputs and missing stages give errors that
name the key, file or directory. (Divergence, corrupted checkpoints and the ablation command:
``test_subagent_training.py`` and ``test_pipeline.py``, which have the trained runs.)
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import random_book_table
from hftjax.cli import main
from hftjax.data import load_market
from hftjax.data.table import to_arrow
from hftjax.errors import DataError, RunDirError
from hftjax.io import write_parquet
from hftjax.rundir import LOCK, claim_run_dir, run_lock

CHUNK = "240"


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    path = tmp_path_factory.mktemp("market") / "bars.parquet"
    write_parquet(to_arrow(random_book_table(4_000, seed=2)), path)
    return path


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_prepare_refuses_an_out_that_holds_its_input(market, tmp_path, capsys):
    out = tmp_path / "work"
    out.mkdir()
    src = out / "market.parquet"
    src.write_bytes(market.read_bytes())
    assert main(["prepare", str(src), "--out", str(out), "--chunk-len", CHUNK]) == 2
    err = capsys.readouterr().err
    assert "option '--out'" in err and "market.parquet" in err and "Traceback" not in err
    assert tree(out) == ["market.parquet"] and src.read_bytes() == market.read_bytes()


def test_prepare_refuses_out_dot(market, tmp_path, capsys, monkeypatch):
    """``--out .`` (or a folder holding the current one) would replace the shell's working
    directory: refused before any work, whatever it holds, leaving nothing behind."""
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "bars.parquet").write_bytes(market.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main(["prepare", "bars.parquet", "--out", ".", "--chunk-len", CHUNK]) == 2
    assert "option '--out'" in capsys.readouterr().err  # "." holds the input
    assert main(["prepare", str(market), "--out", ".", "--chunk-len", CHUNK]) == 2
    err = capsys.readouterr().err
    assert "is the current directory" in err and "Traceback" not in err
    assert tree(tmp_path) == ["bars.parquet", "notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    for out in (".", ".."):
        assert main(["prepare", str(market), "--out", out, "--chunk-len", CHUNK]) == 2
        assert "is the current directory" in capsys.readouterr().err
    assert tree(tmp_path) == ["bars.parquet", "empty", "notes.txt"]


def test_prepare_refuses_a_foreign_directory_and_replaces_only_its_own(market, tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    assert main(["prepare", str(market), "--out", str(foreign), "--chunk-len", CHUNK]) == 2
    assert str(foreign) in capsys.readouterr().err
    assert tree(foreign) == ["thesis.tex"]

    out = tmp_path / "data"
    assert main(["prepare", str(market), "--out", str(out), "--chunk-len", CHUNK]) == 0
    first = (out / "manifest.json").read_text()
    assert main(["prepare", str(market), "--out", str(out), "--chunk-len", "300"]) == 0  # its own: replaced
    assert json.loads((out / "manifest.json").read_text())["parameters"]["chunk_len"] == 300 != json.loads(first)[
        "parameters"]["chunk_len"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    (out / "my_notes.md").write_text("a user file dropped into an output")
    assert main(["prepare", str(market), "--out", str(out), "--chunk-len", CHUNK]) == 2
    assert "my_notes.md" in capsys.readouterr().err
    assert (out / "my_notes.md").exists() and json.loads((out / "manifest.json").read_text())[
        "parameters"]["chunk_len"] == 300


def test_run_directories_refuse_foreign_content(tmp_path):
    (tmp_path / "paper.pdf").write_text("x")
    with pytest.raises(RunDirError, match="not an hftjax run directory"):
        claim_run_dir(tmp_path)
    assert tree(tmp_path) == ["paper.pdf"]
    run = claim_run_dir(tmp_path / "run")
    (run / "subagents_log.jsonl").write_text("")
    assert claim_run_dir(run) == run  # its own: accepted again


@pytest.mark.parametrize("args, key, allowed", [
    (["lr=abc"], "lr", "a number > 0"),
    (["lr=-0.1"], "lr", "a number > 0"),
    (["gamma=2"], "gamma", "(0, 1]"),
    (["epochs=1.5"], "epochs", "an integer >= 1"),
    (["epochs=0"], "epochs", "an integer >= 1"),
    (["hidden=0"], "hidden", "an integer >= 1"),
    (["seeds=3"], "seeds", "list of distinct integers"),
    (["seeds=[0,0]"], "seeds", "distinct integers"),
    (["env.fee=-1"], "env.fee", "[0, 1)"),
    (["sweep={\"lr\":[0]}"], "sweep.lr", "a number > 0"),
    (["adapter=maybe"], "adapter", "true or false"),
    (["nosuch=1"], "nosuch", "unknown option"),
])
def test_bad_option_values_name_the_key(tmp_path, capsys, args, key, allowed):
    assert main(["train-subagents", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err.strip()
    key = key if key.startswith("env.") else f"subagents.{key}"
    assert f"option {key!r}" in err and allowed in err and "\n" not in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, allowed", [(["lr=0"], "a number > 0"), (["memory=1"], "true or false"),
                                           (["top_k=0"], "an integer >= 1"), (["beta=-1"], "a number >= 0")])
def test_bad_hyper_option_values_name_the_key(tmp_path, capsys, args, allowed):
    from hftjax.hyper.config import load_hyper_config
    from hftjax.errors import ConfigError

    with pytest.raises(ConfigError, match=f"option '{args[0].split('=')[0]}'.*{allowed}"):
        load_hyper_config(overrides=args)


def test_config_files_missing_or_malformed(tmp_path, capsys):
    base = ["train-subagents", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    assert main([*base, "--config", str(tmp_path / "nope.json")]) == 2
    assert "option '--config'" in (err := capsys.readouterr().err) and "nope.json" in err and "not found" in err
    (tmp_path / "bad.json").write_text('{"lr": 1e-4,,}')
    assert main([*base, "--config", str(tmp_path / "bad.json")]) == 2
    assert "bad.json is not valid JSON" in (err := capsys.readouterr().err) and "line 1" in err
    (tmp_path / "bad.toml").write_text("lr = = 3")
    assert main([*base, "--config", str(tmp_path / "bad.toml")]) == 2
    assert "bad.toml is not valid TOML" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1, 2]")
    assert main([*base, "--config", str(tmp_path / "list.json")]) == 2
    assert "must hold an object" in capsys.readouterr().err


def test_missing_stages_say_what_to_run(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train-subagents", str(empty), "--out", str(tmp_path / "run")]) == 2
    assert "not a prepared dataset" in (err := capsys.readouterr().err) and "hftjax prepare" in err
    assert main(["train-hyper", str(empty)]) == 2
    assert "subagents.json missing" in (err := capsys.readouterr().err) and "hftjax train-subagents" in err
    assert main(["evaluate", str(empty)]) == 2
    assert "hyper.json missing" in (err := capsys.readouterr().err) and "not an hftjax run directory" in err
    assert main(["run", "--data", str(tmp_path / "typo.parquet"), "--out", str(tmp_path / "run")]) == 2
    assert f"{tmp_path / 'typo.parquet'}: no such file (data.inputs, --data)" in capsys.readouterr().err
    assert tree(tmp_path) == ["empty"]  # nothing created by the failed commands


def test_verbose_shows_the_traceback(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "-v"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_gzip_content_is_read_whatever_its_name(tmp_path):
    table = random_book_table(600, seed=4)
    names = ["timestamp", "open", "high", "low", "close", "volume"]
    text = "\n".join([",".join(names)] + [",".join(str(table[c][i]) for c in names) for i in range(600)]) + "\n"
    (tmp_path / "plain.csv").write_text(text)
    (tmp_path / "packed.csv").write_bytes(gzip.compress(text.encode()))
    plain, _ = load_market(tmp_path / "plain.csv")
    packed, _ = load_market(tmp_path / "packed.csv")
    for column in names:
        np.testing.assert_array_equal(plain[0][column], packed[0][column])
    (tmp_path / "packed.parquet").write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes()))
    with pytest.raises(DataError, match=r"packed\.parquet: is gzip-compressed, not Parquet"):
        load_market(tmp_path / "packed.parquet")


def test_header_only_file_says_so(tmp_path):
    (tmp_path / "empty.csv").write_text("timestamp,open,high,low,close,volume\n")
    with pytest.raises(DataError, match=r"empty\.csv: has no data rows"):
        load_market(tmp_path / "empty.csv")


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK).write_text(dead.stdout.strip())
    with pytest.warns(UserWarning, match=f"stale lock of process {dead.stdout.strip()} \\(no longer running\\)"):
        with run_lock(tmp_path):
            assert (tmp_path / LOCK).read_text() == str(os.getpid())
            with run_lock(tmp_path):  # re-entrant within the process
                pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # released cleanly: no warning next time
        with run_lock(tmp_path):
            pass


def test_a_live_holder_is_named(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(tmp_path / LOCK)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.pwrite(fd, str(os.getpid()).encode(), 0)\n"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"in use by process {holder.pid}"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with pytest.warns(UserWarning, match=f"stale lock of process {holder.pid}"):
        with run_lock(tmp_path):  # the kernel released the killed holder's lock
            pass


def test_positions_file_is_never_half_written(tmp_path):
    """Atomic writes leave the old file when writing fails."""
    path = tmp_path / "x.parquet"
    write_parquet(to_arrow(random_book_table(10)), path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        write_parquet("not a table", path)
    assert path.read_bytes() == before and pq.read_table(path).num_rows == 10
    assert tree(tmp_path) == ["x.parquet"]


def test_a_nan_validation_score_never_counts_as_best():
    import jax.numpy as jnp
    from flax import struct

    from hftjax.learner.members import keep_best

    @struct.dataclass
    class State:
        params: jnp.ndarray
        best_params: jnp.ndarray
        best_score: jnp.ndarray
        best_epoch: jnp.ndarray
        epoch: jnp.ndarray

    state = State(params=jnp.float32(7.0), best_params=jnp.float32(1.0), best_score=jnp.float32(0.1),
                  best_epoch=jnp.int32(0), epoch=jnp.int32(3))
    kept = keep_best(state, jnp.float32(jnp.nan))
    assert float(kept.best_params) == 1.0 and float(kept.best_score) == pytest.approx(0.1) and int(kept.best_epoch) == 0
    better = keep_best(state, jnp.float32(0.2))
    assert float(better.best_params) == 7.0 and int(better.best_epoch) == 2
    unscored = keep_best(state, jnp.float32(jnp.nan), scored=False)  # nothing to validate on: the latest
    assert float(unscored.best_params) == 7.0 and int(unscored.best_epoch) == 2


def test_members_are_named_by_agent_seed_and_sweep_values():
    from hftjax.subagent.config import load_config
    from hftjax.subagent.run import member_ids
    from hftjax.learner.loop import Loop

    cfg = load_config(overrides=['sweep={"lr":[1e-4,0.03]}', "seeds=[0,5]", 'agents=["vol_2"]'])
    loop = Loop("sub-agent", None, None, {}, 1, member_ids(cfg), 1e6)
    names = [loop.member_name(i) for i in range(len(cfg.members))]
    assert names == ["sub-agent agent=vol_2, seed=0, lr=0.0001", "sub-agent agent=vol_2, seed=0, lr=0.03",
                     "sub-agent agent=vol_2, seed=5, lr=0.0001", "sub-agent agent=vol_2, seed=5, lr=0.03"]


def test_json_outputs_are_standard_json(tmp_path):
    from hftjax.io import write_json

    write_json({"ratio": float("inf"), "nested": [float("nan"), 1.5, {"x": -float("inf")}]}, tmp_path / "m.json")
    text = (tmp_path / "m.json").read_text()
    assert json.loads(text) == {"ratio": None, "nested": [None, 1.5, {"x": None}]}
    assert "Infinity" not in text and "NaN" not in text
