"""Every output path is owned and nothing is left behind: a command replaces only files hftjax
wrote (or with --force), names joined into paths are plain names, temporaries of a dead process
are cleared by the next write, evaluate publishes its results as one step, and the tear sheet
escapes what the user named. Each test reproduces one way this used to fail (issue 30)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hftjax.cli import main
from hftjax.errors import ConfigError
from hftjax.io import HOST, atomic_dir, atomic_path
from hftjax.paths import check_name
from hftjax.rundir import MARKER, marked


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden ones too) with its bytes (None for a directory)."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """The smallest trained and evaluated run (``hftjax run --preset smoke``)."""
    out = tmp_path_factory.mktemp("ownership") / "run"
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


# --- every output path is owned ------------------------------------------------------------------

def test_tearsheet_over_a_foreign_file_is_refused_and_force_replaces(evaluated_run, tmp_path, capsys):
    pytest.importorskip("quantstats")
    victim = tmp_path / "victim.parquet"
    victim.write_bytes(b"PAR1 a user's market file")
    assert main(["tearsheet", str(evaluated_run), "--out", str(victim), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(victim) in line and "--force" in line
    assert victim.read_bytes() == b"PAR1 a user's market file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.parquet"]  # nothing beside it either
    sheet = tmp_path / "sheet.html"
    assert main(["tearsheet", str(evaluated_run), "--out", str(sheet), "-q"]) == 0
    assert main(["tearsheet", str(evaluated_run), "--out", str(sheet), "-q"]) == 0  # its own: replaced
    assert main(["tearsheet", str(evaluated_run), "--out", str(victim), "--force", "-q"]) == 0
    assert "<html" in victim.read_text().lower()
    assert main(["tearsheet", str(evaluated_run), "-q"]) == 0  # into the run's own results folder
    assert (evaluated_run / "results" / "test_tearsheet.html").exists()
    metrics = evaluated_run / "results" / "metrics.json"  # hftjax's, but not a tear sheet: never one
    before = metrics.read_bytes()
    assert main(["tearsheet", str(evaluated_run), "--out", str(metrics), "-q"]) == 2
    assert str(metrics) in one_line(capsys.readouterr().err) and metrics.read_bytes() == before


def test_compare_over_a_users_compare_csv_is_refused(evaluated_run, tmp_path, capsys):
    mine = tmp_path / "d"
    mine.mkdir()
    (mine / "compare.csv").write_text("my,own,table\n")
    assert main(["compare", str(evaluated_run), "--out", str(mine)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(mine / "compare.csv") in line and "--force" in line
    assert snapshot(mine) == {"compare.csv": b"my,own,table\n"}
    assert main(["compare", str(evaluated_run), "--out", str(mine), "--force"]) == 0
    assert (mine / "compare.csv").read_text().startswith("strategy,seeds")
    assert not marked(mine)  # a user's folder never becomes hftjax's
    new = tmp_path / "cmp"
    for _ in range(2):  # created and marked, then its own files replaced
        assert main(["compare", str(evaluated_run), "--out", str(new)]) == 0
    assert marked(new, "compare") and sorted(p.name for p in new.iterdir()) == [MARKER, "compare.csv", "compare.md"]


def test_benchmark_tables_never_replace_a_users_file(tmp_path, monkeypatch):
    from benchmarks.common import record

    monkeypatch.setenv("HFTJAX_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("HFTJAX_BENCH_TAG", raising=False)
    env = {"device": "cpu"}
    (tmp_path / "RESULTS.md").write_text("# my notes\n")
    with pytest.raises(ConfigError, match="RESULTS.md exists and hftjax did not write it"):
        record("t", "T", [{"x": 1}], env)
    assert snapshot(tmp_path) == {"RESULTS.md": b"# my notes\n"}
    (tmp_path / "RESULTS.md").unlink()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.json").write_text('{"mine": true}')
    with pytest.raises(ConfigError, match="t.json exists and hftjax did not write it"):
        record("t", "T", [{"x": 1}], env)
    assert snapshot(tmp_path) == {"results": None, "results/t.json": b'{"mine": true}'}
    (tmp_path / "results" / "t.json").unlink()
    for rows in ([{"x": 1}], [{"x": 2}]):  # its own files: replaced
        record("t", "T", rows, env)
    assert json.loads((tmp_path / "results" / "t.json").read_text())["rows"] == [{"x": 2}]
    with pytest.raises(ConfigError, match="not a plain name"):
        record("../../escape", "T", [{"x": 1}], env)
    assert not (tmp_path.parent / "escape.json").exists()


# --- names that become part of a path --------------------------------------------------------------

@pytest.mark.parametrize("name", ["../data/train", "/etc/x", "..", ".hidden", "a/b", "-rf", "", "train\n"])
def test_a_name_joined_into_paths_is_a_plain_name(name):
    with pytest.raises(ConfigError, match="not a plain name"):
        check_name(name, "--split")


@pytest.mark.parametrize("name", ["test", "valid", "train_2021", "walk-forward.v2", "BTC8"])
def test_plain_names_pass(name):
    assert check_name(name, "--split") == name


def test_evaluate_refuses_a_split_that_is_a_path_and_writes_nothing(evaluated_run, tmp_path, capsys):
    before = snapshot(evaluated_run)
    for split in ("../data/train", str(tmp_path / "elsewhere")):
        assert main(["evaluate", str(evaluated_run), "--split", split, "-q"]) == 2
        line = one_line(capsys.readouterr().err)
        assert "--split" in line and repr(split) in line
        assert main(["tearsheet", str(evaluated_run), "--split", split, "-q"]) == 2
        assert "not a plain name" in one_line(capsys.readouterr().err)
    assert snapshot(evaluated_run) == before and not list(tmp_path.iterdir())


# --- nothing left behind ---------------------------------------------------------------------------

def test_a_dead_process_temporaries_are_cleared_by_the_next_write_and_a_live_ones_kept(tmp_path):
    dead, live = dead_pid(), os.getppid()  # pytest's parent (the shell) outlives this test
    out = tmp_path / "out.json"
    stale_file = tmp_path / f".out.json.{HOST}-{dead}.abcd1234.tmp"
    in_progress = tmp_path / f".out.json.{HOST}-{live}.efgh5678.tmp"
    other = tmp_path / f".other.json.{HOST}-{dead}.ijkl9012.tmp"  # another path's: its own next write clears it
    elsewhere = tmp_path / f".out.json.{HOST}x-{dead}.qrst7890.tmp"  # another host's (a shared filesystem)
    for path in (stale_file, in_progress, other, elsewhere):
        path.write_bytes(b"x" * 1000)
    with atomic_path(out) as tmp:
        assert tmp.name.startswith(f".out.json.{HOST}-{os.getpid()}.") and tmp.name.endswith(".tmp")
        tmp.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([in_progress.name, other.name, elsewhere.name,
                                                                   "out.json"])
    # a prepare killed mid-write leaves a temporary directory (6 MB of splits): gone on the next prepare
    data = tmp_path / "data"
    stale_dir = tmp_path / f".data.{HOST}-{dead}.mnop3456.tmp"
    stale_dir.mkdir()
    (stale_dir / "train.parquet").write_bytes(b"x" * 1000)
    with atomic_dir(data) as tmp:
        (tmp / "train.parquet").write_text("new")
    assert not stale_dir.exists() and (data / "train.parquet").read_text() == "new"


def test_a_swap_killed_between_its_renames_gets_the_old_directory_back(tmp_path):
    """kill -9 after ``atomic_dir`` moved the old ``results`` aside, before the new one took its
    place: the next write puts the old one back, then updates it."""
    dead = dead_pid()
    aside = tmp_path / f".results.{HOST}-{dead}.abcd1234.old"
    aside.mkdir()
    (aside / "metrics.json").write_text("earlier")
    (tmp_path / f".results.{HOST}-{dead}.abcd1234.tmp").mkdir()  # the new one it was about to rename
    with atomic_dir(tmp_path / "results", keep=True) as tmp:
        (tmp / "metrics_valid.json").write_text("new")
    assert snapshot(tmp_path) == {"results": None, "results/metrics.json": b"earlier",
                                  "results/metrics_valid.json": b"new"}


def test_evaluate_publishes_all_its_results_or_none(evaluated_run, monkeypatch, capsys):
    """A failure after the train split's metrics and positions are written, before its report (as
    kill -9 would stop it), leaves the earlier results as they were: no metrics_train.json without
    report_train.md, no temporary. The results folder is hftjax's (marked)."""
    import hftjax.evaluate

    before = snapshot(evaluated_run)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(hftjax.evaluate, "write_report", killed)
    assert main(["evaluate", str(evaluated_run), "--split", "train", "-q"]) == 130
    capsys.readouterr()
    assert snapshot(evaluated_run) == before
    assert marked(evaluated_run / "results", "results")
    names = {p.name for p in (evaluated_run / "results").iterdir()}
    assert {"metrics.json", "report.md", "test_positions.parquet", "plots", "metrics_valid.json"} <= names


def test_tearsheet_escapes_the_run_directorys_name(evaluated_run, tmp_path):
    pytest.importorskip("quantstats")
    name = "run<img src=x onerror=alert(1)>"
    run = tmp_path / name
    shutil.copytree(evaluated_run / "results", run / "results")
    assert main(["tearsheet", str(run), "-q"]) == 0
    page = (run / "results" / "test_tearsheet.html").read_text()
    assert "run&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
