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


def reflect101(index: int, length: int) -> int:
    """Reflect-101 border index (``gfedcb|abcdefgh|gfedcba``), repeated as needed."""
    if length == 1:
        return 0
    period = 2 * (length - 1)
    index %= period
    return period - index if index >= length else index


def gaussian_weights(ksize: int, sigma: float) -> np.ndarray:
    """cv2.getGaussianKernel(ksize, sigma) in float64, shape (ksize,)."""
    # cv2's fixed rows for small default kernels (7 is not binomial).
    fixed = {1: [1], 3: [1, 2, 1], 5: [1, 4, 6, 4, 1], 7: [2, 7, 14, 18, 14, 7, 2]}
    if sigma <= 0 and ksize in fixed:
        return np.asarray(fixed[ksize], np.float64) / sum(fixed[ksize])
    if sigma <= 0:
        sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    offsets = np.arange(ksize) - ksize // 2
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def gaussian_blur(image: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """Direct 2-D convolution with the outer product of the 1-D Gaussian, reflect-101."""
    weights = gaussian_weights(ksize, sigma)
    radius = ksize // 2
    height, width = image.shape[:2]
    img = image.astype(np.float64)
    result = np.zeros_like(img)
    for dy in range(-radius, radius + 1):
        rows = [reflect101(y + dy, height) for y in range(height)]
        for dx in range(-radius, radius + 1):
            cols = [reflect101(x + dx, width) for x in range(width)]
            result += weights[dy + radius] * weights[dx + radius] * img[rows][:, cols]
    return np.floor(result + 0.5).clip(0, 255).astype(np.uint8)


def color_adjust(
    image: np.ndarray,
    *,
    white_balance: bool = True,
    gamma: float = 1.0,
    brightness: float = 0.0,
    contrast: float = 1.0,
) -> np.ndarray:
    """Per-pixel float64 version of the documented colour pipeline."""
    values = image.astype(np.float64)
    if white_balance:
        means = values.reshape(-1, 3).mean(axis=0)
        gains = np.where(means > 0, means.mean() / np.where(means > 0, means, 1), 1.0)
        values = values * gains
    values = ((values - 128.0) * contrast + 128.0 + brightness).clip(0.0, 255.0)
    if gamma != 1.0:
        values = 255.0 * (values / 255.0) ** (1.0 / gamma)
    return np.floor(values + 0.5).astype(np.uint8)


def bgr_to_gray(image: np.ndarray) -> np.ndarray:
    """cv2.COLOR_BGR2GRAY of OpenCV 5 on uint8: 15-bit weights, rounded half up."""
    b, g, r = (image[..., c].astype(np.int64) for c in range(3))
    return ((b * 3735 + g * 19235 + r * 9798 + (1 << 14)) >> 15).astype(np.uint8)


def sobel_edges(image: np.ndarray) -> np.ndarray:
    """``min(255, min(255, |gx|) + min(255, |gy|))`` from 3x3 Sobel, reflect-101."""
    gray = bgr_to_gray(image) if image.ndim == 3 else image
    height, width = gray.shape
    g = gray.astype(np.int64)
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    for dy in (-1, 0, 1):
        rows = [reflect101(y + dy, height) for y in range(height)]
        for dx in (-1, 0, 1):
            cols = [reflect101(x + dx, width) for x in range(width)]
            shifted = g[rows][:, cols]
            gx += kx[dy + 1, dx + 1] * shifted
            gy += kx.T[dy + 1, dx + 1] * shifted
    return np.minimum(np.minimum(abs(gx), 255) + np.minimum(abs(gy), 255), 255).astype(np.uint8)


def edge_overlay(
    image: np.ndarray,
    edges: np.ndarray,
    *,
    threshold: int = 64,
    color: tuple[int, int, int] = (0, 255, 0),
    alpha: float = 0.6,
) -> np.ndarray:
    """``round(image * (1 - alpha) + color * alpha)`` where ``edges >= threshold``."""
    blended = np.floor(image * (1.0 - alpha) + np.asarray(color, np.float64) * alpha + 0.5)
    return np.where((edges >= threshold)[..., None], blended, image).astype(np.uint8)
