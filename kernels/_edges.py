"""Sobel and Scharr edge magnitude (as cv2.Sobel/Scharr + convertScaleAbs + add), overlays."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from ._borders import reflect101
from ._convert import gray_value
from ._threading import run_bands, thread_count
from ._validate import require_image, require_out, require_scratch



@njit(cache=True, nogil=True, inline="always")
def gray_row(row: np.ndarray, channels: int, padded: np.ndarray) -> None:
    """Gray of ``row`` (W * channels,) uint8 into ``padded`` (W + 2,) int16.

    ``padded[1 : W + 1]`` holds the row, ``padded[0]`` and ``padded[W + 1]`` its
    reflect-101 neighbours, so the Sobel pass needs no border branch.
    """
    width = row.shape[0] // channels
    inner = padded[1 : width + 1]
    if channels == 1:
        for x in range(width):
            inner[x] = np.int16(row[x])
    else:
        for x in range(width):
            inner[x] = np.int16(gray_value(row[3 * x], row[3 * x + 1], row[3 * x + 2]))
    padded[0] = inner[reflect101(-1, width)]
    padded[width + 1] = inner[reflect101(width, width)]


@njit(cache=True, nogil=True, inline="always")
def _gradient_loop(
    up: np.ndarray, mid: np.ndarray, down: np.ndarray, out: np.ndarray, s: np.int16,
    c: np.int16,
) -> None:
    width = out.shape[0]
    # Shifted slices keep every index non-negative, so the loop vectorises.
    up_l, up_c, up_r = up[0:width], up[1 : width + 1], up[2 : width + 2]
    mid_l, mid_r = mid[0:width], mid[2 : width + 2]
    dn_l, dn_c, dn_r = down[0:width], down[1 : width + 1], down[2 : width + 2]
    for x in range(width):
        # The np.int16(...) casts let LLVM keep 16 lanes per register.
        gx = np.int16(s * np.int16(up_r[x] + dn_r[x] - up_l[x] - dn_l[x]) + c * np.int16(mid_r[x] - mid_l[x]))
        gy = np.int16(s * np.int16(dn_l[x] + dn_r[x] - up_l[x] - up_r[x]) + c * np.int16(dn_c[x] - up_c[x]))
        # convertScaleAbs saturates each term, cv2.add saturates the sum.
        ax = np.int16(min(abs(gx), np.int16(255)))
        ay = np.int16(min(abs(gy), np.int16(255)))
        out[x] = np.uint8(min(np.int16(ax + ay), np.int16(255)))


@njit(cache=True, nogil=True, inline="always")
def gradient_row(
    up: np.ndarray, mid: np.ndarray, down: np.ndarray, out: np.ndarray, scharr: bool
) -> None:
    """Saturated ``|gx| + |gy|`` of the middle of three padded (W + 2,) int16 gray rows.

    Sobel weights (1, 2, 1), or Scharr's (3, 10, 3) when ``scharr``; every partial
    value fits int16 (at most 16 * 255).  The weights are constants in each branch:
    as run-time values they would halve the speed.
    """
    if scharr:
        _gradient_loop(up, mid, down, out, np.int16(3), np.int16(10))
    else:
        _gradient_loop(up, mid, down, out, np.int16(1), np.int16(2))


@njit(cache=True, nogil=True)
def _sobel_band(
    band: int,
    bands: int,
    scratch: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    channels: int,
    scharr: bool,
) -> None:
    """Sobel or Scharr L1 magnitude for rows of band ``band``; ``dst`` is (H, W) uint8.

    ``scratch[band]`` (viewed as int16) is a ring of three padded gray rows, so each
    gray row is computed once per band rather than three times.
    """
    height, width = dst.shape
    ring = scratch[band].view(np.int16)[: 3 * (width + 2)].reshape(3, width + 2)
    row_start = band * height // bands
    row_stop = (band + 1) * height // bands
    if row_start == row_stop:
        return
    # Slot of logical row r (-1 <= r <= H) is (r + 1) % 3.
    gray_row(src[reflect101(row_start - 1, height)], channels, ring[row_start % 3])
    gray_row(src[row_start], channels, ring[(row_start + 1) % 3])
    for y in range(row_start, row_stop):
        gray_row(src[reflect101(y + 1, height)], channels, ring[(y + 2) % 3])
        gradient_row(ring[y % 3], ring[(y + 1) % 3], ring[(y + 2) % 3], dst[y], scharr)


@njit(cache=True, nogil=True, parallel=True)
def _sobel_parallel(
    bands: int,
    scratch: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    channels: int,
    scharr: bool,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _sobel_band(band, bands, scratch, src, dst, channels, scharr)


def _gradient_edges(
    image: np.ndarray, out: np.ndarray | None, scratch: np.ndarray | None,
    scharr: bool,
) -> np.ndarray:
    image = require_image("image", image, channels=(None, 3))
    height, width = image.shape[:2]
    out = require_out(out, (height, width), np.uint8)
    if np.may_share_memory(out, image):
        raise ValueError("out must not overlap image (rows are read after being written)")
    channels = 1 if image.ndim == 2 else 3
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, 3 * (width + 2))
    run_bands(
        _sobel_band, _sobel_parallel, bands,
        rows, image.reshape(height, width * channels), out, channels, scharr,
    )
    return out


def sobel_edges(
    image: np.ndarray,
    *,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Sobel gradient magnitude ``|gx| + |gy|`` of the gray image, saturated to uint8.

    Equals, exactly, ``cv2.add(cv2.convertScaleAbs(cv2.Sobel(g, CV_16S, 1, 0)),
    cv2.convertScaleAbs(cv2.Sobel(g, CV_16S, 0, 1)))`` with ``g =
    cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)`` (3x3 kernels, reflect-101 borders).

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3) BGR or (H, W) gray, uint8, C-contiguous
        Input frame.
    out : numpy.ndarray, shape (H, W), uint8, optional, keyword-only
        Destination; must not overlap ``image``.
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        Reusable working memory: T >= the caller's Numba thread count,
        N >= ``3 * (W + 2)``.

    Returns
    -------
    numpy.ndarray, shape (H, W), uint8
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
    >>> from streamer.kernels import sobel_edges
    >>> gray = np.zeros((5, 6), np.uint8); gray[:, 3:] = 50   # a vertical step
    >>> sobel_edges(gray)[2].tolist()   # |dx| + |dy|, saturated to 255
    [0, 0, 200, 200, 0, 0]
    """
    return _gradient_edges(image, out, scratch, False)


