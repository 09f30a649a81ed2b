"""What the repository itself holds: no absolute path of the machine it was made on (run
directories, temporary folders, the checkout), since those mean nothing on another machine; and
layers that import only downward (the learner below the three agent families, which never import
one another's internals, and an env without file I/O)."""

from __future__ import annotations

import ast
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def machine_paths() -> set[str]:
    """Folders of this machine a recorded result could name: the checkout's parent, the
    temporary folder and the home folder (never the bare root)."""
    folders = {ROOT.parent, Path(tempfile.gettempdir()).resolve(), Path(os.path.expanduser("~")).resolve()}
    return {str(f).rstrip("/") + "/" for f in folders if f != Path(f.anchor)}


def tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / n for n in names.decode().split("\0") if n and (ROOT / n).is_file()]


def test_no_tracked_file_names_a_path_of_this_machine():
    found = []
    for path in tracked_text_files():
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (images)
        text = data.decode("utf-8", "replace")
        for folder in machine_paths():
            at = text.find(folder)
            if at >= 0:
                line = text.count("\n", 0, at) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {folder}")
    assert not found, "absolute paths of this machine in tracked files:\n" + "\n".join(found[:20])


def imports_of(folder: str) -> dict[str, set[str]]:
    """{file under hftjax/FOLDER: every module it imports (absolute names)}."""
    found = {}
    for path in sorted((ROOT / "hftjax" / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_layers_import_only_downward():
    above_learner = ("hftjax.subagent", "hftjax.hyper", "hftjax.baselines")
    for file, names in imports_of("learner").items():
        assert not {n for n in names if n.startswith(above_learner)}, file
    for file, names in imports_of("baselines").items():
        assert not {n for n in names if n.startswith("hftjax.subagent")}, file
    for file, names in imports_of("subagent").items():
        assert not {n for n in names if n.startswith(("hftjax.baselines", "hftjax.hyper"))}, file
    for file, names in imports_of("env").items():  # pure functions and their parameter types
        assert not names & {"pyarrow", "pyarrow.parquet", "hftjax.io", "hftjax.dataset", "pathlib", "json"}, file
        assert not {n for n in names if n.startswith(("hftjax.learner", "hftjax.data"))}, file


def test_the_baselines_key_streams_follow_every_sub_agents():
    from hftjax.baselines.config import SUBAGENT_STREAMS
    from hftjax.subagent import AGENTS

    assert SUBAGENT_STREAMS == len(AGENTS)
