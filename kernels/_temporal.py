"""Motion-adaptive temporal denoiser for video (in the spirit of FFmpeg's hqdn3d)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._borders import copy_row, reflect101
from ._scene import SceneCut
from ._threading import run_bands, thread_count
from ._validate import require_image, require_out, require_scratch


@njit(cache=True, nogil=True, inline="always")
def _spatial_row(
    src: np.ndarray, y: int, channels: int, spatial: int, padded: np.ndarray, out: np.ndarray
) -> None:
    """Row ``y`` of the spatially pre-filtered frame into ``out`` (W * C,) uint8.

    ``out = v + clip(B(v) - v, -spatial, spatial)`` where ``B`` is the exact 3x3
    binomial blur ([1 2 1] / 4 on both axes, reflect-101, rounded half up): flat noise
    is smoothed, while an edge moves by at most ``spatial`` levels.  ``padded`` is a
    (W * C + 2 C,) uint16 work row.  ``spatial == 0`` copies the row.
    """
    height = src.shape[0]
    row = src[y]
    n = row.shape[0]
    if spatial == 0:
        copy_row(out, row)
        return
    above = src[reflect101(y - 1, height)]
    below = src[reflect101(y + 1, height)]
    middle = padded[channels : channels + n]
    for i in range(n):
        middle[i] = np.uint16(np.uint16(above[i]) + np.uint16(below[i]) + 2 * np.uint16(row[i]))
    width = n // channels
    for c in range(channels):
        padded[c] = middle[reflect101(-1, width) * channels + c]
        padded[channels + n + c] = middle[reflect101(width, width) * channels + c]
    left = padded[:n]
    right = padded[2 * channels : 2 * channels + n]
    limit = np.int16(spatial)
    for i in range(n):
        blurred = np.int16(np.uint16(left[i] + right[i] + 2 * middle[i] + 8) >> 4)
        value = np.int16(row[i])
        step = min(max(np.int16(blurred - value), np.int16(-limit)), limit)
        out[i] = np.uint8(value + step)


@njit(cache=True, nogil=True, inline="always")
def _difference_row(
    clean: np.ndarray, previous: np.ndarray, channels: int, diff: np.ndarray
) -> None:
    """``diff[C : C + n] = clean - round(previous / 256)`` (int16) with reflect-101
    padding of one pixel (C elements) on each side."""
    n = clean.shape[0]
    inner = diff[channels : channels + n]
    for i in range(n):
        inner[i] = np.int16(np.int16(clean[i]) - np.int16((np.uint32(previous[i]) + 128) >> 8))
    width = n // channels
    for c in range(channels):
        diff[c] = inner[reflect101(-1, width) * channels + c]
        diff[channels + n + c] = inner[reflect101(width, width) * channels + c]


@njit(cache=True, nogil=True)
def _temporal_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, previous: np.ndarray,
    state: np.ndarray, dst: np.ndarray, channels: int, spatial: int, threshold: float,
    k_min: float,
) -> None:
    """Rows of band ``band``.

    ``src``/``dst`` (H, W * C) uint8 are this frame and the output; ``previous``
    (read only) and ``state`` (written) are the (H, W * C) uint16 filter state in 1/256
    levels, before and after this frame.  ``scratch[band]`` holds rings of three
    pre-filtered rows (uint8) and three difference rows (int16), and two work rows.
    """
    height, n = src.shape
    width = n // channels
    padded_len = n + 2 * channels
    buffer = scratch[band]
    diffs = buffer[: 3 * padded_len // 2 + 2].view(np.int16)[: 3 * padded_len].reshape(3, padded_len)
    at = 3 * padded_len // 2 + 2
    work = buffer[at : at + padded_len // 2 + 1].view(np.uint16)[:padded_len]
    at += padded_len // 2 + 1
    vertical = buffer[at : at + padded_len // 2 + 1].view(np.int16)[:padded_len]
    at += padded_len // 2 + 1
    cleans = buffer[at : at + 3 * n // 4 + 1].view(np.uint8)[: 3 * n].reshape(3, n)
    row_start = band * height // bands
    row_stop = (band + 1) * height // bands
    if row_start == row_stop:
        return
    # Slot of logical row r (-1 <= r <= H) is (r + 1) % 3.
    for r in (row_start - 1, row_start):
        j = reflect101(r, height)
        _spatial_row(src, j, channels, spatial, work, cleans[(r + 1) % 3])
        _difference_row(cleans[(r + 1) % 3], previous[j], channels, diffs[(r + 1) % 3])
    # Motion ramp: no motion below ``threshold`` (levels), full motion at twice that;
    # the smoothed difference is in 1/16 levels.
    low = np.float32(16.0 * threshold)
    inv_span = np.float32(1.0 / (16.0 * threshold))
    k0 = np.float32(k_min)
    k_span = np.float32(1.0 - k_min)
    for y in range(row_start, row_stop):
        j = reflect101(y + 1, height)
        _spatial_row(src, j, channels, spatial, work, cleans[(y + 2) % 3])
        _difference_row(cleans[(y + 2) % 3], previous[j], channels, diffs[(y + 2) % 3])
        up = diffs[y % 3]
        mid = diffs[(y + 1) % 3]
        down = diffs[(y + 2) % 3]
        for i in range(padded_len):
            vertical[i] = np.int16(up[i] + down[i] + 2 * mid[i])
        left = vertical[:n]
        centre = vertical[channels : channels + n]
        right = vertical[2 * channels : 2 * channels + n]
        clean = cleans[(y + 1) % 3]
        old = previous[y]
        new = state[y]
        out = dst[y]
        if channels == 3:
            for x in range(width):
                # One motion measure per pixel: the largest smoothed channel difference,
                # so that a moving pixel is updated in every channel (no colour ghosts).
                m0 = abs(np.int16(left[3 * x] + right[3 * x] + 2 * centre[3 * x]))
                m1 = abs(np.int16(left[3 * x + 1] + right[3 * x + 1] + 2 * centre[3 * x + 1]))
                m2 = abs(np.int16(left[3 * x + 2] + right[3 * x + 2] + 2 * centre[3 * x + 2]))
                motion = np.float32(max(max(m0, m1), m2))
                ramp = min(max((motion - low) * inv_span, np.float32(0.0)), np.float32(1.0))
                k = k0 + k_span * ramp
                for c in range(3):
                    a = np.float32(old[3 * x + c])
                    value = a + k * (np.float32(np.int32(clean[3 * x + c]) * 256) - a)
                    s = np.uint16(np.int32(value + np.float32(0.5)))
                    new[3 * x + c] = s
                    out[3 * x + c] = np.uint8((np.uint32(s) + 128) >> 8)
        else:
            for x in range(width):
                motion = np.float32(abs(np.int16(left[x] + right[x] + 2 * centre[x])))
                ramp = min(max((motion - low) * inv_span, np.float32(0.0)), np.float32(1.0))
                k = k0 + k_span * ramp
                a = np.float32(old[x])
                value = a + k * (np.float32(np.int32(clean[x]) * 256) - a)
                s = np.uint16(np.int32(value + np.float32(0.5)))
                new[x] = s
                out[x] = np.uint8((np.uint32(s) + 128) >> 8)


@njit(cache=True, nogil=True, parallel=True)
def _temporal_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, previous: np.ndarray,
    state: np.ndarray, dst: np.ndarray, channels: int, spatial: int, threshold: float,
    k_min: float,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _temporal_band(band, bands, scratch, src, previous, state, dst, channels, spatial,
                       threshold, k_min)


def temporal_scratch_length(width: int, channels: int) -> int:
    """Float32 elements per band that :class:`TemporalDenoiser` needs."""
    n = width * channels
    padded_len = n + 2 * channels
    return 3 * padded_len // 2 + 2 + 2 * (padded_len // 2 + 1) + 3 * n // 4 + 1


class TemporalDenoiser:
    """Motion-adaptive recursive denoiser for a video stream; one object per stream.

    Per pixel, the output is a running average of the (optionally spatially
    pre-filtered) frames, ``state += k * (frame - state)``.  ``k`` adapts to motion:

    * the motion measure is the difference ``frame - previous output``, smoothed by a
      3x3 binomial (which divides the noise in it by about 2.7), absolute, largest
      over the colour channels;
    * below ``strength`` levels the pixel counts as static and ``k = 2 / (history +
      1)`` (an exponential average over about ``history`` frames: noise drops by
      ``sqrt(k / (2 - k))``, 3x for the default 10);
    * from ``strength`` to ``2 * strength`` k rises linearly to 1: a moving object
      replaces the old picture at once, so it leaves no ghost trail.

    Like hqdn3d, the state keeps 8 fractional bits (uint16) so slow fades do not stall.
    A scene cut (:class:`SceneCut`), a change of shape or :meth:`reset` restarts the
    average from the current frame.  Borders are reflect-101.  The result does not
    depend on the thread count.

    Parameters
    ----------
    strength : float
        Noise threshold in levels (> 0, <= 64): set it near the noise's standard
        deviation.  Higher smooths more and starts to smear slow, low-contrast motion.
    history : float
        Frames averaged on static pixels (>= 1; 1 disables the temporal filter).
    spatial : int
        Spatial pre-filter: each pixel moves towards its 3x3 binomial blur by at most
        this many levels (0-255, 0 = off).
    scene_cut : SceneCut or None
        Cut detector; None never resets on content (shape changes still do).

    Attributes
    ----------
    frames : int
        Frames averaged since the last reset (1 right after one).
    resets : int
        Number of resets so far, the first frame included.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import TemporalDenoiser
    >>> denoise = TemporalDenoiser()
    >>> rng = np.random.default_rng(0)
    >>> scene = np.full((16, 16, 3), 120, np.uint8)
    >>> for _ in range(10):
    ...     noisy = np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8)
    ...     out = denoise.apply(noisy)
    >>> bool(np.abs(out.astype(int) - 120).mean() < np.abs(noisy.astype(int) - 120).mean())
    True
    """

    def __init__(
        self,
        strength: float = 4.0,
        *,
        history: float = 10.0,
        spatial: int = 0,
        scene_cut: SceneCut | None = None,
    ) -> None:
        if not (math.isfinite(strength) and 0 < strength <= 64):
            raise ValueError(f"strength must be in (0, 64], got {strength!r}")
        if not (math.isfinite(history) and history >= 1):
            raise ValueError(f"history must be >= 1, got {history!r}")
        if isinstance(spatial, bool) or not isinstance(spatial, (int, np.integer)) or not 0 <= spatial <= 255:
            raise ValueError(f"spatial must be an int in [0, 255], got {spatial!r}")
        self.strength = float(strength)
        self.history = float(history)
        self.spatial = int(spatial)
        self.scene_cut = scene_cut if scene_cut is not None else SceneCut()
        self._state: np.ndarray | None = None
        self._next: np.ndarray | None = None
        self._scratch: np.ndarray | None = None
        self.frames = 0
        self.resets = 0

    def reset(self) -> None:
        """Forget the past: the next frame passes through (spatial filter only)."""
        self.frames = 0
        self.scene_cut.reset()

    def apply(
        self, image: np.ndarray, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Denoise the next frame of the stream.

        Parameters
        ----------
        image : numpy.ndarray, shape (H, W, 3) or (H, W), uint8, C-contiguous
            The frame.
        out : numpy.ndarray, same shape, uint8, optional, keyword-only
            Destination; must not overlap ``image``.

        Returns
        -------
        numpy.ndarray, same shape as ``image``, uint8
            ``out`` if given.

        Raises
        ------
        TypeError, ValueError
            On a wrong dtype, shape or layout, or ``out`` overlapping ``image``.
        """
        image = require_image("image", image, channels=(None, 3))
        out = require_out(out, image.shape, np.uint8)
        if np.may_share_memory(out, image):
            raise ValueError("out must not overlap image (rows are read after being written)")
        height, width = image.shape[:2]
        channels = 1 if image.ndim == 2 else 3
        flat_shape = (height, width * channels)
        if self._state is None or self._state.shape != flat_shape or self._next is None:
            self._state = np.empty(flat_shape, np.uint16)
            self._next = np.empty(flat_shape, np.uint16)
            self.frames = 0
        if self.scene_cut.update(image):
            self.frames = 0
        if self.frames == 0:
            self.resets += 1
        k_min = 1.0 if self.frames == 0 else 2.0 / (self.history + 1.0)
        bands = thread_count(height)
        length = temporal_scratch_length(width, channels)
        if self._scratch is None or self._scratch.shape[0] < bands or self._scratch.shape[1] < length:
            self._scratch = np.empty((max(bands, 1), length), np.float32)
        rows = require_scratch(self._scratch, bands, length)
        run_bands(
            _temporal_band, _temporal_parallel, bands,
            rows, image.reshape(flat_shape), self._state, self._next, out.reshape(flat_shape),
            channels, self.spatial, self.strength, float(k_min),
        )
        self._state, self._next = self._next, self._state
        self.frames += 1
        return out
