"""hftjax: MacroHFT as pure, accelerated JAX functions."""

__version__ = "0.1.0"

from hftjax import cpu_lowering  # noqa: E402,F401  (straight-line random numbers on the CPU)
