"""Resize of uint8 frames: bilinear and area (box) sampling, as cv2.resize."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from ._threading import run_bands, thread_count
from ._validate import require_choice, require_image, require_out, require_scratch

_COEF_BITS = 11  # cv2's INTER_RESIZE_COEF_BITS
_COEF_SCALE = 1 << _COEF_BITS


# Unaligned loads and stores of 2, 4 or 8 bytes of a uint8 array (``index`` in bytes,
# not checked): the horizontal bilinear pass copies whole pixels (a BGR pixel is a
# 4-byte load, two of them one 8-byte store whose last bytes the next store replaces).
def _unaligned(width: int, store: bool) -> object:
    kind = {2: types.uint16, 4: types.uint32, 8: types.uint64}[width]

    def typer(typingctx, arr, index, *value):  # noqa: ANN001, ANN202
        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            array = context.make_array(sig.args[0])(context, builder, args[0])
            at = context.cast(builder, args[1], sig.args[1], types.intp)
            pointer = builder.bitcast(
                builder.gep(array.data, [at]), context.get_value_type(kind).as_pointer()
            )
            if store:
                data = context.cast(builder, args[2], sig.args[2], kind)
                builder.store(data, pointer, align=1)
                return context.get_dummy_value()
            return builder.load(pointer, align=1)

        if store:
            return types.void(arr, index, value[0]), codegen
        return kind(arr, index), codegen

    if store:
        def store_typer(typingctx, arr, index, value):  # noqa: ANN001, ANN202
            return typer(typingctx, arr, index, value)

        store_typer.__name__ = store_typer.__qualname__ = f"_store_u{8 * width}"
        return intrinsic(store_typer)

    def load_typer(typingctx, arr, index):  # noqa: ANN001, ANN202
        return typer(typingctx, arr, index)

    load_typer.__name__ = load_typer.__qualname__ = f"_load_u{8 * width}"
    return intrinsic(load_typer)


_load_u16 = _unaligned(2, store=False)
_load_u32 = _unaligned(4, store=False)
_load_u64 = _unaligned(8, store=False)
_store_u16 = _unaligned(2, store=True)
_store_u32 = _unaligned(4, store=True)
_store_u64 = _unaligned(8, store=True)


@njit(cache=True, nogil=True, inline="always")
def _linear_tap(i: int, src_len: int, scale: float) -> tuple[int, np.float32]:
    """cv2's INTER_LINEAR source index and fraction of output position ``i``: the
    position in float64, then float32 like cv2 (``fx = (float)((i + 0.5) * scale -
    0.5); sx = floor(fx); fx -= sx``).  Not clamped (the caller clamps)."""
    f = np.float32((i + 0.5) * scale - 0.5)
    s = int(math.floor(f))
    return s, np.float32(f - np.float32(s))


@njit(cache=True, nogil=True, inline="always")
def _weights(fraction: np.float32) -> tuple[np.int16, np.int16]:
    """cv2's 11-bit weights ``(1 - f, f)``, in float32, rounded to nearest even as
    saturate_cast<short>."""
    one = np.float32(1.0) - fraction
    scale = np.float32(_COEF_SCALE)
    return np.int16(np.rint(np.float32(one * scale))), np.int16(np.rint(np.float32(fraction * scale)))


@njit(cache=True, nogil=True, inline="always")
def _aligned(n: int) -> int:
    return (n + 3) & ~3


@njit(cache=True, nogil=True, inline="always")
def _linear_scratch(
    buffer: np.ndarray, out_w: int, out_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A band's scratch bytes laid out for the bilinear resize of rows ``out_len = out_w * C``
    long: ``x_off``, ``x_off1`` (int32, out_w: byte offsets of each pixel's two taps),
    ``x_w0``, ``x_w1`` (int16, out_len: their weights per byte), ``x_wp`` (int16, 2 * out_w:
    gray's ``(a0, a1)`` pairs, over both weight rows), ``left``, ``right`` (uint8, out_len +
    2: the gathered taps of one row) and ``rows`` (int16, (2, out_len): the two-row cache)."""
    at = 0
    x_off = buffer[at : at + 4 * out_w].view(np.int32)
    at += 4 * out_w
    x_off1 = buffer[at : at + 4 * out_w].view(np.int32)
    at += 4 * out_w
    x_w0 = buffer[at : at + 2 * out_len].view(np.int16)
    x_wp = buffer[at : at + 4 * out_len].view(np.int16)
    at += _aligned(2 * out_len)
    x_w1 = buffer[at : at + 2 * out_len].view(np.int16)
    at += _aligned(2 * out_len)
    left = buffer[at : at + _aligned(out_len + 2)]
    at += _aligned(out_len + 2)
    right = buffer[at : at + _aligned(out_len + 2)]
    at += _aligned(out_len + 2)
    rows = buffer[at : at + 4 * out_len].view(np.int16).reshape(2, out_len)
    return x_off, x_off1, x_w0, x_wp, x_w1, left, right, rows


