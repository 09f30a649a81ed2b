"""Bridges to other implementations, outside the core path: the reference's released PyTorch
checkpoints (``hftjax.interop.reference``), read without torch."""
