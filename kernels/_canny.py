"""Canny edge detector with hysteresis, equal to cv2.Canny on the gray image."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._borders import fill_row
from ._edges import gray_row
from ._threading import launch_parallel, thread_count
from ._validate import require_image, require_out, require_scratch

# tan(22.5 degrees) in 15-bit fixed point, as cv2 (CANNY_SHIFT = 15).
_TG22 = 13573


@njit(cache=True, nogil=True, inline="always")
def _gray_row(src: np.ndarray, y: int, channels: int, padded: np.ndarray) -> None:
    """Gray row ``y`` (clamped: cv2.Canny's Sobel replicates borders) into ``padded``
    (W + 2,) int16 with one replicated pixel on each side."""
    gray_row(src[min(max(y, 0), src.shape[0] - 1)], channels, padded)
    width = padded.shape[0] - 2
    padded[0] = padded[1]
    padded[width + 1] = padded[width]


@njit(cache=True, nogil=True, inline="always")
def _gradient_row(
    up: np.ndarray, mid: np.ndarray, down: np.ndarray, dx: np.ndarray, dy: np.ndarray,
    mag: np.ndarray,
) -> None:
    """3x3 Sobel ``dx``, ``dy`` (W,) int16 and L1 magnitude into ``mag[1 : W + 1]``
    (``mag`` is (W + 2,) int16 with zero ends, as cv2 pads magnitudes)."""
    width = dx.shape[0]
    up_l, up_c, up_r = up[0:width], up[1 : width + 1], up[2 : width + 2]
    mid_l, mid_r = mid[0:width], mid[2 : width + 2]
    dn_l, dn_c, dn_r = down[0:width], down[1 : width + 1], down[2 : width + 2]
    inner = mag[1 : width + 1]
    for x in range(width):
        gx = np.int16((up_r[x] + 2 * mid_r[x] + dn_r[x]) - (up_l[x] + 2 * mid_l[x] + dn_l[x]))
        gy = np.int16((dn_l[x] + 2 * dn_c[x] + dn_r[x]) - (up_l[x] + 2 * up_c[x] + up_r[x]))
        dx[x] = gx
        dy[x] = gy
        inner[x] = np.int16(abs(gx) + abs(gy))
    mag[0] = 0
    mag[width + 1] = 0


@njit(cache=True, nogil=True, inline="always")
def _suppress_row(
    up: np.ndarray, mid: np.ndarray, down: np.ndarray, dx: np.ndarray, dy: np.ndarray,
    low: int, high: int, out: np.ndarray,
) -> None:
    """Non-maximum suppression of one row, branch-free, with cv2's exact comparisons.

    ``out[x]`` becomes 2 (strong edge: local maximum above ``high``), 0 (weak: local
    maximum above ``low`` only) or 1 (not an edge).  ``up``/``mid``/``down`` are padded
    (W + 2,) magnitudes of the rows above, at and below.
    """
    width = out.shape[0]
    m_c = mid[1 : width + 1]
    m_l = mid[0:width]
    m_r = mid[2 : width + 2]
    u_l, u_c, u_r = up[0:width], up[1 : width + 1], up[2 : width + 2]
    d_l, d_c, d_r = down[0:width], down[1 : width + 1], down[2 : width + 2]
    for x in range(width):
        m = np.int32(m_c[x])
        xs = np.int32(dx[x])
        ys = np.int32(dy[x])
        ax = abs(xs)
        ay = abs(ys) << 15
        tg22x = ax * _TG22
        tg67x = tg22x + (ax << 16)
        # Every neighbour is loaded unconditionally and then selected: a load inside a
        # branch keeps LLVM from vectorising the loop.
        ul = np.int32(u_l[x])
        uc = np.int32(u_c[x])
        ur = np.int32(u_r[x])
        dl = np.int32(d_l[x])
        dc = np.int32(d_c[x])
        dr = np.int32(d_r[x])
        horizontal = (m > np.int32(m_l[x])) & (m >= np.int32(m_r[x]))
        vertical = (m > uc) & (m >= dc)
        # Gradients of opposite signs: the maximum runs up-right / down-left.
        opposite = (xs ^ ys) < 0
        diagonal = (m > (ur if opposite else ul)) & (m > (dl if opposite else dr))
        peak = horizontal if ay < tg22x else (vertical if ay > tg67x else diagonal)
        strong = np.uint8(2) if m > high else np.uint8(0)
        out[x] = strong if (peak & (m > low)) else np.uint8(1)


@njit(cache=True, nogil=True)
def _canny_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int, low: int, high: int, stack: np.ndarray, seeds: np.ndarray,
) -> None:
    """Rows of band ``band``: gradients, suppression into ``dst`` (0/1/2), and the
    strong pixels' flat indices into ``stack[row_start * W :]`` (count in
    ``seeds[band]``)."""
    height, width = dst.shape
    buffer = scratch[band]
    padded = width + 2
    half = (3 * padded + 1) // 2
    grays = buffer[:half].view(np.int16)[: 3 * padded].reshape(3, padded)
    mags = buffer[half : 2 * half].view(np.int16)[: 3 * padded].reshape(3, padded)
    at = 2 * half
    grads = buffer[at : at + 3 * width].view(np.int16)[: 6 * width].reshape(3, 2, width)
    row_start = band * height // bands
    row_stop = (band + 1) * height // bands
    count = 0
    if row_start < row_stop:
        # Magnitude rows outside the image are 0, as in cv2; slot of row r is r % 3.
        for r in (row_start - 1, row_start):
            for k in (r - 1, r, r + 1):
                _gray_row(src, k, channels, grays[k % 3])
            if 0 <= r < height:
                _gradient_row(grays[(r - 1) % 3], grays[r % 3], grays[(r + 1) % 3],
                              grads[r % 3, 0], grads[r % 3, 1], mags[r % 3])
            else:
                fill_row(mags[r % 3], 0)
        for y in range(row_start, row_stop):
            r = y + 1
            if r < height:
                _gray_row(src, r + 1, channels, grays[(r + 1) % 3])
                _gradient_row(grays[(r - 1) % 3], grays[r % 3], grays[(r + 1) % 3],
                              grads[r % 3, 0], grads[r % 3, 1], mags[r % 3])
            else:
                fill_row(mags[r % 3], 0)
            out = dst[y]
            _suppress_row(mags[(y - 1) % 3], mags[y % 3], mags[(y + 1) % 3],
                          grads[y % 3, 0], grads[y % 3, 1], low, high, out)
            base = y * width
            offset = row_start * width
            for x in range(width):
                if out[x] == 2:
                    stack[offset + count] = base + x
                    count += 1
    seeds[band] = count


@njit(cache=True, nogil=True, parallel=True)
def _canny_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, channels: int,
    low: int, high: int, stack: np.ndarray, seeds: np.ndarray,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _canny_band(band, bands, scratch, src, dst, channels, low, high, stack, seeds)


@njit(cache=True, nogil=True)
def _hysteresis(dst: np.ndarray, stack: np.ndarray, seeds: np.ndarray, bands: int) -> None:
    """Grow strong edges (2) through 8-connected weak pixels (0); then 2 -> 255, else 0."""
    height, width = dst.shape
    flat = dst.reshape(height * width)
    top = 0
    for band in range(bands):
        start = (band * height // bands) * width
        for i in range(seeds[band]):
            stack[top] = stack[start + i]
            top += 1
    while top > 0:
        top -= 1
        p = stack[top]
        y = p // width
        x = p - y * width
        for ny in range(max(y - 1, 0), min(y + 2, height)):
            for nx in range(max(x - 1, 0), min(x + 2, width)):
                q = ny * width + nx
                if flat[q] == 0:
                    flat[q] = 2
                    stack[top] = q
                    top += 1
    for i in range(flat.shape[0]):
        flat[i] = np.uint8(255) if flat[i] == 2 else np.uint8(0)


def canny_scratch_length(width: int) -> int:
    """Float32 elements per band that :func:`canny_edges` needs."""
    return 2 * ((3 * (width + 2) + 1) // 2) + 3 * width


def canny_edges(
    image: np.ndarray,
    *,
    low: float = 50.0,
    high: float = 150.0,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
    stack: np.ndarray | None = None,
) -> np.ndarray:
    """Canny edges (255 on edges, else 0), equal to ``cv2.Canny(gray, low, high)``.

    ``gray`` is ``cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)`` for a BGR frame (cv2.Canny
    on a colour image would instead take the strongest channel's gradient).  As cv2
    with its defaults: 3x3 Sobel gradients with replicated borders, L1 magnitude
    ``|gx| + |gy|``, non-maximum suppression along the gradient direction quantised to
    0/45/90/135 degrees, then hysteresis: pixels above ``high`` are edges and so is
    every 8-connected chain of local maxima above ``low`` touching one.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3) BGR or (H, W) gray, uint8, C-contiguous
    low, high : float, keyword-only
        Hysteresis thresholds on the L1 magnitude (0 to 2040); swapped if low > high,
        and floored, as cv2 does.
    out : numpy.ndarray, shape (H, W), uint8, optional, keyword-only
        Destination; must not overlap ``image``.
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        T >= the caller's Numba thread count, N >= :func:`canny_scratch_length`.
    stack : numpy.ndarray, shape (H * W,), int32, optional, keyword-only
        Work memory for the hysteresis; None allocates it (untouched pages cost
        nothing).

    Returns
    -------
    numpy.ndarray, shape (H, W), uint8
        ``out`` if given.

    Raises
    ------
    TypeError, ValueError
        On a wrong dtype, shape or layout, non-finite thresholds, or ``out``
        overlapping ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import canny_edges
    >>> gray = np.zeros((8, 8), np.uint8); gray[:, 4:] = 200   # a vertical step
    >>> edges = canny_edges(gray)
    >>> edges.dtype, sorted(np.unique(edges).tolist()), bool(edges[:, :3].any())
    (dtype('uint8'), [0, 255], False)
    """
    image = require_image("image", image, channels=(None, 3))
    for name, value in (("low", low), ("high", high)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if low > high:
        low, high = high, low
    height, width = image.shape[:2]
    out = require_out(out, (height, width), np.uint8)
    if np.may_share_memory(out, image):
        raise ValueError("out must not overlap image (rows are read after being written)")
    stack = require_out(stack, (height * width,), np.int32, name="stack")
    channels = 1 if image.ndim == 2 else 3
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, canny_scratch_length(width))
    seeds = np.zeros(bands, np.int64)
    args = (rows, image.reshape(height, width * channels), out, channels,
            math.floor(low), math.floor(high), stack, seeds)
    if bands == 1:
        _canny_band(0, 1, *args)
    else:
        launch_parallel(_canny_parallel, bands, *args)
    _hysteresis(out, stack, seeds, bands)
    return out
