"""Shared benchmark plumbing: environment record, JSON output and the RESULTS.md table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

import numpy as np
import pyarrow

from hftjax.io import atomic_path, write_json

HERE = Path(__file__).resolve().parent


def results_dir() -> Path:
    """Where tables go: this folder (``RESULTS.md``, ``results/``), or ``HFTJAX_RESULTS_DIR``
    (the tests' benchmark runs, which must not touch the recorded tables)."""
    return Path(os.environ.get("HFTJAX_RESULTS_DIR") or HERE)


def environment() -> dict:
    """Device, library versions and date, recorded next to every figure."""
    import jax

    devices = jax.devices()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": f"{devices[0].platform}: {devices[0].device_kind} x{len(devices)}",
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine slows every figure
    }


def record(name: str, title: str, rows: list[dict], env: dict | None = None) -> Path:
    """Write ``benchmarks/results/<name>.json`` and replace the ``name`` section of RESULTS.md.
    ``HFTJAX_BENCH_TAG`` (``hftjax bench all --quick`` sets it to ``quick``) records under
    ``<name>_<tag>`` instead, so a smoke run never replaces a full table."""
    tag = os.environ.get("HFTJAX_BENCH_TAG")
    if tag:
        name, title = f"{name}_{tag}", f"{title} [{tag}]"
    env = env or environment()
    out = results_dir() / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json({"benchmark": name, "environment": env, "rows": rows}, out)
    _update_markdown(name, title, rows, env)
    return out


def _markdown_table(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))  # every key, in first-seen order
    fmt = lambda v: f"{v:,.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _update_markdown(name: str, title: str, rows: list[dict], env: dict) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    env_line = ", ".join(f"{k} {v}" for k, v in env.items())
    section = f"{begin}\n## {title}\n\n{env_line}\n\n{_markdown_table(rows)}\n{end}"
    results_md = results_dir() / "RESULTS.md"
    text = results_md.read_text() if results_md.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    with atomic_path(results_md) as tmp:
        tmp.write_text(text)
