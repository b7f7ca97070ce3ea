"""Colour conversions: BGR <-> gray, BGR <-> YUV (BT.601, full range) and BGR <-> I420.

Every conversion uses OpenCV's integer arithmetic, so results equal ``cv2.cvtColor``
exactly, except the luma plane of :func:`bgr_to_i420` (within 1 level, see there).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._threading import run_bands, thread_count
from ._validate import require_image, require_out

# cv2.COLOR_BGR2GRAY on uint8 in OpenCV 5: 15-bit fixed-point weights of 0.114, 0.587,
# 0.299, rounded half up (checked equal on all 2**24 colours; OpenCV 4 used 14 bits).
GRAY_SHIFT = 15
GRAY_B, GRAY_G, GRAY_R = 3735, 19235, 9798

# cv2.COLOR_BGR2YUV / COLOR_YUV2BGR: 14-bit BT.601 (full range, analogue U/V scale).
_YUV_SHIFT = 14
_Y_B, _Y_G, _Y_R = 1868, 9617, 4899
_U_FROM_B, _V_FROM_R = 8061, 14369  # 0.492, 0.877
_B_FROM_U, _G_FROM_U, _G_FROM_V, _R_FROM_V = 33292, -6472, -9519, 18678

# cv2.COLOR_BGR2YUV_I420 / COLOR_YUV2BGR_I420: 20-bit BT.601 limited ("video") range.
_I420_SHIFT = 20
_I_RY, _I_GY, _I_BY = 269484, 529317, 102760
_I_RU, _I_GU, _I_BU = -155188, -305135, 460324
_I_RV, _I_GV, _I_BV = 460324, -385875, -74448
_I_CY, _I_CUB, _I_CUG, _I_CVG, _I_CVR = 1220542, 2116026, -409993, -852492, 1673527


@njit(cache=True, nogil=True, inline="always")
def gray_value(b: np.uint8, g: np.uint8, r: np.uint8) -> np.int32:
    """cv2's BGR2GRAY of one pixel (0..255, int32); inlined into vectorised loops."""
    return (
        np.int32(b) * GRAY_B + np.int32(g) * GRAY_G + np.int32(r) * GRAY_R
        + np.int32(1 << (GRAY_SHIFT - 1))
    ) >> GRAY_SHIFT


@njit(cache=True, nogil=True, inline="always")
def _clip_u8(value: np.int32) -> np.uint8:
    """Saturate an int32 to 0..255 without a branch (vectorises)."""
    return np.uint8(min(max(value, np.int32(0)), np.int32(255)))


