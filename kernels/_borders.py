"""Border index and row helpers shared by the filtering kernels."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def reflect101(index: int, length: int) -> int:
    """Map ``index`` into ``[0, length)`` by reflect-101 (``gfedcb|abcdefgh|gfedcba``).

    Reflects repeatedly, so kernels wider than the image work; OpenCV's
    ``BORDER_REFLECT_101`` (its default) gives the same index, and 0 when ``length``
    is 1.
    """
    if length == 1:
        return 0
    while index < 0 or index >= length:
        index = -index if index < 0 else 2 * (length - 1) - index
    return index


@njit(cache=True, nogil=True, inline="always")
def copy_row(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[i] = src[i]`` for every i of ``dst`` (1-D arrays).

    An explicit loop: Numba's ``dst[:] = src`` goes through a generic broadcasting
    path that is some 40 times slower on a 1920-byte row.
    """
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@njit(cache=True, nogil=True, inline="always")
def fill_row(dst: np.ndarray, value: float) -> None:
    """``dst[i] = value`` for every i of ``dst`` (1-D), as a loop that vectorises."""
    for i in range(dst.shape[0]):
        dst[i] = value
