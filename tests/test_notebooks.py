"""The notebooks run top to bottom: code cells executed in order, with smaller sizes patched in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SMALLER = {"ROWS, CHUNK_LEN = 120_000, 1440": "ROWS, CHUNK_LEN = 40_000, 720"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    source = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                       if c["cell_type"] == "code")
    for big, small in SMALLER.items():
        if big in source:
            source = source.replace(big, small)
    exec(compile(source, path.name, "exec"), {"__name__": "__notebook__"})
