"""Resize of uint8 frames: bilinear and area (box) sampling, as cv2.resize."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._threading import run_bands, thread_count
from ._validate import require_choice, require_image, require_out, require_scratch

_COEF_BITS = 11  # cv2's INTER_RESIZE_COEF_BITS
_COEF_SCALE = 1 << _COEF_BITS


@njit(cache=True, nogil=True, inline="always")
def _linear_tap(i: int, src_len: int, scale: float) -> tuple[int, float]:
    """cv2's INTER_LINEAR source index and fraction of output position ``i``:
    half-pixel centres, clamped to the image (the fraction is 0 at the edges)."""
    f = (i + 0.5) * scale - 0.5
    s = int(math.floor(f))
    f -= s
    if s < 0:
        f = 0.0
        s = 0
    if s >= src_len - 1:
        f = 0.0
        s = src_len - 1
    return s, f


@njit(cache=True, nogil=True, inline="always")
def _weight(fraction: float) -> np.int32:
    """An 11-bit weight, rounded to nearest even as cv2's saturate_cast<short>."""
    return np.int32(np.rint(np.float32(fraction * _COEF_SCALE)))


@njit(cache=True, nogil=True)
def _linear_taps(
    src_len: int, dst_len: int, channels: int, offsets: np.ndarray, weights: np.ndarray
) -> None:
    """cv2's INTER_LINEAR taps along one axis: first source element (times
    ``channels``) and the two 11-bit weights of each output position."""
    scale = src_len / dst_len
    for i in range(dst_len):
        s, f = _linear_tap(i, src_len, scale)
        offsets[i] = s * channels
        weights[2 * i] = _weight(1.0 - f)
        weights[2 * i + 1] = _weight(f)


@njit(cache=True, nogil=True, inline="always")
def _linear_row(
    row: np.ndarray, x_off: np.ndarray, x_w: np.ndarray, channels: int, target: np.ndarray
) -> None:
    """Horizontal pass of one source row: ``target = a0 p[x0] + a1 p[x0 + C]`` (int32)."""
    row_len = row.shape[0]
    out_w = x_off.shape[0]
    if channels == 3:
        for x in range(out_w):
            o = x_off[x]
            # The right tap of the last column may point past the row; its weight is
            # then 0, so read the column itself.
            o1 = min(o + 3, row_len - 3)
            a0 = x_w[2 * x]
            a1 = x_w[2 * x + 1]
            target[3 * x] = np.int32(row[o]) * a0 + np.int32(row[o1]) * a1
            target[3 * x + 1] = np.int32(row[o + 1]) * a0 + np.int32(row[o1 + 1]) * a1
            target[3 * x + 2] = np.int32(row[o + 2]) * a0 + np.int32(row[o1 + 2]) * a1
    elif channels == 1:
        for x in range(out_w):
            o = x_off[x]
            o1 = min(o + 1, row_len - 1)
            target[x] = np.int32(row[o]) * x_w[2 * x] + np.int32(row[o1]) * x_w[2 * x + 1]
    else:
        for x in range(out_w):
            o = x_off[x]
            o1 = min(o + channels, row_len - channels)
            for c in range(channels):
                target[channels * x + c] = (np.int32(row[o + c]) * x_w[2 * x]
                                            + np.int32(row[o1 + c]) * x_w[2 * x + 1])


@njit(cache=True, nogil=True)
def _linear_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int,
) -> None:
    """Rows of band ``band`` of ``dst`` (h, w * C) from ``src`` (H, W * C).

    Horizontal pass: ``S = a0 p[x0] + a1 p[x0 + C]`` (int32, 11-bit weights) of the two
    source rows, kept while consecutive output rows share them (enlarging); vertical:
    cv2's SIMD rounding ``((b0 (S0 >> 4)) >> 16 + (b1 (S1 >> 4)) >> 16 + 2) >> 2``.
    """
    height, row_len = src.shape
    out_h, out_len = dst.shape
    width = row_len // channels
    out_w = out_len // channels
    buffer = scratch[band].view(np.int32)
    x_off = buffer[:out_w]
    x_w = buffer[out_w : 3 * out_w]
    rows = buffer[3 * out_w : 3 * out_w + 2 * out_len].reshape(2, out_len)
    _linear_taps(width, out_w, channels, x_off, x_w)
    scale = height / out_h
    cached = (-1, -1)  # source rows held in rows[0], rows[1]
    for y in range(band * out_h // bands, (band + 1) * out_h // bands):
        s, f = _linear_tap(y, height, scale)
        b0 = _weight(1.0 - f)
        b1 = _weight(f)
        s1 = min(s + 1, height - 1)
        if cached[1] == s:
            # Moving down by one source row: the old bottom becomes the top.
            for i in range(out_len):
                rows[0, i] = rows[1, i]
            cached = (s, cached[1])
        if cached[0] != s:
            _linear_row(src[s], x_off, x_w, channels, rows[0])
        if cached[1] != s1:
            _linear_row(src[s1], x_off, x_w, channels, rows[1])
        cached = (s, s1)
        top = rows[0]
        bottom = rows[1]
        out = dst[y]
        for i in range(out_len):
            v = (((b0 * (top[i] >> 4)) >> 16) + ((b1 * (bottom[i] >> 4)) >> 16) + 2) >> 2
            out[i] = np.uint8(min(max(v, 0), 255))


@njit(cache=True, nogil=True, parallel=True)
def _linear_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, channels: int
) -> None:
    for band in prange(bands):
        _linear_band(band, bands, scratch, src, dst, channels)