def scharr_edges(
    image: np.ndarray,
    *,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Scharr gradient magnitude ``|gx| + |gy|`` of the gray image, saturated to uint8.

    Equals, exactly, ``cv2.add(cv2.convertScaleAbs(cv2.Scharr(g, CV_16S, 1, 0)),
    cv2.convertScaleAbs(cv2.Scharr(g, CV_16S, 0, 1)))`` with ``g`` the cv2 gray image
    (kernel ``[[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]`` and its transpose, reflect-101
    borders).  Scharr responds about 5x more strongly than Sobel (weights sum 16, not
    4), so thresholds on its map are higher.  Arguments, errors and ``scratch`` as in
    :func:`sobel_edges`.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import scharr_edges
    >>> gray = np.zeros((5, 6), np.uint8); gray[:, 3:] = 10
    >>> scharr_edges(gray)[2].tolist()
    [0, 0, 160, 160, 0, 0]
    """
    return _gradient_edges(image, out, scratch, True)


@njit(cache=True, nogil=True)
def _overlay_band(
    band: int,
    bands: int,
    src: np.ndarray,
    edges: np.ndarray,
    dst: np.ndarray,
    threshold: int,
    color: tuple[float, float, float],
    alpha: float,
) -> None:
    """Blend ``color`` into rows of band ``band`` where ``edges >= threshold``."""
    height, width = edges.shape
    keep = np.float32(1.0 - alpha)
    c0 = np.float32(color[0] * alpha) + np.float32(0.5)
    c1 = np.float32(color[1] * alpha) + np.float32(0.5)
    c2 = np.float32(color[2] * alpha) + np.float32(0.5)
    for y in range(band * height // bands, (band + 1) * height // bands):
        row = src[y]
        mask = edges[y]
        out = dst[y]
        for x in range(width):
            on = mask[x] >= threshold
            # Both branches computed, then selected: no data-dependent jump, vectorises.
            v0 = row[3 * x]
            v1 = row[3 * x + 1]
            v2 = row[3 * x + 2]
            b0 = np.uint8(np.int32(np.float32(v0) * keep + c0))
            b1 = np.uint8(np.int32(np.float32(v1) * keep + c1))
            b2 = np.uint8(np.int32(np.float32(v2) * keep + c2))
            out[3 * x] = b0 if on else v0
            out[3 * x + 1] = b1 if on else v1
            out[3 * x + 2] = b2 if on else v2


@njit(cache=True, nogil=True, parallel=True)
def _overlay_parallel(
    bands: int,
    src: np.ndarray,
    edges: np.ndarray,
    dst: np.ndarray,
    threshold: int,
    color: tuple[float, float, float],
    alpha: float,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _overlay_band(band, bands, src, edges, dst, threshold, color, alpha)


def edge_overlay(
    image: np.ndarray,
    edges: np.ndarray,
    *,
    threshold: int = 64,
    color: Sequence[int] = (0, 255, 0),
    alpha: float = 0.6,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Paint ``color`` over ``image`` where ``edges >= threshold``.

    There: ``out = round(image * (1 - alpha) + color * alpha)`` (float32, rounded
    half up); elsewhere ``out = image``.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
        BGR frame.
    edges : numpy.ndarray, shape (H, W), uint8, C-contiguous
        Edge strength, e.g. from :func:`sobel_edges`.
    threshold : int, keyword-only
        Minimum edge value painted, 0..256 (256 paints nothing, 0 everything).
    color : sequence of 3 int, keyword-only
        BGR colour, each 0..255.
    alpha : float, keyword-only
        Opacity in [0, 1].
    out : numpy.ndarray, shape (H, W, 3), uint8, optional, keyword-only
        Destination; may be ``image`` itself.

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8
        ``out`` if given.

    Raises
    ------
    TypeError
        If an array is not uint8.
    ValueError
        If shapes disagree or an option is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import edge_overlay
    >>> image = np.zeros((1, 2, 3), np.uint8)
    >>> edges = np.array([[0, 255]], np.uint8)   # only the second pixel is an edge
    >>> edge_overlay(image, edges, alpha=1.0).tolist()
    [[[0, 0, 0], [0, 255, 0]]]
    """
    image = require_image("image", image, channels=(3,))
    edges = require_image("edges", edges, channels=(None,))
    if edges.shape != image.shape[:2]:
        raise ValueError(
            f"edges must have shape {image.shape[:2]} (the image's H, W), got {edges.shape}"
        )
    if not 0 <= threshold <= 256:
        raise ValueError(f"threshold must be in [0, 256], got {threshold!r}")
    if len(color) != 3 or not all(0 <= c <= 255 for c in color):
        raise ValueError(f"color must be three values in [0, 255], got {color!r}")
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    out = require_out(out, image.shape, np.uint8)
    height, width = edges.shape
    bands = thread_count(height)
    run_bands(
        _overlay_band, _overlay_parallel, bands,
        image.reshape(height, 3 * width), edges, out.reshape(height, 3 * width),
        int(threshold), tuple(float(c) for c in color), float(alpha),
    )
    return out
