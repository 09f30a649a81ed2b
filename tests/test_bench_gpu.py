"""``hftjax bench gpu``: the one budgeted command a short device window runs, exercised on this
CPU at its tiny sizes (a budget under a full run's), into a temporary results folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.throughput.gpu_check import STEPS

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_with_a_small_budget_writes_every_table(tmp_path):
    env = {**os.environ, "HFTJAX_RESULTS_DIR": str(tmp_path), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "hftjax.cli", "bench", "gpu", "--budget", "60", "-q"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    markdown = (tmp_path / "RESULTS_quick.md").read_text()  # a smoke-sized run
    for step in STEPS:
        name = f"gpu_check_{step}_cpu_budget60"
        rows = json.loads((tmp_path / "results" / f"{name}.json").read_text())["rows"]
        assert rows and f"<!-- {name}:begin -->" in markdown, step
    for step, key in (("env", "env_steps_per_s"), ("memory", "ms_per_step"), ("scaling", "steps_per_s")):
        rows = json.loads((tmp_path / "results" / f"gpu_check_{step}_cpu_budget60.json").read_text())["rows"]
        assert all(row[key] > 0 for row in rows), step  # the cheap steps come first: measured, not skipped
    assert not (ROOT / "benchmarks" / "results" / "gpu_check_env_cpu_budget60.json").exists()  # nothing recorded here
