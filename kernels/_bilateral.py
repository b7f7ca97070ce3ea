"""Bilateral filter (edge-preserving smoothing), as cv2.bilateralFilter, reflect-101 borders."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from ._borders import copy_row, fill_row, reflect101
from ._threading import run_bands, thread_count
from ._validate import require_image, require_out, require_scratch


def bilateral_radius(d: int, sigma_space: float) -> int:
    """Window radius cv2 uses: ``d // 2``, or ``round(1.5 * sigma_space)`` when d <= 0."""
    radius = d // 2 if d > 0 else int(np.rint(sigma_space * 1.5))
    return max(radius, 1)


@intrinsic
def _float_from_bits(typingctx, bits):  # type: ignore[no-untyped-def]
    """Reinterpret an int32 as the float32 with the same bits (vectorises, unlike a view)."""
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return types.float32(types.int32), codegen


# 2**f on [0, 1] to 3.7e-6 relative error (least squares on Chebyshev nodes).
_P0, _P1, _P2 = np.float32(1.0000036), np.float32(0.69296956), np.float32(0.24162132)
_P3, _P4 = np.float32(0.05171774), np.float32(0.01368398)
_LOG2E = 1.4426950408889634


@njit(cache=True, nogil=True, inline="always")
def _exp2_neg(t: np.float32) -> np.float32:
    """``2**t`` for t <= 0 in float32 arithmetic that LLVM vectorises; 0 below 2**-100.

    ``t`` splits into ``floor(t) + f``: a degree-4 polynomial gives ``2**f`` (relative
    error 3.7e-6) and the integer part goes straight into the exponent bits.  Results
    below 2**-100 become exactly 0, so that no weight or product of one is ever a
    denormal (denormal arithmetic is ~100 times slower).
    """
    n = np.floor(t)
    f = t - n
    poly = _P0 + f * (_P1 + f * (_P2 + f * (_P3 + f * _P4)))
    # For t < -100 the exponent bits are garbage, but the value is then discarded.
    scale = _float_from_bits(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))
    return poly * scale if t > np.float32(-100.0) else np.float32(0.0)


@njit(cache=True, nogil=True)
def _tables(
    radius: int, sigma_space: float, taps: np.ndarray, space: np.ndarray
) -> int:
    """Fill the window's taps and their spatial weights as cv2 does; return the count.

    ``taps`` (K, 2) int32 gets (dy, dx) of every offset with ``dy**2 + dx**2 <=
    radius**2`` except the centre, in cv2's order, and ``space`` (K,) the base-2
    logarithm of their weights, ``-r**2 / (2 sigma_space**2) * log2(e)``, so that one
    exponential per tap and pixel gives the product of both weights.
    """
    space_coeff = -0.5 / (sigma_space * sigma_space) * _LOG2E
    count = 0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            r2 = dy * dy + dx * dx
            if math.sqrt(r2) > radius or r2 == 0:
                continue
            taps[count, 0] = dy
            taps[count, 1] = dx
            space[count] = r2 * space_coeff
            count += 1
    return count


@njit(cache=True, nogil=True)
def _planar_row(
    src: np.ndarray, y: int, channels: int, radius: int, planes: np.ndarray
) -> None:
    """Source row ``y`` (W * C,) uint8 into ``planes`` (C, W + 2 * radius) float32,
    with ``radius`` reflect-101 pixels on each side."""
    row = src[y]
    width = row.shape[0] // channels
    for c in range(channels):
        plane = planes[c]
        inner = plane[radius : radius + width]
        for x in range(width):
            inner[x] = np.float32(row[channels * x + c])
        for j in range(1, radius + 1):
            plane[radius - j] = inner[reflect101(-j, width)]
            plane[radius + width - 1 + j] = inner[reflect101(width - 1 + j, width)]


