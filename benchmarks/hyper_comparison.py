"""Does the hyper-agent beat its parts? ``hftjax run`` (default preset) with 3 seeds on the
synthetic market with regime switches; on the whole validation split compare the hyper-agent's
return rate with the best single sub-agent and the equal-weight mix of the six (same seed).

    python -m benchmarks.hyper_comparison [--preset default] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import record
from hftjax.pipeline import run_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="hftjax-compare-")) / "run"
    t0 = time.perf_counter()
    metrics = run_pipeline(out, preset=args.preset, seeds=(0, 1, 2))
    wall = time.perf_counter() - t0
    rows = []
    for split in ("valid", "test"):
        m = metrics[split]
        for i, seed in enumerate((0, 1, 2)):
            best = m["best_single_subagent"]["per_seed"][i]
            rows.append({"split": split, "seed": seed,
                         "hyper_TR_%": 100 * m["macrohft"]["per_seed"][i]["TR"],
                         "equal_mix_TR_%": 100 * m["equal_weight_mix"]["per_seed"][i]["TR"],
                         "best_single_TR_%": 100 * best["TR"], "best_single": best["agent"],
                         "hyper_trades": m["macrohft"]["per_seed"][i]["trades"],
                         "equal_mix_trades": m["equal_weight_mix"]["per_seed"][i]["trades"],
                         "buy_hold_TR_%": 100 * m["buy_and_hold"]["TR"]})
            print(rows[-1], flush=True)
    rows.append({"split": f"(preset {args.preset}, wall {wall:.0f} s, run dir {out})"})
    print(record("hyper_comparison", "Hyper-agent vs best single sub-agent vs equal-weight mix (return rate on the split)", rows))


if __name__ == "__main__":
    main()
