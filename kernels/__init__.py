"""Numba image kernels for the per-frame pipeline (installed as ``streamer.kernels``).

This package depends only on numpy and numba.

Conventions
-----------
Layout
    Frames are ``(H, W, 3)`` uint8 BGR as decoded, or ``(H, W)`` uint8 gray, and must
    be C-contiguous.  The detector input is ``(1, 3, h, w)`` or ``(3, h, w)`` float32
    (CHW).  Wrong dtypes raise ``TypeError``, wrong shapes/layouts ``ValueError``,
    both saying what was expected and what was given.
Calling
    Data first, options keyword-only, optional ``out=`` (returned).  Kernels that need
    working memory take an optional ``scratch=``: a float32 ``(T, N)`` array, T at
    least the caller's Numba thread count, N given in each docstring; keep one per
    stream and pass ``out=`` and ``scratch=`` to make a call allocate nothing.
Borders
    Filters use reflect-101 (``gfedcb|abcdefgh|gfedcba``), OpenCV's default, except
    where OpenCV's own equivalent does otherwise and the kernel follows it: the
    median and Canny's gradients replicate edge pixels (cv2.medianBlur, cv2.Canny),
    morphology ignores pixels outside the image (cv2's default), the resizes
    replicate edge pixels (cv2.resize).  Each docstring states its border.
Numerics
    Integer or float32 arithmetic; each kernel states how far it is from its OpenCV
    equivalent (exact, or within 1 level) and how it rounds.
Streams
    Stateful kernels are objects, one per stream: :class:`TemporalDenoiser`,
    :class:`MotionDetector` (both reset themselves on a :class:`SceneCut`, a new
    resolution or ``reset()``) and :class:`Clahe` (buffers only).
Threading
    Each kernel splits its output rows into one band per Numba thread of the calling
    thread (``numba.set_num_threads``): with one thread the serial code runs and
    never enters Numba's threading layer.  Importing this package selects the
    ``workqueue`` layer (unless ``NUMBA_THREADING_LAYER`` is set), whose idle
    threads sleep instead of spinning; as it is not thread-safe, multi-thread
    launches are serialised by a lock.  All compiled code releases the GIL and is
    cached on disk; call :func:`warmup` at start-up.
"""

# Kernel modules, Numba included, load on first use (``kernels.gaussian_blur`` or ``from
# streamer.kernels import gaussian_blur``): importing all of them costs ~0.1 s of a
# start-up that should stay under a second, and a stream uses a few. Numba itself (with
# the SciPy it pulls in) took 0.2-0.4 s, which every command paid, a one-line error about
# a missing file included, because validating a config names the kernel steps. The first
# kernel (or ``warmup``) loads ``_threading`` first, which selects the threading layer.
_MODULES = {
    "bilateral_filter": "_bilateral",
    "box_iou": "_boxes",
    "canny_edges": "_canny",
    "Clahe": "_clahe",
    "clahe": "_clahe",
    "balance_gains": "_color",
    "color_adjust": "_color",
    "color_lut": "_color",
    "bgr_to_gray": "_convert",
    "bgr_to_i420": "_convert",
    "bgr_to_yuv": "_convert",
    "gray_to_bgr": "_convert",
    "i420_to_bgr": "_convert",
    "yuv_to_bgr": "_convert",
    "edge_overlay": "_edges",
    "scharr_edges": "_edges",
    "sobel_edges": "_edges",
    "fused_filter": "_fused",
    "gaussian_blur": "_gaussian",
    "connected_boxes": "_labels",
    "median_blur": "_median",
    "morphology": "_morphology",
    "MotionDetector": "_motion",
    "MotionResult": "_motion",
    "preprocess": "_preprocess",
    "resize": "_resize",
    "SceneCut": "_scene",
    "TemporalDenoiser": "_temporal",
    "warmup": "_warmup",
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    __import__(f"{__name__}._threading")  # the layer, before any kernel can run
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Clahe",
    "MotionDetector",
    "MotionResult",
    "SceneCut",
    "TemporalDenoiser",
    "balance_gains",
    "bgr_to_gray",
    "bgr_to_i420",
    "bgr_to_yuv",
    "bilateral_filter",
    "box_iou",
    "canny_edges",
    "clahe",
    "color_adjust",
    "color_lut",
    "connected_boxes",
    "edge_overlay",
    "fused_filter",
    "gaussian_blur",
    "gray_to_bgr",
    "i420_to_bgr",
    "median_blur",
    "morphology",
    "preprocess",
    "resize",
    "scharr_edges",
    "sobel_edges",
    "warmup",
    "yuv_to_bgr",
]
