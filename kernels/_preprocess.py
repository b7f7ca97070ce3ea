"""Fused detector-input preparation: bilinear resize, channel swap, normalise, HWC->CHW."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from ._borders import fill_row
from ._threading import run_bands, thread_count
from ._validate import (
    describe,
    require_choice,
    require_image,
    require_scratch,
    require_triple,
)


@njit(cache=True, nogil=True)
def _x_taps(width: int, inv_scale_x: float, offsets: np.ndarray, weights: np.ndarray) -> None:
    """Each output column's left tap (``offsets``, a byte offset in a BGR row) and the
    right tap's weight (``weights``), as cv2.resize INTER_LINEAR samples: half-pixel
    centres, edges replicated (cv2 drops the fractional weight where the right tap would
    leave the image)."""
    last = width - 1
    for x in range(offsets.shape[0]):
        fx = (x + 0.5) * inv_scale_x - 0.5
        sx = int(np.floor(fx))
        wx = np.float32(fx - sx)
        if sx < 0:
            sx = 0
            wx = np.float32(0.0)
        if sx >= last:
            sx = last
            wx = np.float32(0.0)
        offsets[x] = 3 * sx
        weights[x] = wx


@njit(cache=True, nogil=True, inline="always")
def _blend_rows(flat: np.ndarray, ry: int, inv_scale_y: float, blended: np.ndarray) -> None:
    """Vertical blend of the two source rows (``flat``: (H, 3 W)) that output row ``ry`` of
    the resized region samples, into ``blended`` (3 W + 3), whose last pixel repeats the
    row's last (the right tap of the last column reads it with weight 0)."""
    height, row_len = flat.shape
    # float64 position until the fraction is taken: float32 would shift weights by
    # ~1e-4 at x ~ 1000 (cv2 is that exact too).
    fy = (ry + 0.5) * inv_scale_y - 0.5
    sy = int(np.floor(fy))
    wy = np.float32(fy - sy)
    top = flat[min(max(sy, 0), height - 1)]
    bottom = flat[min(max(sy + 1, 0), height - 1)]
    # The whole source row first: contiguous, so it vectorises. a + (b - a) * w rather
    # than cv2's a * (1 - w) + b * w: one multiply less and flat areas stay exact; the
    # two differ by float32 rounding only.
    for i in range(row_len):
        a = np.float32(top[i])
        blended[i] = a + (np.float32(bottom[i]) - a) * wy
    blended[row_len : row_len + 3] = blended[row_len - 3 : row_len]


@njit(cache=True, nogil=True, inline="always")
def _sample_planes(
    blended: np.ndarray, offsets: np.ndarray, weights: np.ndarray, dst: np.ndarray, oy: int,
    pad_x: int, order: tuple[int, int, int], gain: tuple[float, float, float],
    bias: tuple[float, float, float],
) -> None:
    """Horizontal blend of the ``blended`` row into row ``oy`` of each plane of ``dst``,
    from column ``pad_x`` on: plane ``c`` takes source channel ``order[c]``, times
    ``gain[c]`` plus ``bias[c]``."""
    new_w = offsets.shape[0]
    o0, o1, o2 = order
    g0, g1, g2 = np.float32(gain[0]), np.float32(gain[1]), np.float32(gain[2])
    b0, b1, b2 = np.float32(bias[0]), np.float32(bias[1]), np.float32(bias[2])
    plane0 = dst[0, oy, pad_x : pad_x + new_w]
    plane1 = dst[1, oy, pad_x : pad_x + new_w]
    plane2 = dst[2, oy, pad_x : pad_x + new_w]
    for x in range(new_w):
        o = offsets[x]
        wx = weights[x]
        a = blended[o + o0]
        plane0[x] = (a + (blended[o + o0 + 3] - a) * wx) * g0 + b0
        a = blended[o + o1]
        plane1[x] = (a + (blended[o + o1 + 3] - a) * wx) * g1 + b1
        a = blended[o + o2]
        plane2[x] = (a + (blended[o + o2 + 3] - a) * wx) * g2 + b2


