"""Straight-line random numbers on the CPU.

JAX lowers its threefry generator to a rolled loop of five iterations on the CPU (to compile
faster) and unrolled everywhere else. Under a ``vmap`` of members every random draw of the
collection step becomes a 5-iteration XLA while loop of tiny thunks whose loop-carried copies and
control flow cost more than the hashing itself (``benchmarks/throughput/epoch_profile.py``). The unrolled
form computes the same bits (``tests/test_cpu_lowering.py``), so hftjax registers it for the CPU
when imported. Should JAX move these internals, hftjax keeps JAX's own lowering.
"""

from __future__ import annotations

try:  # JAX internals: the primitive and its two lowerings (jax 0.10)
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as _threefry
    _RULES = {"rolled": _threefry._threefry2x32_cpu_lowering_rule, "unrolled": _threefry._threefry2x32_lowering_rule}
except (ImportError, AttributeError):
    _RULES = None


def threefry_on_cpu(form: str) -> bool:
    """Lower threefry on the CPU ``"unrolled"`` (hftjax's choice) or ``"rolled"`` (JAX's default);
    compiled functions keep the form they were compiled with. False when this JAX has no such
    internals (its default stays)."""
    if _RULES is None:
        return False
    mlir.register_lowering(_threefry.threefry2x32_p, _RULES[form], platform="cpu")
    return True


threefry_on_cpu("unrolled")
