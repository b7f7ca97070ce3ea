"""Erosion, dilation, opening and closing with a square window, in one streaming pass."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._borders import copy_row
from ._threading import run_bands, thread_count
from ._validate import require_choice, require_image, require_out, require_scratch

_OPS = ("erode", "dilate", "open", "close")


@njit(cache=True, nogil=True, inline="always")
def _extreme3(
    out: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, maximum: bool
) -> None:
    """``out = max(a, b, c)`` (or min) element-wise, in one vectorised sweep."""
    if maximum:
        for x in range(out.shape[0]):
            out[x] = max(max(a[x], b[x]), c[x])
    else:
        for x in range(out.shape[0]):
            out[x] = min(min(a[x], b[x]), c[x])


@njit(cache=True, nogil=True, inline="always")
def _extreme_rows(
    rows: np.ndarray, first: int, count: int, clamp: int, maximum: bool, out: np.ndarray
) -> None:
    """``out`` = element-wise max (or min) of ``rows[min(max(first + k, 0), clamp)]``
    for k in ``[0, count)``, ``count`` odd; three rows per sweep."""
    a = rows[min(max(first, 0), clamp)]
    copy_row(out, a)
    for k in range(1, count, 2):
        b = rows[min(max(first + k, 0), clamp)]
        c = rows[min(max(first + k + 1, 0), clamp)]
        _extreme3(out, out, b, c, maximum)


@njit(cache=True, nogil=True, inline="always")
def _extreme_across(padded: np.ndarray, radius: int, maximum: bool, out: np.ndarray) -> None:
    """Horizontal pass: ``out[x]`` = max (or min) of ``padded[x : x + 2 r + 1]``, where
    ``padded`` holds the row at ``[r : r + W]``; fills its replicated margins first."""
    width = out.shape[0]
    for j in range(radius):
        padded[j] = padded[radius]
        padded[radius + width + j] = padded[radius + width - 1]
    _extreme3(out, padded[:width], padded[1 : 1 + width], padded[2 : 2 + width], maximum)
    for k in range(3, 2 * radius + 1, 2):
        _extreme3(out, out, padded[k : k + width], padded[k + 1 : k + 1 + width], maximum)


@njit(cache=True, nogil=True, inline="always")
def _extreme_row(
    src: np.ndarray, y: int, radius: int, maximum: bool, padded: np.ndarray, out: np.ndarray
) -> None:
    """Row ``y`` of the min (or max) filter of ``src`` over a (2r+1)^2 window.

    ``src`` is (H, W) uint8; rows and columns outside the image are ignored, which for
    a min or max equals replicating the edge.  ``padded`` is a (W + 2r,) uint8 work
    row; ``out`` (W,) receives the result.  ``radius`` >= 1.
    """
    height, width = src.shape
    _extreme_rows(src, y - radius, 2 * radius + 1, height - 1, maximum,
                  padded[radius : radius + width])
    _extreme_across(padded, radius, maximum, out)


@njit(cache=True, nogil=True)
def _morph_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    radius: int, first_max: bool, second: int,
) -> None:
    """Rows of band ``band`` of ``dst`` (H, W) uint8.

    ``second`` is -1 for a single operation (min, or max when ``first_max``), else a
    second operation follows (0 = min, 1 = max) on the intermediate rows, which are
    kept in a ring of ``2 r + 1`` rows in ``scratch[band]``: opening and closing take
    one pass and no frame-sized buffer.
    """
    height, width = src.shape
    window = 2 * radius + 1
    buffer = scratch[band].view(np.uint8)
    padded = buffer[: width + 2 * radius]
    at = width + 2 * radius
    ring = buffer[at : at + window * width].reshape(window, width)
    row_start = band * height // bands
    row_stop = (band + 1) * height // bands
    if second < 0:
        for y in range(row_start, row_stop):
            _extreme_row(src, y, radius, first_max, padded, dst[y])
        return
    if row_start == row_stop:
        return
    # Intermediate rows outside the image are ignored too: clamp to the nearest one.
    for r in range(row_start - radius, row_start + radius):
        _extreme_row(src, min(max(r, 0), height - 1), radius, first_max, padded,
                     ring[r % window])
    for y in range(row_start, row_stop):
        r = y + radius
        _extreme_row(src, min(r, height - 1), radius, first_max, padded, ring[r % window])
        # Second operation over intermediate rows y - r .. y + r (slots row % window).
        inner = padded[radius : radius + width]
        copy_row(inner, ring[(y - radius) % window])
        for k in range(1 - radius, radius + 1, 2):
            _extreme3(inner, inner, ring[(y + k) % window], ring[(y + k + 1) % window],
                      second == 1)
        _extreme_across(padded, radius, second == 1, dst[y])


@njit(cache=True, nogil=True, parallel=True)
def _morph_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, radius: int,
    first_max: bool, second: int,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _morph_band(band, bands, scratch, src, dst, radius, first_max, second)


def morphology_scratch_length(width: int, ksize: int) -> int:
    """Float32 elements per band that :func:`morphology` needs."""
    radius = ksize // 2
    return (width + 2 * radius + (2 * radius + 1) * width + 3) // 4


def morphology(
    image: np.ndarray,
    *,
    op: str = "open",
    ksize: int = 3,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Gray-level morphology with a ``ksize x ksize`` square, as ``cv2.erode``,
    ``cv2.dilate`` and ``cv2.morphologyEx(MORPH_OPEN / MORPH_CLOSE)`` with
    ``numpy.ones((ksize, ksize))``, exactly.

    Erosion is the window minimum, dilation the maximum; opening erodes then dilates
    (removes specks smaller than the window), closing dilates then erodes (fills
    holes).  Pixels outside the image are ignored, as cv2's default border does
    (equivalently, edges are replicated).  On a 0/255 mask this is binary morphology.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W), uint8, C-contiguous
        Mask or gray image.
    op : {"open", "close", "erode", "dilate"}, keyword-only
    ksize : int, keyword-only
        Odd window size, 1 to 31.
    out : numpy.ndarray, shape (H, W), uint8, optional, keyword-only
        Destination; must not overlap ``image``.
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        T >= the caller's Numba thread count, N >= :func:`morphology_scratch_length`.

    Returns
    -------
    numpy.ndarray, shape (H, W), uint8
        ``out`` if given.

    Raises
    ------
    TypeError
        If an array is not uint8 or ``ksize`` is not an int.
    ValueError
        On a wrong shape, layout or option, or ``out`` overlapping ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import morphology
    >>> mask = np.zeros((5, 5), np.uint8); mask[2, 2] = 255   # one speck of noise
    >>> int(morphology(mask, op="open", ksize=3).max())   # opening removes it
    0
    """
    image = require_image("image", image, channels=(None,))
    op = require_choice("op", op, _OPS)
    if isinstance(ksize, bool) or not isinstance(ksize, (int, np.integer)):
        raise TypeError(f"ksize must be an odd int in [1, 31], got {ksize!r}")
    if not (1 <= ksize <= 31 and ksize % 2 == 1):
        raise ValueError(f"ksize must be an odd int in [1, 31], got {ksize}")
    out = require_out(out, image.shape, np.uint8)
    if np.may_share_memory(out, image):
        raise ValueError("out must not overlap image (rows are read after being written)")
    height, width = image.shape
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, morphology_scratch_length(width, int(ksize)))
    if ksize == 1:
        np.copyto(out, image)  # a 1x1 window changes nothing
        return out
    first_max = op in ("dilate", "close")
    second = -1 if op in ("erode", "dilate") else (1 if op == "open" else 0)
    run_bands(_morph_band, _morph_parallel, bands, rows, image, out, int(ksize) // 2,
              first_max, second)
    return out
