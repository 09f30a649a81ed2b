"""Locks cover what a stage reads (a real second process each time), seeds that JAX would fold
onto one member are refused before anything is written, and ``compare`` counts a member that two
directories hold once (issue 30)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.test_integrity import CHUNK, CLI, bars, one_line
from hftjax.cli import main
from hftjax.errors import RunDirError
from hftjax.hyper.artifacts import reading
from hftjax.report import COLUMNS
from hftjax.rundir import LOCK, claim_run_dir, prepare_lock, run_lock

READER = ("import sys\n"
          "from hftjax.hyper.artifacts import reading\n"
          "from hftjax.rundir import prepare_lock\n"
          "with reading(sys.argv[1]), prepare_lock(sys.argv[2], shared=True):\n"
          "    print('held', flush=True)\n"
          "    sys.stdin.readline()\n")


@contextlib.contextmanager
def holding(script: str, *args: str):
    """A second process running ``script`` (which prints ``held`` once it holds its locks, then
    waits for a line): yielded while it holds them, then released, and it must exit cleanly."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def layout(tmp_path):
    """A run whose sub-agents' records name its prepared ``data/``, an ablation directory beside
    them (``train-hyper RUN --out RUN/abl``) and prepared data outside any run: just the files the
    locks follow, so a refused stage fails at its lock or not at all."""
    src = bars(tmp_path / "m.parquet")
    run = claim_run_dir(tmp_path / "run")
    assert main(["prepare", str(src), "--out", str(run / "data"), "--chunk-len", CHUNK, "-q"]) == 0
    (run / "subagents.json").write_text(json.dumps({"data_dir": "data"}))
    abl = claim_run_dir(run / "abl")
    (abl / "hyper.json").write_text(json.dumps({"subagents": ".."}))
    assert main(["prepare", str(src), "--out", str(tmp_path / "data"), "--chunk-len", CHUNK, "-q"]) == 0
    return src, run, abl, tmp_path / "data"


def test_prepare_is_refused_while_another_process_reads_and_readers_share(layout, capsys):
    """A second process reads the run through an ablation (what ``evaluate RUN/abl`` and
    ``train-hyper RUN --out RUN/abl`` hold) and data outside any run (what ``train-subagents DATA``
    holds): ``prepare`` into either is refused with one line naming it; this process reads the
    same beside it; once both leave, the lock records are cleared and ``prepare`` goes ahead."""
    src, run, abl, data = layout
    manifest = (run / "data" / "manifest.json").read_text()
    with holding(READER, str(abl), str(data)) as reader:
        for out in (run / "data", data):
            assert main(["prepare", str(src), "--out", str(out), "--chunk-len", "300", "-q"]) == 2
            assert f"in use by process {reader.pid} " in one_line(capsys.readouterr().err)
        assert (run / "data" / "manifest.json").read_text() == manifest
        with reading(abl), prepare_lock(data, shared=True):  # a second reader shares
            assert (run / LOCK).read_text().split() == [str(reader.pid), str(os.getpid())]
        assert (run / LOCK).read_text().split() == [str(reader.pid), str(os.getpid())]  # the reader stays
        assert (data.parent / ".data.hftjax.lock").exists()
    assert (run / LOCK).read_text() == "" and not (data.parent / ".data.hftjax.lock").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # released cleanly: no stale-lock warning
        for out in (run / "data", data):
            assert main(["prepare", str(src), "--out", str(out), "--chunk-len", "300", "-q"]) == 0


