"""The learning-quality ablation on the real markets, one line per change: MacroHFT's mean ASR
on validation and test and its test TR (mean ± std over 3 seeds) per market, gathered from the
recorded tables of ``benchmarks.experiments.real_markets`` and ``benchmarks.experiments.ablations --hyper-on`` (run
those first; a missing table leaves its line out).

    python -m benchmarks.experiments.real_ablation
"""

from __future__ import annotations

import json

from benchmarks.common import HERE, record
from benchmarks.experiments.real_markets import MARKETS

# (line, recorded table, its rows' run prefix for --hyper-on tables, variant)
LINES = [
    ("reference: raw features, hyper lr 1e-4, 3 epochs", "real_markets", None, None),
    ("+ data.normalize=zscore", "ablations_hyper_real", "real_final", "lr=1e-4, 3 epochs"),
    ("+ hyper.lr=1e-3", "ablations_hyper_real", "real_final", "lr=1e-3, 3 epochs"),
    ("+ hyper.epochs=6 (the demo preset)", "real_markets_demo_fixes", None, None),
    ("hyper lr 1e-3, 6 epochs without zscore", "ablations_hyper_real", "real_none", "lr=1e-3, 6 epochs"),
    ("demo preset + env.learn_notional=500", "real_markets_learn_notional", None, None),
    ("demo preset + env.teacher_fee=trading", "real_markets_teacher_trading", None, None),
]


def cells(table: str, prefix: str | None, variant: str | None, market: str, strategy: str) -> dict | None:
    path = HERE / "results" / f"{table}.json"
    if not path.exists():
        return None
    rows = json.loads(path.read_text())["rows"]
    if prefix is None:
        pick = {r["split"]: r for r in rows if r.get("market") == market and r.get("strategy") == strategy}
    else:
        pick = {r["split"]: r for r in rows if r.get("run") == f"{prefix}/{market}" and r.get("variant") == variant
                and r.get("strategy") == strategy}
    if set(pick) != {"valid", "test"}:
        return None
    return {"valid ASR": pick["valid"]["ASR"], "test ASR": pick["test"]["ASR"], "test TR %": pick["test"]["TR %"]}


def main() -> None:
    rows = []
    for market in MARKETS:
        for label, table, prefix, variant in LINES:
            got = cells(table, prefix, variant, market, "MacroHFT")
            if got:
                rows.append({"market": market, "change": label, **got})
        bh = cells("real_markets", None, None, market, "buy and hold")
        if bh:
            rows.append({"market": market, "change": "buy and hold (for reference)", **bh})
    rows.append({"market": "MacroHFT, 3 seeds; each line's source table is named in benchmarks/experiments/real_ablation.py"})
    print(record("real_markets_ablation", "Real markets: the learning-quality ablation (MacroHFT, mean over 3 seeds)",
                 rows))


if __name__ == "__main__":
    main()
