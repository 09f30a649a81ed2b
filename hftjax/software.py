"""Which code made a result: hftjax's version, the git commit it ran from (when it runs from a
checkout, with a dirty flag), the versions of JAX and its libraries, the devices and the date.

Recorded in every stage's record of a run directory (``subagents.json``, ``baselines.json``,
``ppo.json``, ``hyper.json``) and every results file (``metrics*.json``, ``summary.json``), and
printed by ``hftjax --version``. The data a result comes from is ``hftjax.provenance``'s.
"""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import subprocess
from pathlib import Path

import jax

import hftjax

LIBRARIES = ("jax", "jaxlib", "flax", "optax")
CHECKOUT = Path(hftjax.__file__).resolve().parent.parent  # the repository root when run from a checkout


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def source() -> dict:
    """{"git_commit", "git_dirty"}: the checkout's HEAD and whether tracked files differ from it;
    both None for an installed wheel (no checkout around the package)."""
    if not (CHECKOUT / ".git").exists() or _git("rev-parse", "--show-toplevel") != str(CHECKOUT):
        return {"git_commit": None, "git_dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": _git("rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status)}


def versions() -> dict:
    return {name: importlib.metadata.version(name) for name in LIBRARIES}


def devices() -> dict:
    found = jax.devices()
    return {"backend": jax.default_backend(), "device_kind": found[0].device_kind, "device_count": len(found),
            "process_count": jax.process_count()}


def software_provenance() -> dict:
    """Everything above, and the UTC date it was taken."""
    return {"hftjax": hftjax.__version__, **source(), **versions(), **devices(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def version_text() -> str:
    """What ``hftjax --version`` prints."""
    s, d = source(), devices()
    commit = "" if s["git_commit"] is None else f" (git {s['git_commit'][:12]}{', dirty' if s['git_dirty'] else ''})"
    return (f"hftjax {hftjax.__version__}{commit}\n"
            + ", ".join(f"{k} {v}" for k, v in versions().items())
            + f"\nJAX backend: {d['backend']}, {d['device_count']} x {d['device_kind']}")