def test_every_stage_that_reads_prepared_data_waits_for_no_prepare(layout):
    """While ``prepare`` writes a run's data/ (its lock held here), a second process's
    ``train-hyper RUN --out RUN/abl2``, ``evaluate RUN/abl``, ``train-subagents RUN/data --out
    OTHER`` and ``train-baselines RUN/data --out OTHER`` are each refused with one line naming
    this process; so is ``train-subagents DATA`` while ``prepare`` writes DATA outside a run."""
    _, run, abl, data = layout
    other = run.parent / "other"
    commands = [["train-hyper", str(run), "--out", str(run / "abl2")], ["evaluate", str(abl)],
                ["train-subagents", str(run / "data"), "--out", str(other)],
                ["train-baselines", str(run / "data"), "--out", str(other)],
                ["train-subagents", str(data), "--out", str(other)]]
    script = ("import json, sys\nfrom hftjax.cli import main\n"
              "print(json.dumps([main([*c, '-q']) for c in json.loads(sys.argv[1])]))")
    with prepare_lock(run / "data"), prepare_lock(data):
        done = subprocess.run([sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True)
    assert json.loads(done.stdout) == [2] * len(commands), done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(commands) and "Traceback" not in done.stderr, done.stderr
    for command, line in zip(commands, lines):
        assert f"hftjax {command[0]}: error:" in line and f"in use by process {os.getpid()} " in line, line
    assert not (run / "abl2").exists() and not (abl / "results").exists()


def test_a_shared_hold_made_exclusive_is_refused_while_another_process_reads(tmp_path):
    """``train-hyper RUN`` reads RUN, then writes it: refused while another process reads RUN,
    without naming itself; alone, it writes and returns to reading."""
    claim_run_dir(tmp_path)
    (tmp_path / "subagents.json").write_text(json.dumps({"data_dir": "data"}))
    shared = ("import sys\nfrom hftjax.rundir import run_lock\n"
              "with run_lock(sys.argv[1], shared=True):\n"
              "    print('held', flush=True)\n    sys.stdin.readline()\n")
    with holding(shared, str(tmp_path)) as holder:
        with run_lock(tmp_path, shared=True):
            with pytest.raises(RunDirError, match=f"in use by process {holder.pid} "):
                with run_lock(tmp_path):
                    pass
    with run_lock(tmp_path, shared=True):
        with run_lock(tmp_path):
            assert (tmp_path / LOCK).read_text() == str(os.getpid())
        with run_lock(tmp_path, shared=True):  # re-entrant in either mode
            pass
    assert (tmp_path / LOCK).read_text() == ""


@pytest.mark.parametrize("seeds", [["18446744073709551616"], ["0", "4294967296"], ["-1"]])
def test_seeds_jax_cannot_tell_apart_are_refused_before_anything_is_written(tmp_path, capsys, seeds):
    """``jax.random.key`` keeps a seed's low 32 bits (and overflows on 2^64): such seeds are one
    line naming the option, exit 2, and no run directory, so the corrected rerun is not refused."""
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--seeds", *seeds, "--out", str(out), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "option 'subagents.seeds'" in line and "[0, 2^32)" in line, line
    assert not out.exists()
    listed = f"seeds=[{','.join(seeds)}]"
    assert main(["train-subagents", str(tmp_path / "data"), "--out", str(out), listed, "-q"]) == 2
    assert "option 'subagents.seeds'" in one_line(capsys.readouterr().err) and not out.exists()
    assert main(["train-hyper", str(tmp_path / "data"), "--out", str(out), listed, "-q"]) == 2
    assert "option 'hyper.seeds'" in one_line(capsys.readouterr().err) and not out.exists()


def test_the_largest_seed_a_key_holds_is_accepted():
    from hftjax.run_config import load_run_config

    cfg = load_run_config("smoke", overrides=[f"subagents.seeds=[0,{2**32 - 1}]", f"hyper.seeds=[{2**32 - 1}]"])
    assert cfg.subagents.seeds == (0, 2**32 - 1) and cfg.hyper.seeds == (2**32 - 1,)


def evaluated(path: Path, seeds: list[int], *, subagent_seeds: list[int] | None = None, dataset: str = "d" * 64,
              inputs: str = "market.parquet", tr: float = 0.01) -> Path:
    """A directory with just what ``compare`` reads: ``config.json`` as ``hftjax run`` writes it,
    ``hyper.json`` with the data's digest and ``results/metrics.json`` (MacroHFT per seed, buy and hold)."""
    values = {metric: tr for metric, *_ in COLUMNS}
    (path / "results").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"data": {"inputs": [inputs]}, "hyper": {"lr": 1e-3, "seeds": seeds},
                                                  "subagents": {"hidden": 16, "seeds": subagent_seeds or seeds}}))
    (path / "hyper.json").write_text(json.dumps({"subagents": ".", "dataset_sha256": dataset}))
    per_seed = [{"seed": s, **values} for s in seeds]
    (path / "results" / "metrics.json").write_text(json.dumps({
        "split": "test", "rows": 100, "period": ["2024-01-01", "2024-01-02"], "fee": 0.0002, "max_holding": 1.0,
        "macrohft": {"per_seed": per_seed, "mean": values}, "buy_and_hold": values}))
    return path