@njit(cache=True, nogil=True)
def _preprocess_band(
    band: int,
    bands: int,
    scratch: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    geometry: tuple[int, int, int, int],
    inv_scale: tuple[float, float],
    order: tuple[int, int, int],
    gain: tuple[float, float, float],
    bias: tuple[float, float, float],
    fill: tuple[float, float, float],
) -> None:
    """Write output rows of band ``band`` of every plane of ``dst`` (3, h, w).

    ``src`` is (H, W, 3) uint8; ``scratch[band]`` holds this band's tap tables and one
    blended source row; ``geometry`` is (pad_x, pad_y, new_w, new_h) of the resized
    region inside ``dst``; ``inv_scale`` the source pixels per output pixel (x, y);
    ``order`` the source channel of each output plane; ``gain``/``bias``/``fill`` are
    per output plane.  Rows are blended vertically, then horizontally into the planes
    (the per-row steps are inlined); the padding is filled.
    """
    pad_x, pad_y, new_w, new_h = geometry
    height, width = src.shape[0], src.shape[1]
    out_h = dst.shape[1]
    buffer = scratch[band]
    # Per band, not per call, so bands share nothing writable.
    offsets = buffer[:new_w].view(np.int32)
    weights = buffer[new_w : 2 * new_w]
    blended = buffer[2 * new_w : 2 * new_w + 3 * (width + 1)]
    _x_taps(width, inv_scale[0], offsets, weights)
    flat = src.reshape(height, 3 * width)
    for oy in range(band * out_h // bands, (band + 1) * out_h // bands):
        ry = oy - pad_y
        if ry < 0 or ry >= new_h:
            for c in range(3):
                fill_row(dst[c, oy], fill[c])
            continue
        for c in range(3):
            fill_row(dst[c, oy, :pad_x], fill[c])
            fill_row(dst[c, oy, pad_x + new_w :], fill[c])
        _blend_rows(flat, ry, inv_scale[1], blended)
        _sample_planes(blended, offsets, weights, dst, oy, pad_x, order, gain, bias)


@njit(cache=True, nogil=True, parallel=True)
def _preprocess_parallel(
    bands: int,
    scratch: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    geometry: tuple[int, int, int, int],
    inv_scale: tuple[float, float],
    order: tuple[int, int, int],
    gain: tuple[float, float, float],
    bias: tuple[float, float, float],
    fill: tuple[float, float, float],
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _preprocess_band(
            band, bands, scratch, src, dst, geometry, inv_scale, order, gain, bias, fill
        )


def scratch_length(image_width: int, out_width: int) -> int:
    """Float32 elements per band that :func:`preprocess` needs: ``2 * w + 3 * (W + 1)``."""
    return 2 * out_width + 3 * (image_width + 1)


def _model_planes(out: object) -> np.ndarray:
    """Return ``out`` as a (3, h, w) view after checking dtype, shape and layout."""
    expected = (
        "out must be float32 with shape (1, 3, h, w) or (3, h, w), C-contiguous, "
        f"got {describe(out)}"
    )
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        raise TypeError(expected)
    if out.shape[-3:-2] != (3,) or out.ndim not in (3, 4) or out.shape[:-3] not in ((), (1,)):
        raise ValueError(expected)
    if out.shape[-1] < 1 or out.shape[-2] < 1:
        raise ValueError(f"out must have h, w >= 1, got shape {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(expected + " (not a writeable C-contiguous array)")
    return out.reshape(out.shape[-3:])


def _fitted_size(
    src_hw: tuple[int, int], dst_hw: tuple[int, int], resize: str, align: str
) -> tuple[int, int, int, int]:
    """Return (pad_x, pad_y, new_w, new_h) of the resized image inside the model input."""
    (height, width), (out_h, out_w) = src_hw, dst_hw
    if resize == "stretch":
        return 0, 0, out_w, out_h
    scale = min(out_w / width, out_h / height)
    new_w = min(out_w, max(1, round(width * scale)))
    new_h = min(out_h, max(1, round(height * scale)))
    if align == "topleft":
        return 0, 0, new_w, new_h
    return (out_w - new_w) // 2, (out_h - new_h) // 2, new_w, new_h


def preprocess(
    image: np.ndarray,
    out: np.ndarray,
    *,
    resize: str = "stretch",
    align: str = "center",
    pad_value: float = 114.0,
    swap_rb: bool = False,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    scratch: np.ndarray | None = None,
) -> tuple[float, float, float, float]:
    """Turn a decoded frame into a detector input tensor in one pass.

    Bilinear resize (the sampling of ``cv2.resize`` with ``INTER_LINEAR``: half-pixel
    centres, edges replicated), optional B<->R swap, ``(x - mean[c]) / std[c]`` and
    HWC -> CHW, written straight into ``out``.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
        Frame as decoded (BGR).
    out : numpy.ndarray, shape (1, 3, h, w) or (3, h, w), float32, C-contiguous
        Model input; every element is overwritten.
    resize : {"stretch", "letterbox"}, keyword-only
        ``"stretch"`` scales each axis independently to fill (w, h); ``"letterbox"``
        keeps the aspect ratio (scale ``min(w / W, h / H)``, size rounded to whole
        pixels) and fills the rest with ``pad_value``.
    align : {"center", "topleft"}, keyword-only
        Where the letterboxed image sits (centre padding is ``(w - new_w) // 2``).
    pad_value : float, keyword-only
        Raw pixel value of the padding, before normalisation: padded elements become
        ``(pad_value - mean[c]) / std[c]``.
    swap_rb : bool, keyword-only
        Emit RGB planes instead of BGR.
    mean, std : sequence of 3 float, keyword-only
        Per-channel normalisation, in the output channel order; ``std`` must be
        non-zero.  E.g. ``std=(255, 255, 255)`` gives values in [0, 1].
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        Reusable working memory so that calls allocate nothing: T >= the Numba thread
        count of the caller and N >= ``2 * w + 3 * (W + 1)``.  None allocates about
        that much (a few tens of KB, not frame-sized) for this call.

    Returns
    -------
    scale_x, scale_y, pad_x, pad_y : float
        Mapping back to the frame: ``source_x = (model_x - pad_x) / scale_x`` and
        likewise for y, in continuous pixel-edge coordinates (what box coordinates
        use).  ``scale_x`` is ``new_w / W`` exactly, i.e. the resize that was applied.

    Raises
    ------
    TypeError
        If ``image`` is not uint8 or ``out`` is not float32.
    ValueError
        If a shape, layout or option is invalid.

    Notes
    -----
    Arithmetic is float32 like OpenCV's float resize; against
    ``cv2.resize(image.astype(np.float32), ...)`` the largest difference measured on
    real frames is 2e-5 pixel levels (tests allow 2e-3).  Against the usual uint8
    ``cv2.resize`` chain it is below one pixel level, since cv2 rounds to uint8 there.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import preprocess
    >>> frame = np.zeros((360, 640, 3), np.uint8)
    >>> tensor = np.empty((1, 3, 416, 416), np.float32)
    >>> preprocess(frame, tensor, resize="letterbox", swap_rb=True, std=(255, 255, 255))
    (0.65, 0.65, 0.0, 91.0)
    >>> float(tensor[0, 0, 0, 0]), float(tensor[0, 0, 208, 208])   # padding, picture
    (0.4470588266849518, 0.0)
    """
    image = require_image("image", image, channels=(3,))
    planes = _model_planes(out)
    resize = require_choice("resize", resize, ("stretch", "letterbox"))
    align = require_choice("align", align, ("center", "topleft"))
    mean3 = require_triple("mean", mean)
    std3 = require_triple("std", std)
    if 0.0 in std3:
        raise ValueError(f"std must be non-zero, got {std!r}")
    if not np.isfinite(pad_value):
        raise ValueError(f"pad_value must be finite, got {pad_value!r}")

    height, width = image.shape[:2]
    geometry = _fitted_size((height, width), planes.shape[1:], resize, align)
    pad_x, pad_y, new_w, new_h = geometry
    # cv2 computes the step as 1 / (dst / src); reusing its formula keeps floor() exact.
    inv_scale = (1.0 / (new_w / width), 1.0 / (new_h / height))
    order = (2, 1, 0) if swap_rb else (0, 1, 2)
    gain = tuple(1.0 / s for s in std3)
    bias = tuple(-m / s for m, s in zip(mean3, std3))
    fill = tuple((float(pad_value) - m) / s for m, s in zip(mean3, std3))
    bands = thread_count(planes.shape[1])
    rows = require_scratch(scratch, bands, scratch_length(width, new_w))
    run_bands(
        _preprocess_band, _preprocess_parallel, bands,
        rows, image, planes, geometry, inv_scale, order, gain, bias, fill,
    )
    return new_w / width, new_h / height, float(pad_x), float(pad_y)
