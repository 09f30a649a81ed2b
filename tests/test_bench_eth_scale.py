"""``hftjax bench eth-scale``: every stage of the pipeline in its own timed process, run here at
its quick size into a temporary results folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_eth_scale_quick_times_every_stage(tmp_path):
    env = {**os.environ, "HFTJAX_RESULTS_DIR": str(tmp_path / "results"), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "hftjax.cli", "bench", "eth-scale", "--quick", "--out",
                           str(tmp_path / "work"), "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = json.loads((tmp_path / "results" / "results" / "eth_scale_quick.json").read_text())["rows"]
    stages = [r for r in rows if "peak RSS GiB" in r]
    assert [r["stage"] for r in stages] == ["synth", "prepare", "sub-agents", "hyper-agent", "evaluate test"]
    assert all(r["wall s"] > 0 and r["peak RSS GiB"] > 0.05 for r in stages)
    total = next(r for r in rows if r["stage"] == "total (measured)")["wall s"]
    assert total == pytest.approx(sum(r["wall s"] for r in stages), abs=0.2)
    assert (tmp_path / "work" / "run" / "results" / "metrics.json").exists()  # the stages really ran the pipeline