@njit(cache=True, nogil=True)
def _linear_x_taps(
    width: int, channels: int, out_w: int, x_off: np.ndarray, x_off1: np.ndarray,
    x_w0: np.ndarray, x_w1: np.ndarray, x_wp: np.ndarray,
) -> int:
    """Fill the horizontal tap tables (see :func:`_linear_scratch`), taps clamped to the
    image with fraction 0 there; returns ``fast``: the pixels before it have an 8-byte
    (BGR) or 2-byte (gray pair) load that stays inside the row."""
    row_len = width * channels
    scale = 1.0 / (out_w / width)
    fast = 0
    for x in range(out_w):
        s, f = _linear_tap(x, width, scale)
        if s < 0:
            s = 0
            f = np.float32(0.0)
        if s >= width - 1:
            s = width - 1
            f = np.float32(0.0)
        s1 = min(s + 1, width - 1)
        x_off[x] = s * channels
        x_off1[x] = s1 * channels
        a0, a1 = _weights(f)
        if channels == 1:
            x_wp[2 * x] = a0
            x_wp[2 * x + 1] = a1
        else:
            for c in range(channels):
                x_w0[channels * x + c] = a0
                x_w1[channels * x + c] = a1
        if (channels == 1 and s + 2 <= width) or (channels == 3 and s * 3 + 8 <= row_len):
            fast = x + 1
    return fast


@njit(cache=True, nogil=True, inline="always")
def _gray_row(
    src: np.ndarray, r: int, fast: int, x_off: np.ndarray, x_off1: np.ndarray,
    x_wp: np.ndarray, left: np.ndarray, pair16: np.ndarray, rows: np.ndarray, slot: int,
) -> None:
    """Horizontal pass of gray source row ``r`` into ``rows[slot]`` (int16, out_w): the taps as
    (left, right) byte pairs in ``left`` (``pair16``: the same bytes as uint16, one 2-byte
    load each up to ``fast``), then ``(a0 p[x0] + a1 p[x1]) >> 4`` in one contiguous loop,
    which vectorises."""
    out_w = rows.shape[1]
    base = r * src.shape[1]
    for x in range(fast):
        pair16[x] = _load_u16(src, base + x_off[x])
    for x in range(fast, out_w):
        left[2 * x] = src[r, x_off[x]]
        left[2 * x + 1] = src[r, x_off1[x]]
    for x in range(out_w):
        rows[slot, x] = np.int16((np.int32(left[2 * x]) * x_wp[2 * x] + np.int32(left[2 * x + 1]) * x_wp[2 * x + 1]) >> 4)


