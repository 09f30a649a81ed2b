"""Where a sub-agent epoch's time goes, op by op, and what removing the non-arithmetic gains.

The sub-agents are the largest stage of the pipeline (85% of the ETH-scale run, table
``eth_scale``). One epoch of the six sub-agents (faithful mode, 1 seed) on a synthetic market is
traced with ``jax.profiler`` (4,000 rows: the profiler keeps a million events); every XLA op's own time (its children's removed) is put in a class by
the JAX operation it came from (XLA's op metadata): the network's forward and backward passes, the
optimizer, random numbers, gathers and scatters, copies, loop control, the rest. Table
``epoch_profile``: those classes before and after hftjax's two CPU changes:

- ``hftjax.learner.layers.dense``: the kernel gradient of a narrow layer (the dueling heads' actions) as the
  transposed product, which XLA:CPU computes about 10x faster (the single largest op before);
- ``hftjax.cpu_lowering``: JAX's threefry unrolled on the CPU, so a random draw is straight-line
  code instead of a 5-iteration loop of tiny ops with loop-carried copies.

Table ``epoch_speedup``: the epoch's wall time with JAX's defaults, with each change alone and with
both, measured in this one run (``--rounds`` interleaved rounds, each variant compiled afresh,
the median of all its timed epochs), as ratios to the defaults' time; and whether the trained parameters
match the defaults' to float32 rounding.

    hftjax bench epoch-profile [--quick] [--rows 12000] [--epochs 4] [--rounds 3]

``--quick``: 3,000 rows at small sizes (the same code; how the tests run it).
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import hftjax.learner.layers
from benchmarks.common import record
from hftjax.cli import main as cli
from hftjax.cpu_lowering import threefry_on_cpu
from hftjax.env import EnvConfig
from hftjax.learner.population import population_epoch, population_validate
from hftjax.subagent.config import load_config
from hftjax.subagent.run import SubAgentTrainer

PROFILE_ROWS = 4_000
TRACE_LIMIT = 1_000_000  # events the profiler keeps; a trace that reaches it lost the rest of the epoch
QUICK_OPTIONS = {"hidden": 16, "batch_size": 64, "learning_starts": 100, "buffer_size": 20_000}
# (class, pattern on the op's JAX name), first match wins; ops without a JAX name are classed by their XLA kind
CLASSES = (("network backward", r"transpose\(jvp\((SubAgentNet|dense)"), ("network forward", r"SubAgentNet|dense"),
           ("optimizer", r"adam|clip|apply_gradients|optax"),
           ("random numbers", r"threefry|random_bits|randint|_uniform|random_split|random_wrap"),
           ("gathers and scatters", r"gather|scatter|dynamic_slice|dynamic_update_slice"))
XLA_KINDS = (("copies", r"^copy"), ("loop control", r"^(while|conditional|call)"))
HFTJAX_DENSE = hftjax.learner.layers.dense
JAX_DENSE = lambda x, kernel: x @ kernel  # noqa: E731  (JAX's own autodiff of the product)
VARIANTS = {"JAX defaults": (False, False), "narrow kernel gradient": (True, False),
            "unrolled threefry": (False, True), "both (hftjax)": (True, True)}


def use(dense: bool, unrolled: bool) -> None:
    """Switch each change on or off for the programs compiled next."""
    hftjax.learner.layers.dense = HFTJAX_DENSE if dense else JAX_DENSE
    threefry_on_cpu("unrolled" if unrolled else "rolled")
    jax.clear_caches()



def prepared(work: Path, rows: int, chunk_len: int) -> Path:
    cli(["synth", "--rows", str(rows), "--seed", "0", "--out", str(work / "market.parquet"), "--quiet"])
    cli(["prepare", str(work / "market.parquet"), "--out", str(work / "data"), "--chunk-len", str(chunk_len), "--quiet"])
    return work / "data"


def trained(data: Path, options: dict, epochs: int) -> tuple[list[float], object]:
    """(seconds of each epoch after a compiling one, the final params) of a fresh trainer."""
    trainer = SubAgentTrainer(load_config(seeds=[0], **options), EnvConfig(), data)
    state = trainer.init()
    state, _ = trainer.epoch(state)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        state, _ = trainer.epoch(state)
        jax.block_until_ready(state.params)
        times.append(time.perf_counter() - start)
    return times, state.params


def op_names(trainer, state) -> dict[str, str]:
    """{XLA op name: the JAX operation it came from} of the epoch's and validation's programs."""
    names = {}
    for fn in (population_epoch, population_validate):
        text = fn.lower(trainer.setup, state, trainer.spec, trainer.valid_market if fn is population_validate
                        else trainer.train_market, trainer.trading).compile().as_text()
        for line in text.splitlines():
            found = re.match(r'\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name="([^"]*)"', line)
            if found:
                names[found.group(1)] = found.group(2)
    return names


def own_times(trace_dir: Path) -> dict[str, float]:
    """{XLA op: microseconds of its own} from a perfetto trace: each op's duration less that of
    the ops nested in it on the same thread."""
    (path,) = glob.glob(str(trace_dir / "**" / "*perfetto_trace.json.gz"), recursive=True)
    events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    if len(events) >= TRACE_LIMIT:
        raise SystemExit(f"{path}: the trace reached the profiler's {TRACE_LIMIT:,} events, so it misses the end of "
                         f"the epoch; trace a smaller market (PROFILE_ROWS)")
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "hlo_op" in e.get("args", {}):
            by_thread[e["tid"]].append(e)
    own = collections.defaultdict(float)
    for thread in by_thread.values():
        thread.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_ops = []
        for e in thread:
            while open_ops and open_ops[-1]["ts"] + open_ops[-1]["dur"] <= e["ts"]:
                open_ops.pop()
            if open_ops:
                own[open_ops[-1]["name"]] -= e["dur"]
            own[e["name"]] += e["dur"]
            open_ops.append(e)
    return own


def op_class(op: str, jax_name: str | None) -> str:
    if jax_name is not None:
        for name, pattern in CLASSES:
            if re.search(pattern, jax_name):
                return name
    for name, pattern in XLA_KINDS:
        if re.search(pattern, op):
            return name
    return "other arithmetic"


def profile(data: Path, options: dict, work: Path) -> dict[str, float]:
    """{class: milliseconds of op time} of one traced epoch (after a compiling one)."""
    trainer = SubAgentTrainer(load_config(seeds=[0], **options), EnvConfig(), data)
    state = trainer.init()
    state, _ = trainer.epoch(state)
    jax.block_until_ready(state.params)
    names = op_names(trainer, state)
    jax.profiler.start_trace(str(work), create_perfetto_trace=True)
    state, _ = trainer.epoch(state)
    jax.block_until_ready(state.params)
    jax.profiler.stop_trace()
    classes = collections.defaultdict(float)
    for op, micros in own_times(work).items():
        classes[op_class(op, names.get(op))] += micros / 1e3
    return dict(classes)


def profile_rows(before: dict, after: dict) -> list[dict]:
    totals = sum(before.values()), sum(after.values())
    rows = [{"class": c, "before ms": before.get(c, 0.0), "before %": 100 * before.get(c, 0.0) / totals[0],
             "after ms": after.get(c, 0.0), "after %": 100 * after.get(c, 0.0) / totals[1]}
            for c in sorted(set(before) | set(after), key=lambda c: -before.get(c, 0.0))]
    return rows + [{"class": "all ops", "before ms": totals[0], "before %": 100.0, "after ms": totals[1], "after %": 100.0}]


def speedup_rows(times: dict[str, list[float]], params: dict) -> list[dict]:
    base = statistics.median(times["JAX defaults"])
    reference = jax.tree.leaves(params["JAX defaults"])
    rows = []
    for name, seconds in times.items():
        diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (np.abs(np.asarray(b)) + 1e-3)))
                   for a, b in zip(jax.tree.leaves(params[name]), reference))
        rows.append({"variant": name, "epoch s (median)": statistics.median(seconds), "epochs timed": len(seconds),
                     "speed vs JAX defaults": base / statistics.median(seconds),
                     "params max relative difference": diff})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3,000 rows at small sizes")
    parser.add_argument("--rows", type=int, default=12_000, help="the timed epochs' market")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per variant and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every variant")
    args = parser.parse_args()
    platform, suffix = jax.devices()[0].platform, "_quick" if args.quick else ""
    work = Path(tempfile.mkdtemp(prefix="hftjax-epoch-profile-"))
    # the profiler keeps at most a million events, so the traced epoch is a small market's
    # (updates from the 100th transition on, as in nearly every iteration at ETH scale)
    traced, timed = ((3_000, 120, QUICK_OPTIONS), (3_000, 120, QUICK_OPTIONS)) if args.quick else \
        ((PROFILE_ROWS, 240, {"learning_starts": 100}), (args.rows, 360, {}))
    shapes = lambda rows, chunk, options: (f"{rows:,} rows, chunk {chunk}, six sub-agents x 1 seed, faithful mode"  # noqa: E731
                                           + "".join(f", {k} {v}" for k, v in options.items()))

    data = prepared(work / "traced", *traced[:2])
    use(dense=False, unrolled=False)
    before = profile(data, traced[2], work / "trace-before")
    use(dense=True, unrolled=True)
    after = profile(data, traced[2], work / "trace-after")
    print(record(f"epoch_profile{suffix}", f"Sub-agent epoch, op time by class, before and after hftjax's CPU "
                                           f"changes ({platform}; {shapes(*traced)})", profile_rows(before, after)))

    data = prepared(work / "timed", *timed[:2])
    times, params = {name: [] for name in VARIANTS}, {}
    for _ in range(args.rounds):  # interleaved: a load change on the machine hits every variant
        for name, (dense, unrolled) in VARIANTS.items():
            use(dense, unrolled)
            seconds, params[name] = trained(data, timed[2], args.epochs)
            times[name] += seconds
    use(dense=True, unrolled=True)
    print(record(f"epoch_speedup{suffix}", f"Sub-agent epoch wall time, JAX defaults against hftjax's CPU changes, "
                                           f"one run ({platform}; {shapes(*timed)})", speedup_rows(times, params)))


if __name__ == "__main__":
    main()