@njit(cache=True, nogil=True, inline="always")
def _add_taps(
    ring: np.ndarray, centre: int, near: tuple[int, int], shift: tuple[int, int],
    log_space: tuple[np.float32, np.float32], color_coeff: np.float32, acc: np.ndarray,
) -> None:
    """Add two window offsets' contributions to the accumulators of a row.

    ``ring`` (R, C, W + 2 radius) holds planar padded rows; ``centre`` and ``near`` are
    slots in it, ``shift`` the padded column of each offset's first neighbour;
    ``acc`` (4, W) holds the weight sum and the C weighted sums.  Two offsets per sweep
    share the centre loads and the accumulator traffic.

    Rows are sliced per channel at their shift, never indexed ``ring[s, c, shift +
    x]``: an index Numba cannot prove non-negative gets a wraparound select that turns
    every load into a gather.
    """
    channels = ring.shape[1]
    width = acc.shape[1]
    radius = (ring.shape[2] - width) // 2
    na, nb = near
    sa, sb = shift
    la, lb = log_space
    if channels == 3:
        c0 = ring[centre, 0, radius : radius + width]
        c1 = ring[centre, 1, radius : radius + width]
        c2 = ring[centre, 2, radius : radius + width]
        a0 = ring[na, 0, sa : sa + width]
        a1 = ring[na, 1, sa : sa + width]
        a2 = ring[na, 2, sa : sa + width]
        b0 = ring[nb, 0, sb : sb + width]
        b1 = ring[nb, 1, sb : sb + width]
        b2 = ring[nb, 2, sb : sb + width]
        for x in range(width):
            v0 = c0[x]
            v1 = c1[x]
            v2 = c2[x]
            # L1 colour distances, integers held exactly in float32.
            da = abs(a0[x] - v0) + abs(a1[x] - v1) + abs(a2[x] - v2)
            db = abs(b0[x] - v0) + abs(b1[x] - v1) + abs(b2[x] - v2)
            wa = _exp2_neg(da * da * color_coeff + la)
            wb = _exp2_neg(db * db * color_coeff + lb)
            acc[0, x] += wa + wb
            acc[1, x] += a0[x] * wa + b0[x] * wb
            acc[2, x] += a1[x] * wa + b1[x] * wb
            acc[3, x] += a2[x] * wa + b2[x] * wb
    else:
        c0 = ring[centre, 0, radius : radius + width]
        a0 = ring[na, 0, sa : sa + width]
        b0 = ring[nb, 0, sb : sb + width]
        for x in range(width):
            da = a0[x] - c0[x]
            db = b0[x] - c0[x]
            wa = _exp2_neg(da * da * color_coeff + la)
            wb = _exp2_neg(db * db * color_coeff + lb)
            acc[0, x] += wa + wb
            acc[1, x] += a0[x] * wa + b0[x] * wb


@njit(cache=True, nogil=True, fastmath={"contract"})
def _bilateral_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int, radius: int, sigma_color: float, sigma_space: float,
) -> None:
    """Rows of band ``band``; ``src``/``dst`` are (H, W * C) uint8, C is 1 or 3.

    ``scratch[band]`` holds the window's taps, a ring of ``2 * radius + 1`` planar
    float32 source rows (each converted once per band) and four accumulator rows.  Taps
    go outermost, two per sweep, pixels innermost, so each sweep vectorises.
    """
    height, row_len = src.shape
    width = row_len // channels
    window = 2 * radius + 1
    padded = width + 2 * radius
    buffer = scratch[band]
    at = 0
    space = buffer[at : at + window * window]
    at += window * window
    taps = buffer[at : at + 2 * window * window].view(np.int32).reshape(window * window, 2)
    at += 2 * window * window
    ring = buffer[at : at + window * channels * padded].reshape(window, channels, padded)
    at += window * channels * padded
    acc = buffer[at : at + 4 * width].reshape(4, width)
    count = _tables(radius, sigma_space, taps, space)
    if count % 2:
        # An extra offset of weight exactly 0 (2**-inf -> flushed) keeps taps in pairs.
        taps[count, 0] = 0
        taps[count, 1] = 0
        space[count] = -np.inf
    color_coeff = np.float32(-0.5 / (sigma_color * sigma_color) * _LOG2E)
    row_start = band * height // bands
    row_stop = (band + 1) * height // bands
    if row_start == row_stop:
        return
    for yy in range(row_start - radius, row_start + radius):
        _planar_row(src, reflect101(yy, height), channels, radius, ring[yy % window])
    for y in range(row_start, row_stop):
        _planar_row(src, reflect101(y + radius, height), channels, radius,
                    ring[(y + radius) % window])
        centre = y % window
        # The centre tap has weight 1 (distance 0 in space and colour).
        fill_row(acc[0], 1.0)
        for c in range(channels):
            copy_row(acc[1 + c], ring[centre, c, radius : radius + width])
        for k in range(0, count, 2):
            _add_taps(
                ring, centre,
                ((y + taps[k, 0]) % window, (y + taps[k + 1, 0]) % window),
                (radius + taps[k, 1], radius + taps[k + 1, 1]),
                (space[k], space[k + 1]), color_coeff, acc,
            )
        out = dst[y]
        inverse = acc[0]
        for x in range(width):
            inverse[x] = np.float32(1.0) / inverse[x]
        # Multiply by the reciprocal and round half to even, as cv2 does; the
        # weighted mean stays within the input range.
        if channels == 3:
            s0 = acc[1]
            s1 = acc[2]
            s2 = acc[3]
            for x in range(width):
                out[3 * x] = np.uint8(np.int32(np.rint(s0[x] * inverse[x])))
                out[3 * x + 1] = np.uint8(np.int32(np.rint(s1[x] * inverse[x])))
                out[3 * x + 2] = np.uint8(np.int32(np.rint(s2[x] * inverse[x])))
        else:
            s0 = acc[1]
            for x in range(width):
                out[x] = np.uint8(np.int32(np.rint(s0[x] * inverse[x])))


