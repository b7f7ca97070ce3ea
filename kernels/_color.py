"""White balance (gray-world, white-patch), contrast/brightness/gamma through per-channel
LUTs, and saturation."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._convert import gray_value
from ._threading import launch_parallel, run_bands, thread_count
from ._validate import require_choice, require_image, require_out, require_scratch

WHITE_BALANCE = ("grayworld", "whitepatch", "none")

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
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        r0, r1, r2 = _channel_sums(flat, band * height // bands, (band + 1) * height // bands)
        s0 += r0
        s1 += r1
        s2 += r2
    return s0, s1, s2


@njit(cache=True, nogil=True)
def _channel_hist(flat: np.ndarray, row_start: int, row_stop: int, hist: np.ndarray) -> None:
    """Add the per-channel histograms of rows ``[row_start, row_stop)`` of ``flat``
    (H, W * 3) to ``hist`` (3, 256) int64."""
    for y in range(row_start, row_stop):
        row = flat[y]
        for x in range(row.shape[0] // 3):
            hist[0, row[3 * x]] += 1
            hist[1, row[3 * x + 1]] += 1
            hist[2, row[3 * x + 2]] += 1


@njit(cache=True, nogil=True, parallel=True)
def _channel_hist_parallel(bands: int, flat: np.ndarray, hists: np.ndarray) -> None:
    height = flat.shape[0]
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _channel_hist(flat, band * height // bands, (band + 1) * height // bands, hists[band])


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


@njit(cache=True, nogil=True, inline="always")
def lut_row(row: np.ndarray, lut: np.ndarray, saturation: float, out: np.ndarray) -> None:
    """``out`` (W * 3,) = per-channel ``lut`` (768,) of ``row``, then saturation.

    Saturation blends each pixel with its gray (cv2's BGR2GRAY of the LUT output):
    ``round(s * c + (1 - s) * gray)``, saturated; 1 leaves the pixel alone, 0 makes
    it gray, above 1 intensifies.
    """
    lut0 = lut[0:256]
    lut1 = lut[256:512]
    lut2 = lut[512:768]
    for x in range(row.shape[0] // 3):
        out[3 * x] = lut0[row[3 * x]]
        out[3 * x + 1] = lut1[row[3 * x + 1]]
        out[3 * x + 2] = lut2[row[3 * x + 2]]
    if saturation != 1.0:
        # A second sweep, in place: without the table lookups (gathers) it vectorises.
        saturate_row(out, saturation, out)


@njit(cache=True, nogil=True, inline="always")
def saturate_row(row: np.ndarray, saturation: float, out: np.ndarray) -> None:
    """``out = round(s * c + (1 - s) * gray)`` per channel of a BGR ``row``, saturated."""
    s = np.float32(saturation)
    keep = np.float32(1.0 - saturation)
    for x in range(row.shape[0] // 3):
        b = row[3 * x]
        g = row[3 * x + 1]
        r = row[3 * x + 2]
        level = np.float32(gray_value(b, g, r)) * keep
        out[3 * x] = _saturate(np.float32(b) * s + level)
        out[3 * x + 1] = _saturate(np.float32(g) * s + level)
        out[3 * x + 2] = _saturate(np.float32(r) * s + level)


@njit(cache=True, nogil=True, inline="always")
def _saturate(value: np.float32) -> np.uint8:
    """Round half to even (as cv2.addWeighted) and clip to 0..255."""
    return np.uint8(min(max(np.int32(np.rint(value)), np.int32(0)), np.int32(255)))


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
    saturation: float,
) -> None:
    """Apply the LUT and saturation to rows of band ``band``; (H, W * 3) uint8.

    An identity LUT (no balance, contrast, brightness or gamma) is skipped.
    """
    # Each band builds its own copy (768 entries): cheaper than a second launch.
    lut = scratch[band, :_LUT_FLOATS].view(np.uint8)
    _build_lut(lut, gains, gamma, brightness, contrast)
    identity = True
    for i in range(768):
        identity = identity and lut[i] == i % 256
    height = src.shape[0]
    for y in range(band * height // bands, (band + 1) * height // bands):
        if identity and saturation != 1.0:
            saturate_row(src[y], saturation, dst[y])
        else:
            lut_row(src[y], lut, saturation, dst[y])


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
    saturation: float,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _color_band(band, bands, scratch, src, dst, gains, gamma, brightness, contrast,
                    saturation)


def gray_world_gains(sums: tuple[int, int, int]) -> tuple[float, float, float]:
    """Gray-world gains from per-channel sums: ``mean of the means / channel mean``.

    A channel that sums to zero keeps gain 1 (nothing to scale), and so does every
    channel of an all-black frame.
    """
    total = sum(sums) / 3.0
    return tuple(total / s if s > 0 else 1.0 for s in sums)  # type: ignore[return-value]


def white_patch_gains(hist: np.ndarray, percentile: float) -> tuple[float, float, float]:
    """White-patch gains from per-channel histograms (3, 256): ``255 / P[c]``.

    ``P[c]`` is the ``percentile`` of channel c: the smallest level with at least that
    share of the pixels at or below it (the "inverted CDF" percentile).  Taking a
    high percentile rather than the maximum keeps a few specular or hot pixels from
    deciding the balance.  A channel whose percentile is 0 keeps gain 1.
    """
    gains = []
    for counts in hist:
        total = int(counts.sum())
        need = math.ceil(total * percentile / 100.0)
        level = int(np.searchsorted(np.cumsum(counts), max(need, 1)))
        gains.append(255.0 / level if level > 0 else 1.0)
    return tuple(gains)  # type: ignore[return-value]


def balance_gains(
    image: np.ndarray, method: str = "grayworld", *, percentile: float = 99.0
) -> tuple[float, float, float]:
    """Per-channel white-balance gains of a BGR frame (see :func:`color_adjust`).

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
    method : {"grayworld", "whitepatch", "none"}
    percentile : float
        White-patch percentile, in (0, 100].

    Returns
    -------
    tuple of 3 float
        Gains for B, G, R (1, 1, 1 for ``"none"``).

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import balance_gains
    >>> bluish = np.zeros((4, 4, 3), np.uint8); bluish[:] = (120, 100, 80)   # B, G, R
    >>> [round(g, 3) for g in balance_gains(bluish)]   # gray world: every mean to 100
    [0.833, 1.0, 1.25]
    """
    image = require_image("image", image, channels=(3,))
    method = require_choice("white_balance", method, WHITE_BALANCE)
    if not (math.isfinite(percentile) and 0 < percentile <= 100):
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    height, width = image.shape[:2]
    flat = image.reshape(height, 3 * width)
    bands = thread_count(height)
    if method == "grayworld":
        if bands == 1:
            return gray_world_gains(_channel_sums(flat, 0, height))
        return gray_world_gains(launch_parallel(_channel_sums_parallel, bands, flat))
    if method == "whitepatch":
        hists = np.zeros((bands, 3, 256), np.int64)
        if bands == 1:
            _channel_hist(flat, 0, height, hists[0])
        else:
            launch_parallel(_channel_hist_parallel, bands, flat, hists)
        return white_patch_gains(hists.sum(axis=0), percentile)
    return (1.0, 1.0, 1.0)


def color_lut(
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0),
    *,
    gamma: float = 1.0,
    brightness: float = 0.0,
    contrast: float = 1.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The (3, 256) uint8 lookup table :func:`color_adjust` applies (steps 1-4 there).

    Row c maps channel c's levels; pass it to :func:`streamer.kernels.fused_filter`.

    Examples
    --------
    >>> from streamer.kernels import color_lut
    >>> lut = color_lut(gamma=2.0)   # gamma > 1 brightens
    >>> lut.shape, int(lut[0, 0]), int(lut[0, 64]), int(lut[0, 255])
    ((3, 256), 0, 128, 255)
    """
    _check_levels(gamma, brightness, contrast, 1.0)
    lut = require_out(out, (3, 256), np.uint8)
    _build_lut(lut.reshape(768), tuple(float(g) for g in gains), float(gamma),
               float(brightness), float(contrast))
    return lut


def _check_levels(gamma: float, brightness: float, contrast: float, saturation: float) -> None:
    for name, value in (("gamma", gamma), ("brightness", brightness), ("contrast", contrast),
                        ("saturation", saturation)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    if saturation < 0:
        raise ValueError(f"saturation must be >= 0, got {saturation!r}")


def color_adjust(
    image: np.ndarray,
    *,
    white_balance: bool | str = True,
    percentile: float = 99.0,
    gamma: float = 1.0,
    brightness: float = 0.0,
    contrast: float = 1.0,
    saturation: float = 1.0,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """White balance, contrast, brightness, gamma and saturation of a BGR frame.

    Per channel c and value v, in float64 (a 256-entry LUT per channel, built once per
    call):

    1. white balance: ``v * g[c]``; gray-world: ``g[c] = mean(m) / m[c]`` with ``m``
       the three channel means of this frame; white-patch: ``g[c] = 255 / P[c]`` with
       ``P[c]`` the channel's ``percentile`` (see :func:`white_patch_gains`); none:
       ``g = 1``;
    2. contrast and brightness around mid-gray: ``(v - 128) * contrast + 128 +
       brightness``, then clipped to [0, 255];
    3. gamma: ``255 * (v / 255) ** (1 / gamma)`` (gamma > 1 brightens mid-tones,
       gamma = 1 is the identity);
    4. rounded half up to uint8;
    5. saturation, per pixel after the LUT: ``round(s * c + (1 - s) * gray)`` with
       ``gray`` the pixel's cv2 BGR2GRAY luma, float32, ties to even, saturated (the
       same as ``cv2.addWeighted(img, s, gray3, 1 - s, 0)``); 1 skips it.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
        BGR frame.
    white_balance : bool or {"grayworld", "whitepatch", "none"}, keyword-only
        True is ``"grayworld"``, False ``"none"``.  Gray-world costs one extra read
        of the frame, white-patch one histogram pass.
    percentile : float, keyword-only
        White-patch percentile in (0, 100].
    gamma : float, keyword-only
        Positive exponent divisor.
    brightness : float, keyword-only
        Added after contrast, in pixel levels.
    contrast : float, keyword-only
        Gain around 128.
    saturation : float, keyword-only
        >= 0; 1 leaves colours alone.
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
        If shapes are wrong, ``gamma <= 0``, ``saturation < 0``, a value is not
        finite or ``white_balance`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import color_adjust
    >>> image = np.full((2, 3, 3), 100, np.uint8)
    >>> color_adjust(image, white_balance=False, brightness=20)[0, 0].tolist()
    [120, 120, 120]
    """
    image = require_image("image", image, channels=(3,))
    _check_levels(gamma, brightness, contrast, saturation)
    if white_balance is True or white_balance is False:
        method = "grayworld" if white_balance else "none"
    else:
        method = require_choice("white_balance", white_balance, WHITE_BALANCE)
    out = require_out(out, image.shape, np.uint8)
    height, width = image.shape[:2]
    flat_src = image.reshape(height, 3 * width)
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, _LUT_FLOATS)
    gains = balance_gains(image, method, percentile=percentile)
    run_bands(
        _color_band, _color_parallel, bands,
        rows, flat_src, out.reshape(height, 3 * width), gains,
        float(gamma), float(brightness), float(contrast), float(saturation),
    )
    return out