@njit(cache=True, nogil=True)
def _area_taps(src_len: int, dst_len: int, first: np.ndarray, weights: np.ndarray) -> int:
    """Box taps along one axis: output i covers source ``[i s, (i + 1) s)`` with
    ``s = src_len / dst_len >= 1``; ``first[i]`` is its first source index and
    ``weights[i, k]`` the overlap of source ``first[i] + k`` divided by ``s``.
    Returns the largest tap count."""
    scale = src_len / dst_len
    most = 0
    for i in range(dst_len):
        lo = i * scale
        hi = min((i + 1) * scale, float(src_len))
        start = int(math.floor(lo))
        count = 0
        j = start
        while j < hi and count < weights.shape[1]:
            overlap = min(hi, j + 1.0) - max(lo, float(j))
            weights[i, count] = np.float32(overlap / scale)
            count += 1
            j += 1
        for k in range(count, weights.shape[1]):
            weights[i, k] = 0.0
        first[i] = start
        most = max(most, count)
    return most


@njit(cache=True, nogil=True)
def _area_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int, taps_x: int, taps_y: int,
) -> None:
    """Rows of band ``band``: box-average rows, then columns, in float32."""
    height, row_len = src.shape
    out_h, out_len = dst.shape
    width = row_len // channels
    out_w = out_len // channels
    buffer = scratch[band]
    x_first = buffer[:out_w].view(np.int32)
    at = out_w
    x_w = buffer[at : at + out_w * taps_x].reshape(out_w, taps_x)
    at += out_w * taps_x
    y_first = buffer[at : at + out_h].view(np.int32)
    at += out_h
    y_w = buffer[at : at + out_h * taps_y].reshape(out_h, taps_y)
    at += out_h * taps_y
    rows = buffer[at : at + row_len]
    _area_taps(width, out_w, x_first, x_w)
    _area_taps(height, out_h, y_first, y_w)
    for y in range(band * out_h // bands, (band + 1) * out_h // bands):
        for i in range(row_len):
            rows[i] = 0.0
        for k in range(taps_y):
            w = y_w[y, k]
            row = src[min(y_first[y] + k, height - 1)]
            for i in range(row_len):
                rows[i] += w * np.float32(row[i])
        out = dst[y]
        for x in range(out_w):
            base = x_first[x] * channels
            for c in range(channels):
                total = np.float32(0.0)
                for k in range(taps_x):
                    total += x_w[x, k] * rows[min(base + k * channels, row_len - channels) + c]
                out[channels * x + c] = np.uint8(min(np.int32(np.rint(total)), 255))


@njit(cache=True, nogil=True, parallel=True)
def _area_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, channels: int,
    taps_x: int, taps_y: int,
) -> None:
    for band in prange(bands):
        _area_band(band, bands, scratch, src, dst, channels, taps_x, taps_y)