@njit(cache=True, nogil=True, parallel=True)
def _bilateral_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int, radius: int, sigma_color: float, sigma_space: float,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _bilateral_band(band, bands, scratch, src, dst, channels, radius, sigma_color,
                        sigma_space)


def bilateral_scratch_length(width: int, channels: int, radius: int) -> int:
    """Float32 elements per band that :func:`bilateral_filter` needs."""
    window = 2 * radius + 1
    return 3 * window * window + window * channels * (width + 2 * radius) + 4 * width


def bilateral_filter(
    image: np.ndarray,
    *,
    d: int = 5,
    sigma_color: float = 30.0,
    sigma_space: float = 5.0,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Edge-preserving smoothing, matching ``cv2.bilateralFilter(image, d, sigma_color,
    sigma_space)`` within 1 level.

    Each output pixel is the mean of the pixels within a disc of radius ``d // 2``,
    weighted by ``exp(-r**2 / (2 sigma_space**2)) * exp(-c**2 / (2 sigma_color**2))``,
    where r is the distance in pixels and c the colour distance ``|dB| + |dG| + |dR|``
    (L1 over channels, as cv2).  Borders are reflect-101.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W) or (H, W, 3), uint8, C-contiguous
        Gray or BGR frame.
    d : int, keyword-only
        Window diameter; ``<= 0`` derives the radius ``round(1.5 * sigma_space)``.
        Radius at most 10 (d <= 21).
    sigma_color : float, keyword-only
        Colour scale in levels (> 0): differences well above it are not averaged.
    sigma_space : float, keyword-only
        Spatial scale in pixels (> 0).
    out : numpy.ndarray, same shape as ``image``, uint8, optional, keyword-only
        Destination; must not overlap ``image``.
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        T >= the caller's Numba thread count, N >= :func:`bilateral_scratch_length`.

    Returns
    -------
    numpy.ndarray, same shape as ``image``, uint8
        ``out`` if given.

    Raises
    ------
    TypeError
        If an array is not uint8 or ``d`` is not an int.
    ValueError
        If a shape, layout or option is invalid, or ``out`` overlaps ``image``.

    Notes
    -----
    cv2 looks its colour weights up in a table; a table lookup (gather) does not
    vectorise here, so the weights are computed, to 4e-6 relative error, by a
    polynomial exponential.  That and the float32 sums' order make a few pixels (well
    under 1%) differ by 1 level.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import bilateral_filter
    >>> flat = np.full((6, 8, 3), 90, np.uint8)
    >>> bool((bilateral_filter(flat, d=5) == 90).all())   # a flat picture stays flat
    True
    """
    image = require_image("image", image, channels=(None, 3))
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"d must be an int, got {d!r}")
    for name, value in (("sigma_color", sigma_color), ("sigma_space", sigma_space)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    radius = bilateral_radius(int(d), float(sigma_space))
    if radius > 10:
        raise ValueError(f"window radius must be <= 10, got {radius} (d={d}, sigma_space={sigma_space})")
    out = require_out(out, image.shape, np.uint8)
    if np.may_share_memory(out, image):
        raise ValueError("out must not overlap image (rows are read after being written)")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else 3
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, bilateral_scratch_length(width, channels, radius))
    run_bands(
        _bilateral_band, _bilateral_parallel, bands,
        rows, image.reshape(height, width * channels), out.reshape(height, width * channels),
        channels, radius, float(sigma_color), float(sigma_space),
    )
    return out