def macrohft_seeds(out: Path) -> int:
    return int({r["strategy"]: r for r in csv.DictReader((out / "compare.csv").open())}["MacroHFT"]["seeds"])


def test_compare_counts_a_copied_run_once_and_says_so(tmp_path, capsys):
    """``compare U U_copy`` of one seed (``cp -r``): one member, one line naming the repeat;
    the same member reached through another path to the market file counts once too."""
    u = evaluated(tmp_path / "U", [0])
    copy = tmp_path / "U_copy"
    shutil.copytree(u, copy)
    assert main(["compare", str(u), str(copy), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert macrohft_seeds(tmp_path / "cmp") == 1 and "# 1 run on the test split" in printed
    notes = [line for line in printed.splitlines() if "repeats" in line]
    assert notes == [f"Counted once: {copy}:0 repeats {u}:0 (the same config, seed and data)."], printed
    assert notes[0] in (tmp_path / "cmp" / "compare.md").read_text()
    moved = evaluated(tmp_path / "moved", [0, 1], inputs=str(tmp_path / "market.parquet"))
    assert main(["compare", str(u), str(moved), "--out", str(tmp_path / "cmp2")]) == 0
    assert macrohft_seeds(tmp_path / "cmp2") == 2 and f"{moved}:0 repeats {u}:0" in capsys.readouterr().out


@pytest.mark.parametrize("other", [
    {"seeds": [1]},                                 # another seed
    {"seeds": [0], "dataset": "e" * 64},            # the same seed on other data
    {"seeds": [1], "subagent_seeds": [0]},          # seed 1's hyper-agent over seed 0's sub-agents ...
])
def test_compare_counts_other_members_apart(tmp_path, capsys, other):
    base = {"seeds": [1], "subagent_seeds": [1]} if other.get("subagent_seeds") else {"seeds": [0]}
    first = evaluated(tmp_path / "first", **base)  # ... is not seed 1's over seed 1's
    command = ["compare", str(first), str(evaluated(tmp_path / "second", **other)), "--out", str(tmp_path / "cmp")]
    if "dataset" in other:  # not seeds of one experiment: pooled only when asked
        assert main(command) == 2
        assert "differ in prepared data)" in one_line(capsys.readouterr().err)
        command.append("--allow-different")
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert macrohft_seeds(tmp_path / "cmp") == 2 and "repeats" not in printed and "# 2 runs" in printed


def test_prepared_data_where_this_process_may_not_write_is_read_without_a_lock(tmp_path, monkeypatch):
    """A read-only mount of prepared data: a reader cannot create the lock file beside it (and
    cannot replace the data either), so it goes on unlocked; a writer there still fails."""
    import errno

    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).endswith(".hftjax.lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, "open", read_only)
    with prepare_lock(tmp_path / "data", shared=True):
        pass
    with pytest.raises(OSError, match="Read-only"):
        with prepare_lock(tmp_path / "data"):
            pass
