"""Border index helpers shared by the filtering kernels."""

from __future__ import annotations

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
