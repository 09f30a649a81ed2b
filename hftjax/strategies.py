"""Every strategy an evaluation can report, in the report's order: the one list that evaluation,
``report.md``, ``compare`` and the CLI summary read, and that names the learned baselines a run
config may train (``baselines.algorithms``)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Strategy:
    key: str    # its entry in metrics.json
    label: str  # its row in every table
    kind: str   # macrohft, mix (of the sub-agents), rule, learned (a trained baseline) or bound (not a result)


REGISTRY = (
    Strategy("macrohft", "MacroHFT", "macrohft"),
    Strategy("equal_weight_mix", "equal-weight mix", "mix"),
    Strategy("best_single_subagent", "best single sub-agent (chosen on valid)", "mix"),
    Strategy("buy_and_hold", "buy and hold", "rule"),
    Strategy("macd", "MACD 12/26/9", "rule"),
    Strategy("iv", "IV (imbalance volume)", "rule"),
    Strategy("dqn", "DQN", "learned"),
    Strategy("ddqn", "DDQN", "learned"),
    Strategy("cdqnrp", "CDQNRP", "learned"),
    Strategy("ppo", "PPO", "learned"),
    Strategy("oracle_single_subagent", "oracle single sub-agent (bound, chosen on this split)", "bound"),
)
LEARNED = tuple(s.key for s in REGISTRY if s.kind == "learned")  # in this order: it seeds their RNG streams


def strategies(metrics: dict) -> list[tuple[str, str]]:
    """(key, label) of the registered strategies ``metrics`` holds, in the report's order."""
    return [(s.key, s.label) for s in REGISTRY if s.key in metrics]
