"""Gray-world white balance, contrast/brightness and gamma through per-channel LUTs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._threading import launch_parallel, run_bands, thread_count
from ._validate import require_image, require_out, require_scratch

_LUT_FLOATS = 3 * 256 // 4  # one uint8 LUT per channel, stored in float32 scratch


@njit(cache=True, nogil=True)
def _channel_sums(flat: np.ndarray, row_start: int, row_stop: int) -> tuple[int, int, int]:
    """Per-channel sums of rows ``[row_start, row_stop)`` of ``flat`` (H, W * 3) uint8."""
    # Integer sums: exact whatever the split into bands, so results never depend on
    # the thread count.
    s0 = 0
    s1 = 0
    s2 = 0
    for y in range(row_start, row_stop):
        row = flat[y]
        for x in range(row.shape[0] // 3):
            s0 += np.int64(row[3 * x])
            s1 += np.int64(row[3 * x + 1])
            s2 += np.int64(row[3 * x + 2])
    return s0, s1, s2


@njit(cache=True, nogil=True, parallel=True)
def _channel_sums_parallel(bands: int, flat: np.ndarray) -> tuple[int, int, int]:
    height = flat.shape[0]
    s0 = 0
    s1 = 0
    s2 = 0
    for band in prange(bands):
        r0, r1, r2 = _channel_sums(flat, band * height // bands, (band + 1) * height // bands)
        s0 += r0
        s1 += r1
        s2 += r2
    return s0, s1, s2


@njit(cache=True, nogil=True)
def _build_lut(
    lut: np.ndarray,
    gains: tuple[float, float, float],
    gamma: float,
    brightness: float,
    contrast: float,
) -> None:
    """Fill ``lut`` (3 * 256,) uint8: entry ``256 * c + v`` is the output for value v."""
    for c in range(3):
        for v in range(256):
            x = v * gains[c]
            x = (x - 128.0) * contrast + 128.0 + brightness
            x = min(max(x, 0.0), 255.0)
            if gamma != 1.0:
                x = 255.0 * (x / 255.0) ** (1.0 / gamma)
            lut[256 * c + v] = np.uint8(math.floor(x + 0.5))


@njit(cache=True, nogil=True)
def _color_band(
    band: int,
    bands: int,
    scratch: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    gains: tuple[float, float, float],
    gamma: float,
    brightness: float,
    contrast: float,
) -> None:
    """Apply the LUT to rows of band ``band``; ``src``/``dst`` are (H, W * 3) uint8."""
    # Each band builds its own copy (768 entries): cheaper than a second launch.
    lut = scratch[band, :_LUT_FLOATS].view(np.uint8)
    _build_lut(lut, gains, gamma, brightness, contrast)
    lut0 = lut[0:256]
    lut1 = lut[256:512]
    lut2 = lut[512:768]
    height = src.shape[0]
    for y in range(band * height // bands, (band + 1) * height // bands):
        row = src[y]
        out = dst[y]
        for x in range(row.shape[0] // 3):
            out[3 * x] = lut0[row[3 * x]]
            out[3 * x + 1] = lut1[row[3 * x + 1]]
            out[3 * x + 2] = lut2[row[3 * x + 2]]


@njit(cache=True, nogil=True, parallel=True)
def _color_parallel(
    bands: int,
    scratch: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    gains: tuple[float, float, float],
    gamma: float,
    brightness: float,
    contrast: float,
) -> None:
    for band in prange(bands):
        _color_band(band, bands, scratch, src, dst, gains, gamma, brightness, contrast)


def gray_world_gains(sums: tuple[int, int, int]) -> tuple[float, float, float]:
    """Gray-world gains from per-channel sums: ``mean of the means / channel mean``.

    A channel that sums to zero keeps gain 1 (nothing to scale), and so does every
    channel of an all-black frame.
    """
    total = sum(sums) / 3.0
    return tuple(total / s if s > 0 else 1.0 for s in sums)  # type: ignore[return-value]


def color_adjust(
    image: np.ndarray,
    *,
    white_balance: bool = True,
    gamma: float = 1.0,
    brightness: float = 0.0,
    contrast: float = 1.0,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """White balance, contrast, brightness and gamma of a BGR frame, via 256-entry LUTs.

    Per channel c and value v, in float64 (the LUT is built once per call):

    1. gray-world white balance: ``v * g[c]`` with ``g[c] = mean(m) / m[c]``, where
       ``m`` are the three channel means of this frame (``g = 1`` when off);
    2. contrast and brightness around mid-gray: ``(v - 128) * contrast + 128 +
       brightness``, then clipped to [0, 255];
    3. gamma: ``255 * (v / 255) ** (1 / gamma)`` (gamma > 1 brightens mid-tones,
       gamma = 1 is the identity);
    4. rounded half up to uint8.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
        BGR frame.
    white_balance : bool, keyword-only
        Apply the gray-world gains (costs one extra read of the frame).
    gamma : float, keyword-only
        Positive exponent divisor.
    brightness : float, keyword-only
        Added after contrast, in pixel levels.
    contrast : float, keyword-only
        Gain around 128.
    out : numpy.ndarray, shape (H, W, 3), uint8, optional, keyword-only
        Destination; may be ``image`` itself (the transform is per pixel).
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        Reusable working memory: T >= the caller's Numba thread count, N >= 192
        (one 768-byte LUT per band).

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8
        ``out`` if given.

    Raises
    ------
    TypeError
        If ``image`` or ``out`` is not uint8.
    ValueError
        If shapes are wrong, ``gamma <= 0`` or a value is not finite.
    """
    image = require_image("image", image, channels=(3,))
    for name, value in (("gamma", gamma), ("brightness", brightness), ("contrast", contrast)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    out = require_out(out, image.shape, np.uint8)
    height, width = image.shape[:2]
    flat_src = image.reshape(height, 3 * width)
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, _LUT_FLOATS)
    gains = (1.0, 1.0, 1.0)
    if white_balance:
        if bands == 1:
            sums = _channel_sums(flat_src, 0, height)
        else:
            sums = launch_parallel(_channel_sums_parallel, bands, flat_src)
        gains = gray_world_gains(sums)
    run_bands(
        _color_band, _color_parallel, bands,
        rows, flat_src, out.reshape(height, 3 * width), gains,
        float(gamma), float(brightness), float(contrast),
    )
    return out
