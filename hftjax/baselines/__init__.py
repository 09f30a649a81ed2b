"""Baselines MacroHFT is compared with, each run through the same env accounting, fee, position
size and metrics: rule strategies here (``macd``, ``momentum``, and the ``ridge`` model that
``hftjax bench lab`` fits); buy-and-hold is ``hftjax.metrics.buy_and_hold_rewards``."""