@njit(cache=True, nogil=True)
def _gray_band(band: int, bands: int, src: np.ndarray, dst: np.ndarray) -> None:
    """Rows of band ``band``: ``src`` (H, W * 3) BGR -> ``dst`` (H, W) gray."""
    height, width = dst.shape
    for y in range(band * height // bands, (band + 1) * height // bands):
        row = src[y]
        out = dst[y]
        for x in range(width):
            out[x] = np.uint8(gray_value(row[3 * x], row[3 * x + 1], row[3 * x + 2]))


@njit(cache=True, nogil=True, parallel=True)
def _gray_parallel(bands: int, src: np.ndarray, dst: np.ndarray) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _gray_band(band, bands, src, dst)


@njit(cache=True, nogil=True, inline="always")
def _times(value: np.int32, constant: int) -> np.int32:
    """``value * constant`` in int32.  The kernels below spell their arithmetic with
    numpy ufuncs on int32 scalars: Python operators widen int32 to int64 in Numba,
    and the int64 vector multiplies ran the conversions 1.6x slower than OpenCV."""
    return np.multiply(value, np.int32(constant))


@njit(cache=True, nogil=True)
def _yuv_band(band: int, bands: int, src: np.ndarray, dst: np.ndarray, forward: bool) -> None:
    """Rows of band ``band`` of BGR -> YUV (``forward``) or YUV -> BGR, (H, W * 3) each."""
    height = src.shape[0]
    half = np.int32(1 << (_YUV_SHIFT - 1))
    centre = np.int32((128 << _YUV_SHIFT) + (1 << (_YUV_SHIFT - 1)))
    shift = np.int32(_YUV_SHIFT)
    mid = np.int32(128)
    for y in range(band * height // bands, (band + 1) * height // bands):
        row = src[y]
        out = dst[y]
        if forward:
            for x in range(row.shape[0] // 3):
                b = np.int32(row[3 * x])
                g = np.int32(row[3 * x + 1])
                r = np.int32(row[3 * x + 2])
                luma = np.right_shift(
                    np.add(np.add(_times(b, _Y_B), _times(g, _Y_G)), np.add(_times(r, _Y_R), half)),
                    shift,
                )
                out[3 * x] = np.uint8(luma)
                out[3 * x + 1] = _clip_u8(
                    np.right_shift(np.add(_times(np.subtract(b, luma), _U_FROM_B), centre), shift)
                )
                out[3 * x + 2] = _clip_u8(
                    np.right_shift(np.add(_times(np.subtract(r, luma), _V_FROM_R), centre), shift)
                )
        else:
            for x in range(row.shape[0] // 3):
                luma = np.int32(row[3 * x])
                u = np.subtract(np.int32(row[3 * x + 1]), mid)
                v = np.subtract(np.int32(row[3 * x + 2]), mid)
                out[3 * x] = _clip_u8(
                    np.add(luma, np.right_shift(np.add(_times(u, _B_FROM_U), half), shift))
                )
                out[3 * x + 1] = _clip_u8(np.add(luma, np.right_shift(
                    np.add(np.add(_times(v, _G_FROM_V), _times(u, _G_FROM_U)), half), shift
                )))
                out[3 * x + 2] = _clip_u8(
                    np.add(luma, np.right_shift(np.add(_times(v, _R_FROM_V), half), shift))
                )


@njit(cache=True, nogil=True, parallel=True)
def _yuv_parallel(bands: int, src: np.ndarray, dst: np.ndarray, forward: bool) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _yuv_band(band, bands, src, dst, forward)


@njit(cache=True, nogil=True)
def _to_i420_band(
    band: int, bands: int, src: np.ndarray, luma: np.ndarray, u_plane: np.ndarray,
    v_plane: np.ndarray,
) -> None:
    """Row pairs of band ``band``: ``src`` (H, W * 3) -> Y (H, W), U and V (H/2, W/2)."""
    pairs, half_w = u_plane.shape
    half = np.int32(1 << (_I420_SHIFT - 1))
    y_bias = np.int32(16 << _I420_SHIFT) + half
    c_bias = np.int32(128 << _I420_SHIFT) + half
    for p in range(band * pairs // bands, (band + 1) * pairs // bands):
        for y in (2 * p, 2 * p + 1):
            row = src[y]
            out = luma[y]
            for x in range(out.shape[0]):
                b = np.int32(row[3 * x])
                g = np.int32(row[3 * x + 1])
                r = np.int32(row[3 * x + 2])
                out[x] = np.uint8((r * _I_RY + g * _I_GY + b * _I_BY + y_bias) >> _I420_SHIFT)
        # Chroma from the top-left pixel of each 2x2 block, as cv2 does (no averaging).
        row = src[2 * p]
        u_out = u_plane[p]
        v_out = v_plane[p]
        for x in range(half_w):
            b = np.int32(row[6 * x])
            g = np.int32(row[6 * x + 1])
            r = np.int32(row[6 * x + 2])
            u_out[x] = _clip_u8((r * _I_RU + g * _I_GU + b * _I_BU + c_bias) >> _I420_SHIFT)
            v_out[x] = _clip_u8((r * _I_RV + g * _I_GV + b * _I_BV + c_bias) >> _I420_SHIFT)


@njit(cache=True, nogil=True, parallel=True)
def _to_i420_parallel(
    bands: int, src: np.ndarray, luma: np.ndarray, u_plane: np.ndarray, v_plane: np.ndarray
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _to_i420_band(band, bands, src, luma, u_plane, v_plane)


@njit(cache=True, nogil=True)
def _from_i420_band(
    band: int, bands: int, luma: np.ndarray, u_plane: np.ndarray, v_plane: np.ndarray,
    dst: np.ndarray,
) -> None:
    """Rows of band ``band`` of ``dst`` (H, W * 3) from I420 planes (nearest chroma);
    int32 arithmetic (see :func:`_times`)."""
    height, width = luma.shape
    half = np.int32(1 << (_I420_SHIFT - 1))
    shift = np.int32(_I420_SHIFT)
    mid = np.int32(128)
    black = np.int32(16)
    zero = np.int32(0)
    for y in range(band * height // bands, (band + 1) * height // bands):
        row = luma[y]
        u_row = u_plane[y // 2]
        v_row = v_plane[y // 2]
        out = dst[y]
        # Pixel pairs share their chroma: one chroma term per pair, and no x // 2
        # index (which would make every load a gather).
        for j in range(width // 2):
            u = np.subtract(np.int32(u_row[j]), mid)
            v = np.subtract(np.int32(v_row[j]), mid)
            blue = np.add(_times(u, _I_CUB), half)
            green = np.add(np.add(_times(v, _I_CVG), _times(u, _I_CUG)), half)
            red = np.add(_times(v, _I_CVR), half)
            for k in range(2):
                lum = _times(max(np.subtract(np.int32(row[2 * j + k]), black), zero), _I_CY)
                out[6 * j + 3 * k] = _clip_u8(np.right_shift(np.add(lum, blue), shift))
                out[6 * j + 3 * k + 1] = _clip_u8(np.right_shift(np.add(lum, green), shift))
                out[6 * j + 3 * k + 2] = _clip_u8(np.right_shift(np.add(lum, red), shift))


@njit(cache=True, nogil=True, parallel=True)
def _from_i420_parallel(
    bands: int, luma: np.ndarray, u_plane: np.ndarray, v_plane: np.ndarray, dst: np.ndarray
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _from_i420_band(band, bands, luma, u_plane, v_plane, dst)


def bgr_to_gray(image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Luma of a BGR frame, equal to ``cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)``.

    ``(3735 B + 19235 G + 9798 R + 2**14) >> 15`` (OpenCV 5's 15-bit weights of 0.114,
    0.587, 0.299).

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
        BGR frame.
    out : numpy.ndarray, shape (H, W), uint8, optional, keyword-only
        Destination.

    Returns
    -------
    numpy.ndarray, shape (H, W), uint8
        ``out`` if given.

    Raises
    ------
    TypeError
        If ``image`` or ``out`` is not uint8.
    ValueError
        If a shape or layout is wrong.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import bgr_to_gray
    >>> image = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    >>> bgr_to_gray(image).tolist()   # as cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    [[29, 150, 76, 255]]
    """
    image = require_image("image", image, channels=(3,))
    height, width = image.shape[:2]
    out = require_out(out, (height, width), np.uint8)
    run_bands(_gray_band, _gray_parallel, thread_count(height),
              image.reshape(height, 3 * width), out)
    return out


def gray_to_bgr(gray: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Gray (H, W) to BGR (H, W, 3) with B = G = R, as ``cv2.COLOR_GRAY2BGR``.

    Parameters
    ----------
    gray : numpy.ndarray, shape (H, W), uint8, C-contiguous
    out : numpy.ndarray, shape (H, W, 3), uint8, optional, keyword-only

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8
        ``out`` if given.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import gray_to_bgr
    >>> gray_to_bgr(np.array([[7, 200]], np.uint8)).tolist()
    [[[7, 7, 7], [200, 200, 200]]]
    """
    gray = require_image("gray", gray, channels=(None,))
    out = require_out(out, (*gray.shape, 3), np.uint8)
    # A broadcast copy is one memory-bound pass; no kernel beats it.
    np.copyto(out, gray[:, :, None])
    return out


def _yuv(image: np.ndarray, out: np.ndarray | None, forward: bool, name: str) -> np.ndarray:
    image = require_image(name, image, channels=(3,))
    out = require_out(out, image.shape, np.uint8)
    height, width = image.shape[:2]
    run_bands(_yuv_band, _yuv_parallel, thread_count(height),
              image.reshape(height, 3 * width), out.reshape(height, 3 * width), forward)
    return out


def bgr_to_yuv(image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """BGR to packed YUV (BT.601, full range), equal to ``cv2.COLOR_BGR2YUV``.

    ``Y = 0.114 B + 0.587 G + 0.299 R``, ``U = 128 + 0.492 (B - Y)``, ``V = 128 +
    0.877 (R - Y)`` in OpenCV's 14-bit fixed point, U and V saturated.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
    out : numpy.ndarray, shape (H, W, 3), uint8, optional, keyword-only
        May be ``image`` itself.

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8
        Channels Y, U, V; ``out`` if given.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import bgr_to_yuv
    >>> bgr_to_yuv(np.array([[[128, 128, 128]]], np.uint8)).tolist()   # gray: no chroma
    [[[128, 128, 128]]]
    """
    return _yuv(image, out, True, "image")


def yuv_to_bgr(yuv: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Packed YUV (from :func:`bgr_to_yuv`) back to BGR, equal to ``cv2.COLOR_YUV2BGR``.

    Parameters
    ----------
    yuv : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
    out : numpy.ndarray, shape (H, W, 3), uint8, optional, keyword-only
        May be ``yuv`` itself.

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8
        ``out`` if given.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import bgr_to_yuv, yuv_to_bgr
    >>> image = np.array([[[10, 200, 90], [255, 255, 255]]], np.uint8)
    >>> int(np.abs(yuv_to_bgr(bgr_to_yuv(image)).astype(int) - image).max()) <= 2   # round trip
    True
    """
    return _yuv(yuv, out, False, "yuv")


def _require_even(name: str, height: int, width: int) -> None:
    if height % 2 or width % 2:
        raise ValueError(f"{name} needs an even width and height for I420, got {width}x{height}")


def _i420_planes(buffer: np.ndarray, height: int, width: int) -> tuple[np.ndarray, ...]:
    """Views of the Y (H, W), U and V (H/2, W/2) planes of an I420 (3H/2, W) buffer."""
    flat = buffer.reshape(-1)
    quarter = (height // 2) * (width // 2)
    luma = flat[: height * width].reshape(height, width)
    u_plane = flat[height * width : height * width + quarter].reshape(height // 2, width // 2)
    v_plane = flat[height * width + quarter :].reshape(height // 2, width // 2)
    return luma, u_plane, v_plane


def bgr_to_i420(image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """BGR to planar I420 (YUV 4:2:0, BT.601 limited range), like ``cv2.COLOR_BGR2YUV_I420``.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
        H and W even.
    out : numpy.ndarray, shape (3 * H // 2, W), uint8, optional, keyword-only
        Y plane (H rows), then U and V (H / 2 x W / 2 each, packed), as cv2 lays it out.

    Returns
    -------
    numpy.ndarray, shape (3 * H // 2, W), uint8
        ``out`` if given.

    Notes
    -----
    U and V come from the top-left pixel of each 2x2 block (cv2 does not average) and
    equal cv2 exactly; Y uses the 20-bit BT.601 weights of OpenCV 4 and is within 1
    level of OpenCV 5, which rounds about 10% of pixels the other way.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import bgr_to_i420
    >>> bgr_to_i420(np.zeros((4, 6, 3), np.uint8)).shape   # Y (4, 6) then U, V (2, 3) each
    (6, 6)
    """
    image = require_image("image", image, channels=(3,))
    height, width = image.shape[:2]
    _require_even("image", height, width)
    out = require_out(out, (3 * height // 2, width), np.uint8)
    luma, u_plane, v_plane = _i420_planes(out, height, width)
    run_bands(_to_i420_band, _to_i420_parallel, thread_count(height // 2),
              image.reshape(height, 3 * width), luma, u_plane, v_plane)
    return out


def i420_to_bgr(i420: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Planar I420 (3H/2, W) to BGR, equal to ``cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)``.

    Chroma is upsampled by repetition (nearest), as cv2 does.

    Parameters
    ----------
    i420 : numpy.ndarray, shape (3 * H // 2, W), uint8, C-contiguous
        H and W even.
    out : numpy.ndarray, shape (H, W, 3), uint8, optional, keyword-only

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8
        ``out`` if given.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import bgr_to_i420, i420_to_bgr
    >>> gray = np.full((4, 6, 3), 128, np.uint8)
    >>> bool((i420_to_bgr(bgr_to_i420(gray)) == 128).all())
    True
    """
    i420 = require_image("i420", i420, channels=(None,))
    rows, width = i420.shape
    if rows % 3:
        raise ValueError(f"i420 must have 3 * H / 2 rows, got shape {i420.shape}")
    height = rows * 2 // 3
    _require_even("i420", height, width)
    out = require_out(out, (height, width, 3), np.uint8)
    luma, u_plane, v_plane = _i420_planes(i420, height, width)
    run_bands(_from_i420_band, _from_i420_parallel, thread_count(height),
              luma, u_plane, v_plane, out.reshape(height, 3 * width))
    return out
