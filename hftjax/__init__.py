"""hftjax: MacroHFT as pure, accelerated JAX functions."""

__version__ = "0.1.0"
