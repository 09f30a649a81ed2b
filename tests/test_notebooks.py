"""The notebooks run top to bottom at their small size, in a Jupyter kernel (nbclient): a cell error
fails the test. The real-data notebook runs on archives ``hftjax download`` fetches from a
Binance stand-in on the loopback address (what it does where ``../shared/data`` is absent). Their
install cell is one text, run in fresh virtual environments: from the checkout, from a wheel, and
with neither (it stops with instructions)."""

from __future__ import annotations

from pathlib import Path

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig

import nbformat
import pytest
from nbclient import NotebookClient

from tests.binance_server import serving
from tests.support import SHARED_DATA

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_small_size(path, monkeypatch, tmp_path):
    monkeypatch.setenv("HFTJAX_SMALL", "1")
    monkeypatch.setenv("HFTJAX_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.delenv("XLA_FLAGS", raising=False)  # the throughput notebook sets its own
    real_data = path.stem == "02_real_data"
    with serving() if real_data else contextlib.nullcontext((None, None)) as (_, url):
        if real_data:  # no shared data: the notebook downloads from the stand-in
            monkeypatch.setenv("HFTJAX_SHARED_DATA", str(tmp_path / "absent"))
            monkeypatch.setenv("HFTJAX_BINANCE_URL", url)
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a cell error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no plot"
    assert any("small size" in o.get("text", "") for o in outputs), f"{path.name} ran without its size switch"
    if real_data:
        assert any("downloaded 13 Binance archives" in o.get("text", "") for o in outputs)


def install_cell() -> str:
    """The notebooks' install cell: one text in every notebook."""
    cells = {p.stem: nbformat.read(p, as_version=4).cells[1].source for p in NOTEBOOKS}
    assert len(set(cells.values())) == 1, f"the install cells differ: {sorted(cells)}"
    return next(iter(cells.values()))


def fresh_venv(where) -> Path:
    """A virtual environment without hftjax whose other packages (jax, pip...) are this one's, made
    visible by a .pth line (its .pth files, hftjax's editable finder among them, are not read)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    found = subprocess.run([python, "-c", "import importlib.util; print(importlib.util.find_spec('hftjax'))"],
                           capture_output=True, text=True, check=True, cwd=where).stdout.strip()
    assert found == "None"
    return python


def run_cell(python: Path, cwd: Path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "HFTJAX_SOURCE"}
    environ.update(PIP_NO_DEPS="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **env)  # the dependencies are there
    return subprocess.run([python, "-c", install_cell()], cwd=cwd, env=environ, capture_output=True, text=True)


def installed_from(python: Path, cwd: Path) -> str:
    return subprocess.run([python, "-c", "import hftjax; print(hftjax.__file__)"], cwd=cwd, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_install_cell_installs_from_the_checkout_from_a_wheel_or_says_how(tmp_path):
    root = Path(__file__).resolve().parents[1]
    checkout = tmp_path / "checkout"  # a copy: a build writes into the tree it builds
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "hftjax", "notebooks"):
        copy = shutil.copytree if (root / name).is_dir() else shutil.copy
        copy(root / name, checkout / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                               if (root / name).is_dir() else {}))
    python = fresh_venv(tmp_path / "from-checkout")
    done = run_cell(python, checkout / "notebooks")
    assert done.returncode == 0, done.stderr
    assert "site-packages" in installed_from(python, tmp_path) and str(tmp_path / "from-checkout") in installed_from(python, tmp_path)

    wheels = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(checkout)],
                   check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    [wheel] = wheels.glob("hftjax-*.whl")
    elsewhere = tmp_path / "colab"
    elsewhere.mkdir()
    python = fresh_venv(tmp_path / "from-wheel")
    done = run_cell(python, elsewhere, HFTJAX_SOURCE=str(wheel))
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "from-wheel") in installed_from(python, elsewhere)

    python = fresh_venv(tmp_path / "neither")
    done = run_cell(python, elsewhere)
    assert done.returncode != 0 and "Set HFTJAX_SOURCE in this cell to a wheel" in done.stderr
