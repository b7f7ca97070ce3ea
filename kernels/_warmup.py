"""Compile (or load from Numba's cache) every kernel before the first frame arrives."""

from __future__ import annotations

import time
from collections.abc import Callable

import numba
import numpy as np

from ._bilateral import bilateral_filter
from ._canny import canny_edges
from ._clahe import Clahe
from ._color import color_adjust, color_lut
from ._convert import bgr_to_gray, bgr_to_i420, bgr_to_yuv, i420_to_bgr, yuv_to_bgr
from ._edges import edge_overlay, scharr_edges, sobel_edges
from ._fused import fused_filter
from ._gaussian import gaussian_blur
from ._median import median_blur
from ._motion import MotionDetector
from ._preprocess import preprocess
from ._resize import resize
from ._temporal import TemporalDenoiser


def _calls(frame: np.ndarray, gray: np.ndarray) -> dict[str, Callable[[], object]]:
    """One call per kernel family, on tiny inputs of the layouts the pipeline uses."""
    model_input = np.empty((1, 3, 4, 4), np.float32)

    def motion() -> None:
        for method in ("background", "diff"):
            detector = MotionDetector(method, min_area=1)
            detector.update(frame)
            detector.update(frame[::-1].copy())

    def temporal() -> None:
        denoiser = TemporalDenoiser(spatial=2)
        denoiser.apply(frame)
        denoiser.apply(frame)
        TemporalDenoiser().apply(gray)

    return {
        "preprocess": lambda: preprocess(frame, model_input, resize="letterbox"),
        "gaussian": lambda: (gaussian_blur(frame), gaussian_blur(gray), gaussian_blur(frame, ksize=7)),
        "median": lambda: (median_blur(frame), median_blur(gray)),
        "bilateral": lambda: (bilateral_filter(frame), bilateral_filter(gray)),
        "temporal": temporal,
        "color": lambda: (color_adjust(frame, gamma=1.2, saturation=1.2),
                          color_adjust(frame, white_balance="whitepatch")),
        "clahe": lambda: (Clahe().apply(frame), Clahe().apply(gray)),
        "convert": lambda: (bgr_to_gray(frame), yuv_to_bgr(bgr_to_yuv(frame)),
                            i420_to_bgr(bgr_to_i420(frame))),
        "edges": lambda: (edge_overlay(frame, sobel_edges(frame)), sobel_edges(gray),
                          scharr_edges(frame), canny_edges(frame), canny_edges(gray)),
        "motion": motion,
        "resize": lambda: (resize(frame, (3, 2)), resize(frame, (3, 2), method="area"),
                           resize(frame, (5, 3), method="area"), resize(gray, (3, 2))),
        "fused": lambda: fused_filter(frame, blur=3, lut=color_lut(), saturation=1.1,
                                      edges="sobel"),
    }


FAMILIES: tuple[str, ...] = tuple(_calls(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.uint8)))


def warmup(families: tuple[str, ...] | list[str] | None = None) -> float:
    """Compile or cache-load kernels for the dtypes and layouts the pipeline uses.

    Runs each chosen kernel family on tiny inputs (uint8 BGR and gray frames, float32
    model input), once with one Numba thread and once with ``NUMBA_NUM_THREADS``, so
    both the serial band functions and the ``prange`` drivers are ready.  The caller's
    thread count is restored afterwards.

    Parameters
    ----------
    families : sequence of str, optional
        Names from :data:`FAMILIES` (e.g. those a stream's chain uses); None warms
        every family.

    Returns
    -------
    float
        Seconds it took (about a second from Numba's on-disk cache for every family,
        a few minutes for a first compile).

    Raises
    ------
    ValueError
        On an unknown family name.
    """
    start = time.perf_counter()
    frame = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    gray = np.ascontiguousarray(frame[:, :, 1])
    calls = _calls(frame, gray)
    chosen = FAMILIES if families is None else tuple(families)
    unknown = sorted(set(chosen) - set(calls))
    if unknown:
        raise ValueError(f"unknown kernel families {unknown} (known: {', '.join(FAMILIES)})")
    previous = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            for name in chosen:
                calls[name]()
    finally:
        numba.set_num_threads(previous)
    return time.perf_counter() - start
