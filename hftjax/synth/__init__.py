"""A seeded synthetic 1-minute crypto market with a 5-level book: the project's embedded default data.

Bull/flat/bear crossed with calm/volatile regimes switch over days; returns are fat-tailed with
clustered volatility; OHLC, volume and the book follow. See ``docs/synthetic_calibration.md``.
"""

from hftjax.data.table import BOOK_LEVELS
from hftjax.synth.market import SynthMarket, generate, synth_settings, write_market
from hftjax.synth.params import SynthParams
from hftjax.synth.regimes import TREND_NAMES, VOL_NAMES

__all__ = ["BOOK_LEVELS", "SynthMarket", "SynthParams", "TREND_NAMES", "VOL_NAMES", "generate", "synth_settings", "write_market"]
