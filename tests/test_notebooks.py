"""The notebooks run top to bottom at their small size, in a Jupyter kernel (nbclient): a cell error
fails the test. The real-data notebook reads ``../shared/data`` when present, else its synthetic stand-in."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support import SHARED_DATA

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_small_size(path, monkeypatch, tmp_path):
    monkeypatch.setenv("HFTJAX_SMALL", "1")
    monkeypatch.setenv("HFTJAX_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.delenv("XLA_FLAGS", raising=False)  # the throughput notebook sets its own
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a cell error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no plot"
    assert any("small size" in o.get("text", "") for o in outputs), f"{path.name} ran without its size switch"
