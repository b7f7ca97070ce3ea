"""3x3 median filter (replicated borders, like cv2.medianBlur)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._threading import run_bands, thread_count
from ._validate import require_image, require_out, require_scratch


@njit(cache=True, nogil=True, inline="always")
def _median3(a: np.uint8, b: np.uint8, c: np.uint8) -> np.uint8:
    """Median of three with min/max only (no branch, vectorises)."""
    return max(min(a, b), min(max(a, b), c))


@njit(cache=True, nogil=True, inline="always")
def _median_row(
    low: np.ndarray, middle: np.ndarray, high: np.ndarray, out: np.ndarray, c: int
) -> None:
    """Finish one output row from its column-sorted rows, padded by ``c`` on each side.

    Pads by replication, then takes ``med3(max3(low), med3(middle), min3(high))`` over
    the three columns: the classic 19-comparison median-of-9 network.
    """
    n = out.shape[0]
    for k in range(c):
        low[k] = low[c + k]
        middle[k] = middle[c + k]
        high[k] = high[c + k]
        low[c + n + k] = low[n + k]
        middle[c + n + k] = middle[n + k]
        high[c + n + k] = high[n + k]
    lo_l, lo_c, lo_r = low[:n], low[c : c + n], low[2 * c : 2 * c + n]
    mi_l, mi_c, mi_r = middle[:n], middle[c : c + n], middle[2 * c : 2 * c + n]
    hi_l, hi_c, hi_r = high[:n], high[c : c + n], high[2 * c : 2 * c + n]
    for i in range(n):
        out[i] = _median3(
            max(max(lo_l[i], lo_c[i]), lo_r[i]),
            _median3(mi_l[i], mi_c[i], mi_r[i]),
            min(min(hi_l[i], hi_c[i]), hi_r[i]),
        )


@njit(cache=True, nogil=True)
def _median_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int,
) -> None:
    """Rows of band ``band``; ``src``/``dst`` are (H, W * C) uint8.

    Each output row first sorts its three source rows element-wise into ``low``,
    ``middle`` and ``high``, then :func:`_median_row` finishes it.  Everything is
    uint8 min/max, 32 lanes per AVX2 register.
    """
    height, row_len = src.shape
    padded = row_len + 2 * channels
    buffer = scratch[band].view(np.uint8)
    low = buffer[:padded]
    middle = buffer[padded : 2 * padded]
    high = buffer[2 * padded : 3 * padded]
    low_in = low[channels : channels + row_len]
    mid_in = middle[channels : channels + row_len]
    high_in = high[channels : channels + row_len]
    for y in range(band * height // bands, (band + 1) * height // bands):
        above = src[max(y - 1, 0)]
        row = src[y]
        below = src[min(y + 1, height - 1)]
        for i in range(row_len):
            a = above[i]
            b = row[i]
            d = below[i]
            low_in[i] = min(min(a, b), d)
            mid_in[i] = _median3(a, b, d)
            high_in[i] = max(max(a, b), d)
        _median_row(low, middle, high, dst[y], channels)


@njit(cache=True, nogil=True, parallel=True)
def _median_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, channels: int
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _median_band(band, bands, scratch, src, dst, channels)


def median_scratch_length(width: int, channels: int) -> int:
    """Float32 elements per band that :func:`median_blur` needs: three padded uint8 rows."""
    return (3 * (width + 2) * channels + 3) // 4


def median_blur(
    image: np.ndarray,
    *,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """3x3 median of each channel, equal to ``cv2.medianBlur(image, 3)``.

    Borders replicate the edge pixel (``aaa|abcd|ddd``), which is what cv2.medianBlur
    does (it offers no other border); the other filters here use reflect-101.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W) or (H, W, C), uint8, C-contiguous
        Any channel count (BGR frames have C = 3).
    out : numpy.ndarray, same shape as ``image``, uint8, optional, keyword-only
        Destination; must not overlap ``image``.
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        Reusable working memory: T >= the caller's Numba thread count, N >=
        ``ceil(3 * (W + 2) * C / 4)`` (:func:`median_scratch_length`).

    Returns
    -------
    numpy.ndarray, same shape as ``image``, uint8
        ``out`` if given.

    Raises
    ------
    TypeError
        If ``image`` or ``out`` is not uint8.
    ValueError
        If shapes or layouts are wrong or ``out`` overlaps ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import median_blur
    >>> gray = np.full((3, 3), 10, np.uint8); gray[1, 1] = 255   # salt
    >>> int(median_blur(gray)[1, 1])
    10
    """
    image = require_image("image", image, channels=(None, 1, 2, 3, 4))
    out = require_out(out, image.shape, np.uint8)
    if np.may_share_memory(out, image):
        raise ValueError("out must not overlap image (rows are read after being written)")
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, median_scratch_length(width, channels))
    run_bands(
        _median_band, _median_parallel, bands,
        rows, image.reshape(height, width * channels), out.reshape(height, width * channels),
        channels,
    )
    return out
