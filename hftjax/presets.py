"""Named run configurations (``hftjax run --preset NAME``): each is a partial ``RunConfig``
(``hftjax.run_config``), sections of option values over the defaults.

- ``demo``: the embedded synthetic market at a size that finishes on a 2-core CPU in a few
  minutes (shorter chunks, fewer epochs): the README's main job, and what ``hftjax run --data``
  uses on real files. It carries the learning fixes chosen on the validation split
  (``benchmarks/RESULTS.md``, ablations): features z-scored with training statistics
  (``data.normalize``), and a hyper-agent learning rate of 1e-3 over 6 epochs (the reference's
  1e-4 left its zero-initialised mixing layer near the equal-weight mix).
- ``smoke``: tiny, for tests, with the demo's learning fixes.
- ``paper-eth``, ``paper-btc``, ``paper-dot``, ``paper-ltc``: the reference's settings per
  market (docs/method.md s.1, 4, 5): the paper's date splits, max_holding (BTC 0.01, ETH 0.2,
  DOT 10, LTC 10 coins), chunk length (3 days; 360 minutes for BTC, as in the paper), the
  reference's per-agent alphas and beta (1 for DOT). They need the market's real 1-minute data
  with a 5-level book (``--data FILE...``); a GPU job. They keep the reference's behaviour
  (raw features, hyper-agent lr 1e-4), the library defaults.
"""

from __future__ import annotations

from hftjax.env.params import MAX_HOLDING
from hftjax.prepare import CHUNK_LEN

_PAPER_SPLITS = {
    "BTC": ("train=2022-03-05:2023-02-23", "valid=2023-03-18:2023-06-16", "test=2023-06-22:2023-10-16"),
    "ETH": ("train=2022-02-01:2023-02-01", "valid=2023-02-01:2023-06-01", "test=2023-06-01:2023-11-01"),
}


def _paper(market: str, chunk_len: int = CHUNK_LEN, beta: float | None = None) -> dict:
    """``beta``: the KL weight where the reference's differs from ``HyperConfig``'s default."""
    return {"data": {"chunk_len": chunk_len, "features": "lob", "splits": _PAPER_SPLITS.get(market, _PAPER_SPLITS["ETH"]),
                     "require_inputs": True},
            "env": {"max_holding": MAX_HOLDING[market]},
            "subagents": {"alpha": None},
            "hyper": {} if beta is None else {"beta": beta}}


LEARNING_FIXES = {"data": {"normalize": "zscore"}, "hyper": {"lr": 1e-3}}  # chosen on validation


def _with_fixes(preset: dict) -> dict:
    return {s: {**LEARNING_FIXES.get(s, {}), **preset.get(s, {})} for s in {*preset, *LEARNING_FIXES}}


PRESETS: dict[str, dict] = {
    "demo": _with_fixes({"data": {"synthetic_rows": 60_000, "chunk_len": 720},
                         "subagents": {"epochs": 3, "epsilon_decay_epochs": 2, "batch_size": 256},
                         "hyper": {"epochs": 6, "epsilon_decay_epochs": 5, "batch_size": 256}}),
    "smoke": _with_fixes({"data": {"synthetic_rows": 12_000, "chunk_len": 240},
                          "subagents": {"epochs": 1, "hidden": 16, "batch_size": 64, "buffer_size": 20_000,
                                        "learning_starts": 100},
                          "baselines": {"hidden": 16},
                          "hyper": {"epochs": 1, "hidden": 8, "batch_size": 64, "buffer_size": 20_000,
                                    "memory_capacity": 512}}),
    "paper-eth": _paper("ETH"),
    "paper-btc": _paper("BTC", chunk_len=360),
    "paper-dot": _paper("DOT", beta=1.0),
    "paper-ltc": _paper("LTC"),
}
