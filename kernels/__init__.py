"""Numba image kernels (installed as ``streamer.kernels``; depends only on numpy and numba)."""

from . import _threading  # noqa: F401  (selects the threading layer before any kernel runs)
from ._preprocess import preprocess

__all__ = ["preprocess"]