@njit(cache=True, nogil=True)
def _block_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int, fx: int, fy: int,
) -> None:
    """Integer factors ``fx`` x ``fy``: exact block sums, ``round(sum / area)`` with
    ties to even (cv2's resizeAreaFast multiplies by ``1 / area`` in float32), except
    2 x 2, where cv2's SIMD path rounds ties up: ``(sum + 2) >> 2``."""
    out_h, out_len = dst.shape
    row_len = src.shape[1]
    sums = scratch[band].view(np.int32)[:row_len]
    inv = np.float32(1.0) / np.float32(fx * fy)
    for y in range(band * out_h // bands, (band + 1) * out_h // bands):
        first = src[y * fy]
        for i in range(row_len):
            sums[i] = np.int32(first[i])
        for k in range(1, fy):
            row = src[y * fy + k]
            for i in range(row_len):
                sums[i] += np.int32(row[i])
        out = dst[y]
        step = fx * channels
        if fx == 2 and fy == 2:
            for x in range(out_len // channels):
                for c in range(channels):
                    total = sums[x * step + c] + sums[x * step + channels + c]
                    out[channels * x + c] = np.uint8((total + 2) >> 2)
            continue
        for x in range(out_len // channels):
            for c in range(channels):
                total = np.int32(0)
                for k in range(fx):
                    total += sums[x * step + k * channels + c]
                out[channels * x + c] = np.uint8(np.int32(np.rint(np.float32(total) * inv)))


@njit(cache=True, nogil=True, parallel=True)
def _block_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, channels: int,
    fx: int, fy: int,
) -> None:
    for band in prange(bands):
        _block_band(band, bands, scratch, src, dst, channels, fx, fy)


def resize_scratch_length(src_hw: tuple[int, int], dst_hw: tuple[int, int], channels: int, method: str) -> int:
    """Float32 elements per band that :func:`resize` needs for these sizes."""
    (height, width), (out_h, out_w) = src_hw, dst_hw
    if method == "bilinear":
        return 3 * out_w + 2 * out_w * channels
    if width % out_w == 0 and height % out_h == 0:
        return width * channels
    taps_x = math.ceil(width / out_w) + 1
    taps_y = math.ceil(height / out_h) + 1
    return out_w * (1 + taps_x) + out_h * (1 + taps_y) + width * channels


def resize(
    image: np.ndarray,
    size: tuple[int, int],
    *,
    method: str = "bilinear",
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Resize a gray or BGR frame to ``size = (width, height)``, as ``cv2.resize``.

    ``"bilinear"`` is ``INTER_LINEAR``: half-pixel centres, edge pixels replicated,
    cv2's 11-bit fixed-point weights and rounding (equal to cv2, or within 1 level at
    a few row ends where cv2's SIMD and scalar paths round differently).  ``"area"``
    is ``INTER_AREA`` for shrinking: each output pixel is the mean of the source box it
    covers, fractional pixels weighted by their overlap; exact (cv2 equal) for integer
    factors, float32 and within 1 level of cv2 otherwise.  ``"area"`` cannot enlarge
    (cv2 then falls back to a bilinear variant): use ``"bilinear"``.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W) or (H, W, C), uint8, C-contiguous
        C from 1 to 4.
    size : (int, int)
        Output width and height, each >= 1.
    method : {"bilinear", "area"}, keyword-only
    out : numpy.ndarray, shape (height, width[, C]), uint8, optional, keyword-only
        Destination; must not overlap ``image``.
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        T >= the caller's Numba thread count, N >= :func:`resize_scratch_length`.

    Returns
    -------
    numpy.ndarray, uint8
        ``out`` if given.

    Raises
    ------
    TypeError, ValueError
        On a wrong dtype, shape, layout, size or method, ``"area"`` asked to enlarge,
        or ``out`` overlapping ``image``.
    """
    image = require_image("image", image, channels=(None, 1, 2, 3, 4))
    method = require_choice("method", method, ("bilinear", "area"))
    try:
        out_w, out_h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if out_w < 1 or out_h < 1:
        raise ValueError(f"size must be at least (1, 1), got {size!r}")
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    if method == "area" and (out_w > width or out_h > height):
        raise ValueError(
            f"area resize only shrinks: {width}x{height} -> {out_w}x{out_h} (use bilinear)"
        )
    out = require_out(out, (out_h, out_w, *image.shape[2:]), np.uint8)
    if np.may_share_memory(out, image):
        raise ValueError("out must not overlap image")
    bands = thread_count(out_h)
    rows = require_scratch(scratch, bands, resize_scratch_length((height, width), (out_h, out_w), channels, method))
    flat_src = image.reshape(height, width * channels)
    flat_dst = out.reshape(out_h, out_w * channels)
    if method == "bilinear":
        run_bands(_linear_band, _linear_parallel, bands, rows, flat_src, flat_dst, channels)
    elif width % out_w == 0 and height % out_h == 0:
        run_bands(_block_band, _block_parallel, bands, rows, flat_src, flat_dst, channels,
                  width // out_w, height // out_h)
    else:
        taps_x = math.ceil(width / out_w) + 1
        taps_y = math.ceil(height / out_h) + 1
        run_bands(_area_band, _area_parallel, bands, rows, flat_src, flat_dst, channels,
                  taps_x, taps_y)
    return out