@njit(cache=True, nogil=True, inline="always")
def _gather_bgr(
    src: np.ndarray, r: int, fast: int, x_off: np.ndarray, x_off1: np.ndarray,
    left: np.ndarray, right: np.ndarray,
) -> None:
    """Copy the left and right tap of every output pixel of BGR source row ``r`` into
    ``left`` and ``right``: one 8-byte load per pixel holds both taps (bytes 0-2 and 3-5;
    up to ``fast`` it stays inside the row), two pixels per 8-byte store (the last two
    bytes are overwritten by the next store)."""
    base = r * src.shape[1]
    low = np.uint64(0xFFFFFF)
    shift = np.uint64(24)
    for q in range(fast // 2):
        p0 = _load_u64(src, base + x_off[2 * q])
        p1 = _load_u64(src, base + x_off[2 * q + 1])
        _store_u64(left, 6 * q, (p0 & low) | (p1 << shift))
        _store_u64(right, 6 * q, ((p0 >> shift) & low) | (p1 & ~low))
    for x in range(fast // 2 * 2, x_off.shape[0]):
        for c in range(3):
            left[3 * x + c] = src[r, x_off[x] + c]
            right[3 * x + c] = src[r, x_off1[x] + c]


@njit(cache=True, nogil=True, inline="always")
def _gather_pixels(
    src: np.ndarray, r: int, channels: int, x_off: np.ndarray, x_off1: np.ndarray,
    left: np.ndarray, right: np.ndarray,
) -> None:
    """Copy the left and right tap of every output pixel of source row ``r`` (2 or 4
    channels: one 2- or 4-byte load and store each) into ``left`` and ``right``."""
    out_w = x_off.shape[0]
    base = r * src.shape[1]
    if channels == 4:
        for x in range(out_w):
            _store_u32(left, 4 * x, _load_u32(src, base + x_off[x]))
            _store_u32(right, 4 * x, _load_u32(src, base + x_off1[x]))
    else:  # 2
        for x in range(out_w):
            _store_u16(left, 2 * x, _load_u16(src, base + x_off[x]))
            _store_u16(right, 2 * x, _load_u16(src, base + x_off1[x]))


@njit(cache=True, nogil=True, inline="always")
def _blend_taps(
    left: np.ndarray, right: np.ndarray, x_w0: np.ndarray, x_w1: np.ndarray, rows: np.ndarray, slot: int
) -> None:
    """``rows[slot] = (a0 left + a1 right) >> 4`` per byte (int16; LLVM narrows the int64
    arithmetic to 16/32-bit lanes by itself)."""
    for i in range(rows.shape[1]):
        rows[slot, i] = np.int16((np.int32(left[i]) * x_w0[i] + np.int32(right[i]) * x_w1[i]) >> 4)


@njit(cache=True, nogil=True, inline="always")
def _vertical_row(
    rows: np.ndarray, top: int, bottom: int, b0: np.int16, b1: np.int16, dst: np.ndarray, y: int
) -> None:
    """Output row ``y`` from the cached rows ``top`` and ``bottom``, as cv2's
    VResizeLinearVec_32s8u: ``(((b0 S0) >> 16) + ((b1 S1) >> 16) + 2) >> 2``, saturated.  int16 products' high halves (pmulhw); numpy ufuncs keep the
    arithmetic in 16/32 bits, where Python operators would widen it to int64."""
    for i in range(dst.shape[1]):
        high0 = np.int16(np.right_shift(np.multiply(np.int32(b0), np.int32(rows[top, i])), np.int32(16)))
        high1 = np.int16(np.right_shift(np.multiply(np.int32(b1), np.int32(rows[bottom, i])), np.int32(16)))
        value = np.right_shift(np.add(np.add(high0, high1), np.int16(2)), np.int16(2))
        dst[y, i] = np.uint8(min(max(value, np.int16(0)), np.int16(255)))


@njit(cache=True, nogil=True)
def _linear_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int,
) -> None:
    """Rows of band ``band`` of ``dst`` (h, w * C) from ``src`` (H, W * C), exactly as
    cv2's INTER_LINEAR for uint8.

    Horizontal pass (cv2's HResizeLinear): ``S = a0 p[x0] + a1 p[x0 + C]`` with 11-bit
    weights, kept as ``S >> 4`` (int16) in a two-row cache while consecutive output rows
    share source rows; vertical (cv2's VResizeLinearVec_32s8u, used for every column):
    ``(((b0 (S0 >> 4)) >> 16) + ((b1 (S1 >> 4)) >> 16) + 2) >> 2``.  Horizontal taps are
    clamped to the image (fraction 0 there); vertical ones are not, as in cv2: above the
    first row both taps read row 0 with the unclamped weights.  The per-row steps are
    inlined (``inline="always"``, Numba IR): called, passing their arrays cost as much as
    the arithmetic on small outputs.
    """
    height, row_len = src.shape
    out_h, out_len = dst.shape
    out_w = out_len // channels
    x_off, x_off1, x_w0, x_wp, x_w1, left, right, rows = _linear_scratch(scratch[band].view(np.uint8), out_w, out_len)
    fast = _linear_x_taps(row_len // channels, channels, out_w, x_off, x_off1, x_w0, x_w1, x_wp)
    pair16 = left[: 2 * out_w].view(np.uint16)  # gray: (left, right) pairs
    scale_y = 1.0 / (out_h / height)
    held0 = -1  # source row cached in rows[0] (even rows) and rows[1] (odd rows)
    held1 = -1
    for y in range(band * out_h // bands, (band + 1) * out_h // bands):
        s, f = _linear_tap(y, height, scale_y)
        b0, b1 = _weights(f)
        r0 = min(max(s, 0), height - 1)
        r1 = min(max(s + 1, 0), height - 1)
        for k in range(2):
            r = r1 if k else r0
            slot = r & 1
            if (held1 if slot else held0) == r:
                continue
            if slot:
                held1 = r
            else:
                held0 = r
            if channels == 1:
                _gray_row(src, r, fast, x_off, x_off1, x_wp, left, pair16, rows, slot)
            else:
                if channels == 3:
                    _gather_bgr(src, r, fast, x_off, x_off1, left, right)
                else:
                    _gather_pixels(src, r, channels, x_off, x_off1, left, right)
                _blend_taps(left, right, x_w0, x_w1, rows, slot)
        _vertical_row(rows, r0 & 1, r1 & 1, b0, b1, dst, y)


@njit(cache=True, nogil=True, parallel=True)
def _linear_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, channels: int
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _linear_band(band, bands, scratch, src, dst, channels)


@njit(cache=True, nogil=True)
def _half_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int,
) -> None:
    """Halving (W, H exactly 2 w, 2 h) with 1, 3 or 4 channels: ``(sum of the 2x2 box
    + 2) >> 2``, cv2's INTER_AREA fast path, which cv2.resize also takes for
    INTER_LINEAR at exactly half size (the bilinear weights are then 1/2 and give the
    same result)."""
    out_h, out_len = dst.shape
    row_len = src.shape[1]
    out_w = out_len // channels
    boxes = scratch[band].view(np.uint8)[: row_len + 4]
    for y in range(band * out_h // bands, (band + 1) * out_h // bands):
        top = src[2 * y]
        bottom = src[2 * y + 1]
        out = dst[y]
        if channels == 1:
            for x in range(out_w):
                total = (np.uint16(top[2 * x]) + np.uint16(top[2 * x + 1])
                         + np.uint16(bottom[2 * x]) + np.uint16(bottom[2 * x + 1]) + np.uint16(2))
                out[x] = np.uint8(total >> 2)
            continue
        # The box of every pixel and its right neighbour (contiguous, vectorises),
        # then every other pixel of that row.
        for i in range(row_len - channels):
            total = (np.uint16(top[i]) + np.uint16(top[i + channels])
                     + np.uint16(bottom[i]) + np.uint16(bottom[i + channels]) + np.uint16(2))
            boxes[i] = np.uint8(total >> 2)
        if channels == 3:
            for x in range(out_w - 1):
                _store_u32(out, 3 * x, _load_u32(boxes, 6 * x))
            for c in range(3):
                out[3 * (out_w - 1) + c] = boxes[6 * (out_w - 1) + c]
        else:
            for x in range(out_w):
                for c in range(channels):
                    out[channels * x + c] = boxes[2 * channels * x + c]


@njit(cache=True, nogil=True, parallel=True)
def _half_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, channels: int
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _half_band(band, bands, scratch, src, dst, channels)


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
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _area_band(band, bands, scratch, src, dst, channels, taps_x, taps_y)


@njit(cache=True, nogil=True)
def _block_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int, fx: int, fy: int,
) -> None:
    """Integer factors ``fx`` x ``fy``: exact block sums, ``round(sum / area)`` with
    ties to even (cv2's resizeAreaFast multiplies by ``1 / area`` in float32), except
    2 x 2 with 1, 3 or 4 channels, where cv2's SIMD path rounds ties up: ``(sum + 2)
    >> 2``."""
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
        if fx == 2 and fy == 2 and channels != 2:
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
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _block_band(band, bands, scratch, src, dst, channels, fx, fy)


def resize_scratch_length(src_hw: tuple[int, int], dst_hw: tuple[int, int], channels: int, method: str) -> int:
    """Float32 elements per band that :func:`resize` needs for these sizes."""
    (height, width), (out_h, out_w) = src_hw, dst_hw
    if method == "bilinear":
        return max(2 * out_w + (10 * out_w * channels + 23) // 4, width * channels + 1)
    if width % out_w == 0 and height % out_h == 0:
        return width * channels + 1
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
    cv2's float32 tap positions, 11-bit fixed-point weights and SIMD rounding: equal
    to cv2 for every size and channel count (at exactly half size cv2, and so this,
    averages 2x2 boxes; at the same size both copy).  ``"area"``
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

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import resize
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    >>> resize(image, (2, 2), method="area").tolist()   # size is (width, height)
    [[40, 72], [168, 200]]
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
    halving = width == 2 * out_w and height == 2 * out_h
    if (out_w, out_h) == (width, height):
        np.copyto(out, image)  # as cv2.resize
    elif halving and channels != 2:
        run_bands(_half_band, _half_parallel, bands, rows, flat_src, flat_dst, channels)
    elif halving:
        # cv2 halves with INTER_AREA for both methods; with 2 channels its area path
        # rounds ties to even.
        run_bands(_block_band, _block_parallel, bands, rows, flat_src, flat_dst, channels, 2, 2)
    elif method == "bilinear":
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
