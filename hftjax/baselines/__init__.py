"""Baselines MacroHFT is compared with, each run through the same env accounting, fee, position
size and metrics: rule strategies here (``macd``); buy-and-hold is ``hftjax.metrics.buy_and_hold_rewards``."""
