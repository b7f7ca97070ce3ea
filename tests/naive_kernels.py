"""Slow, obviously-correct NumPy/Python references for ``streamer.kernels``.

Each function follows its definition literally, in float64, with no concern for speed;
tests compare the fast kernels against these and against OpenCV.
"""

from __future__ import annotations

import numpy as np


def bilinear_taps(src_len: int, dst_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source taps of cv2-style bilinear resampling along one axis.

    Parameters
    ----------
    src_len, dst_len : int
        Source and destination lengths.

    Returns
    -------
    lo, hi : numpy.ndarray, shape (dst_len,), int
        Indices of the two source samples, clamped to the image (edge replicated).
    weight : numpy.ndarray, shape (dst_len,), float64
        Weight of ``hi`` (``lo`` gets ``1 - weight``).
    """
    # Half-pixel centres: output pixel i covers source [i, i + 1) * src_len / dst_len.
    position = (np.arange(dst_len) + 0.5) * (src_len / dst_len) - 0.5
    lo = np.floor(position).astype(np.int64)
    weight = position - lo
    return np.clip(lo, 0, src_len - 1), np.clip(lo + 1, 0, src_len - 1), weight


def bilinear_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W, C) to (height, width, C) float64 with cv2 INTER_LINEAR sampling."""
    y0, y1, wy = bilinear_taps(image.shape[0], height)
    x0, x1, wx = bilinear_taps(image.shape[1], width)
    img = image.astype(np.float64)
    wy = wy[:, None, None]
    wx = wx[None, :, None]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def preprocess(
    image: np.ndarray,
    out_hw: tuple[int, int],
    *,
    resize: str = "stretch",
    align: str = "center",
    pad_value: float = 114.0,
    swap_rb: bool = False,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Reference detector preprocessing: returns ((3, h, w) float64, mapping)."""
    out_h, out_w = out_hw
    height, width = image.shape[:2]
    if resize == "stretch":
        new_w, new_h, pad_x, pad_y = out_w, out_h, 0, 0
    else:
        scale = min(out_w / width, out_h / height)
        new_w = min(out_w, max(1, round(width * scale)))
        new_h = min(out_h, max(1, round(height * scale)))
        pad_x = (out_w - new_w) // 2 if align == "center" else 0
        pad_y = (out_h - new_h) // 2 if align == "center" else 0
    canvas = np.full((out_h, out_w, 3), float(pad_value))
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = bilinear_resize(image, new_w, new_h)
    if swap_rb:
        canvas = canvas[:, :, ::-1]
    planes = (canvas - np.asarray(mean)) / np.asarray(std)
    mapping = (new_w / width, new_h / height, float(pad_x), float(pad_y))
    return planes.transpose(2, 0, 1), mapping
