"""Motion detection: frame differencing or a running-average background, cleaned mask,
moving regions as boxes and a motion score."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ._convert import gray_value
from ._labels import ComponentBoxes, connected_boxes
from ._morphology import morphology, morphology_scratch_length
from ._scene import SceneCut
from ._threading import run_bands, thread_count
from ._validate import describe, require_choice, require_image, require_out, require_scratch

_METHODS = ("background", "diff")


class MotionResult(NamedTuple):
    """What :meth:`MotionDetector.update` found in one frame.

    Attributes
    ----------
    mask : numpy.ndarray, shape (H, W), uint8, or None
        255 where the frame moves (after clean-up), else 0; None when not kept.
    boxes : numpy.ndarray, shape (N, 4), int32
        Moving regions as ``(x1, y1, x2, y2)`` pixel-edge boxes (x2, y2 exclusive),
        largest first; components under ``min_area`` pixels are left out.
    areas : numpy.ndarray, shape (N,), int64
        Pixel count of each region.
    score : float
        Fraction of the frame's pixels that move, in [0, 1] (after clean-up, small
        regions included): 0 means nothing moves.
    reset : bool
        True when the model (re)started on this frame: first frame, scene cut or new
        resolution.  The frame then reports no motion, but it is new content, so a
        consumer skipping work on still frames should not skip this one.
    """

    mask: np.ndarray | None
    boxes: np.ndarray
    areas: np.ndarray
    score: float
    reset: bool


@njit(cache=True, nogil=True)
def _motion_band(
    band: int, bands: int, src: np.ndarray, channels: int, model: np.ndarray,
    mask: np.ndarray, threshold: float, alpha: float, use_float: bool,
    exclude: np.ndarray, use_exclude: bool,
) -> None:
    """Rows of band ``band``: gray of ``src`` against ``model`` -> ``mask``; update.

    With ``use_exclude``, pixels where ``exclude`` (H, W) uint8 is nonzero never move
    (their model is still updated, so a mask lifted later starts from a current one).

    ``model`` (H, W) float32 is the background (``use_float``: running average, updated
    as ``cv2.accumulateWeighted`` does, ``m + alpha (g - m)`` in float32, which rounds
    as OpenCV does; ``(1 - alpha) m + alpha g`` differs by an ulp and flips pixels lying
    exactly at the threshold) or the previous gray frame (replaced by this one).  ``mask`` is 255 where ``|g - m| >
    threshold``.
    """
    height, width = mask.shape
    gain = np.float32(alpha)
    limit = np.float32(threshold)
    for y in range(band * height // bands, (band + 1) * height // bands):
        row = src[y]
        background = model[y]
        out = mask[y]
        skip = exclude[y] if use_exclude else exclude[0]
        for x in range(width):
            if channels == 3:
                g = np.float32(gray_value(row[3 * x], row[3 * x + 1], row[3 * x + 2]))
            else:
                g = np.float32(row[x])
            m = background[x]
            moves = abs(g - m) > limit and not (use_exclude and skip[x] != 0)
            out[x] = np.uint8(255) if moves else np.uint8(0)
            background[x] = m + (g - m) * gain if use_float else g


@njit(cache=True, nogil=True, parallel=True)
def _motion_parallel(
    bands: int, src: np.ndarray, channels: int, model: np.ndarray, mask: np.ndarray,
    threshold: float, alpha: float, use_float: bool, exclude: np.ndarray, use_exclude: bool,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _motion_band(band, bands, src, channels, model, mask, threshold, alpha, use_float,
                     exclude, use_exclude)


@njit(cache=True, nogil=True)
def _clear_band(band: int, bands: int, mask: np.ndarray, exclude: np.ndarray) -> None:
    """Rows of band ``band``: ``mask`` = 0 where ``exclude`` is nonzero."""
    height, width = mask.shape
    for y in range(band * height // bands, (band + 1) * height // bands):
        out = mask[y]
        skip = exclude[y]
        for x in range(width):
            if skip[x] != 0:
                out[x] = 0


@njit(cache=True, nogil=True, parallel=True)
def _clear_parallel(bands: int, mask: np.ndarray, exclude: np.ndarray) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _clear_band(band, bands, mask, exclude)


_NO_EXCLUDE = np.zeros((1, 1), np.uint8)


def _require_exclude(exclude: np.ndarray | None, height: int, width: int) -> np.ndarray | None:
    """``exclude`` as a (H, W) uint8 view (a bool array is viewed, not copied), or None."""
    if exclude is None:
        return None
    if not isinstance(exclude, np.ndarray) or exclude.dtype not in (np.bool_, np.uint8) \
            or exclude.shape != (height, width):
        raise ValueError(f"exclude must be bool or uint8 with shape ({height}, {width}), got {describe(exclude)}")
    if not exclude.flags.c_contiguous:
        raise ValueError("exclude must be C-contiguous (use numpy.ascontiguousarray)")
    return exclude.view(np.uint8)


@njit(cache=True, nogil=True)
def _load_gray(src: np.ndarray, channels: int, model: np.ndarray) -> None:
    """``model`` (H, W) float32 = gray of ``src`` (H, W * channels) uint8."""
    height, width = model.shape
    for y in range(height):
        row = src[y]
        target = model[y]
        for x in range(width):
            if channels == 3:
                target[x] = np.float32(gray_value(row[3 * x], row[3 * x + 1], row[3 * x + 2]))
            else:
                target[x] = np.float32(row[x])


class MotionDetector:
    """Find what moves in a video stream; one object per stream (it keeps the model).

    Per frame, on the luma (cv2's BGR2GRAY):

    1. difference: ``method="background"`` compares with a running-average background
       ``m`` (float32), then updates it everywhere, ``m = (1 - alpha) m + alpha g``
       (``cv2.accumulateWeighted``), so objects that stop fade into the background
       after about ``1 / alpha`` frames; ``method="diff"`` compares with the previous
       frame (only the moving edges of uniform objects show);
    2. mask: 255 where ``|g - m| > threshold`` levels;
    3. clean-up: morphological opening (removes specks and noise) then closing (fills
       holes) with ``ksize x ksize`` squares (0 skips it);
    4. regions: bounding boxes of the 8-connected components of at least ``min_area``
       pixels;
    5. score: the fraction of moving pixels of the cleaned mask.

    Pixels of an ``exclude`` mask (trees, a road outside the property) never move: they
    are cleared before the clean-up (so their motion cannot spill over the border by a
    closing) and after it (so a closing cannot fill them in); boxes and score count only
    what is left.

    A scene cut (:class:`SceneCut`), a change of shape or :meth:`reset` restarts the
    model from the current frame, which then reports no motion and ``reset=True``.

    Parameters
    ----------
    method : {"background", "diff"}
    threshold : float
        Luma difference (levels) above which a pixel moves; in (0, 255).
    alpha : float
        Background learning rate in (0, 1] (``"background"`` only).
    ksize : int
        Clean-up window, odd 1-31, or 0 for no clean-up.
    min_area : int
        Smallest region reported as a box, in pixels (>= 1).
    scene_cut : SceneCut or None
        Cut detector; None creates the default one.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import MotionDetector
    >>> detector = MotionDetector(min_area=4)
    >>> still = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> detector.update(still).reset   # the first frame starts the model
    True
    >>> detector.update(still).score   # nothing moved
    0.0
    >>> moved = still.copy(); moved[8:16, 8:16] = 255   # an 8x8 object appears
    >>> result = detector.update(moved)
    >>> result.score > 0, result.boxes.tolist()
    (True, [[8, 8, 16, 16]])
    """

    def __init__(
        self,
        method: str = "background",
        *,
        threshold: float = 25.0,
        alpha: float = 0.05,
        ksize: int = 3,
        min_area: int = 100,
        scene_cut: SceneCut | None = None,
    ) -> None:
        self.method = require_choice("method", method, _METHODS)
        if not (math.isfinite(threshold) and 0 < threshold < 255):
            raise ValueError(f"threshold must be in (0, 255), got {threshold!r}")
        if not (math.isfinite(alpha) and 0 < alpha <= 1):
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        if isinstance(ksize, bool) or not isinstance(ksize, (int, np.integer)) or not (
            ksize == 0 or (1 <= ksize <= 31 and ksize % 2 == 1)
        ):
            raise ValueError(f"ksize must be 0 or an odd int in [1, 31], got {ksize!r}")
        if isinstance(min_area, bool) or not isinstance(min_area, (int, np.integer)) or min_area < 1:
            raise ValueError(f"min_area must be an int >= 1, got {min_area!r}")
        self.threshold = float(threshold)
        self.alpha = float(alpha)
        self.ksize = int(ksize)
        self.min_area = int(min_area)
        self.scene_cut = scene_cut if scene_cut is not None else SceneCut()
        self._model: np.ndarray | None = None
        self._raw: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._work = ComponentBoxes()
        self._scratch: np.ndarray | None = None
        self._started = False

    def reset(self) -> None:
        """Forget the model: the next frame restarts it."""
        self._started = False
        self.scene_cut.reset()

    def update(
        self, image: np.ndarray, *, mask_out: np.ndarray | None = None, keep_mask: bool = True,
        exclude: np.ndarray | None = None,
    ) -> MotionResult:
        """Feed the next frame; return where it moves.

        Parameters
        ----------
        image : numpy.ndarray, shape (H, W, 3) BGR or (H, W) gray, uint8, C-contiguous
        exclude : numpy.ndarray, shape (H, W), bool or uint8, optional, keyword-only
            Nonzero where motion is ignored (masked areas); see the class docstring.
        mask_out : numpy.ndarray, shape (H, W), uint8, optional, keyword-only
            Where to write the mask; by default a new array each call, because the
            result usually outlives the next call (it travels with its frame).
        keep_mask : bool, keyword-only
            False returns ``mask=None`` and allocates nothing frame-sized.

        Returns
        -------
        MotionResult

        Raises
        ------
        TypeError, ValueError
            On a wrong dtype, shape or layout.
        """
        image = require_image("image", image, channels=(None, 3))
        height, width = image.shape[:2]
        channels = 1 if image.ndim == 2 else 3
        excluded = _require_exclude(exclude, height, width)
        flat = image.reshape(height, width * channels)
        if self._model is None or self._model.shape != (height, width):
            self._model = np.empty((height, width), np.float32)
            self._raw = np.empty((height, width), np.uint8)
            self._mask = np.empty((height, width), np.uint8)
            self._started = False
        cut = self.scene_cut.update(image)
        if cut or not self._started:
            _load_gray(flat, channels, self._model)
            self._started = True
            mask = require_out(mask_out, (height, width), np.uint8, name="mask_out") if keep_mask else None
            if mask is not None:
                mask[:] = 0
            return MotionResult(mask, np.empty((0, 4), np.int32), np.empty(0, np.int64), 0.0, True)
        assert self._raw is not None and self._mask is not None
        use_float = self.method == "background"
        run_bands(
            _motion_band, _motion_parallel, thread_count(height),
            flat, channels, self._model, self._raw, self.threshold, self.alpha, use_float,
            _NO_EXCLUDE if excluded is None else excluded, excluded is not None,
        )
        cleaned = self._raw
        if self.ksize > 1:
            bands = thread_count(height)
            length = morphology_scratch_length(width, self.ksize)
            if self._scratch is None or self._scratch.shape[0] < bands or self._scratch.shape[1] < length:
                self._scratch = np.empty((bands, length), np.float32)
            rows = require_scratch(self._scratch, bands, length)
            morphology(self._raw, op="open", ksize=self.ksize, out=self._mask, scratch=rows)
            morphology(self._mask, op="close", ksize=self.ksize, out=self._raw, scratch=rows)
            if excluded is not None:  # a closing may fill excluded pixels between moving ones
                run_bands(_clear_band, _clear_parallel, thread_count(height), self._raw, excluded)
        boxes, areas, moving = connected_boxes(cleaned, min_area=self.min_area, work=self._work)
        score = moving / float(height * width)
        mask = None
        if keep_mask:
            mask = require_out(mask_out, (height, width), np.uint8, name="mask_out")
            mask[:] = cleaned
        return MotionResult(mask, boxes, areas, score, False)
