"""Which code made a result (``hftjax.software``): recorded in every stage and results file, and
``hftjax --version``."""

from __future__ import annotations

import datetime
import subprocess

import jax
import pytest

import hftjax
from hftjax import software
from hftjax.cli import main


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_provenance_names_the_versions_devices_and_date():
    import flax
    import jaxlib
    import optax

    record = software.software_provenance()
    assert record["hftjax"] == hftjax.__version__
    assert (record["jax"], record["jaxlib"], record["flax"], record["optax"]) == (
        jax.__version__, jaxlib.__version__, flax.__version__, optax.__version__)
    assert record["device_count"] == len(jax.devices()) and record["device_kind"] == jax.devices()[0].device_kind
    taken = datetime.datetime.fromisoformat(record["date"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - taken).total_seconds()) < 60


def test_the_commit_and_dirty_flag_are_the_checkouts(tmp_path, monkeypatch):
    package = tmp_path / "hftjax"
    package.mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.setattr(software, "CHECKOUT", tmp_path)
    software.source.cache_clear()
    assert software.source() == {"git_commit": git(tmp_path, "rev-parse", "HEAD"), "git_dirty": False}
    (package / "__init__.py").write_text("x = 2\n")
    software.source.cache_clear()
    assert software.source()["git_dirty"] is True
    monkeypatch.setattr(software, "CHECKOUT", tmp_path / "hftjax")  # an installed package: no checkout
    software.source.cache_clear()
    assert software.source() == {"git_commit": None, "git_dirty": None}
    software.source.cache_clear()


def test_version_prints_the_version_and_backend(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"hftjax {hftjax.__version__}") and f"jax {jax.__version__}" in out
    assert f"JAX backend: {jax.default_backend()}, {len(jax.devices())} x" in out
