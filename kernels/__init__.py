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
    Filters use reflect-101 (``gfedcb|abcdefgh|gfedcba``), OpenCV's default; the
    resize replicates edge pixels, as ``cv2.resize`` does.
Numerics
    float32 arithmetic, rounded half up to uint8.  Each kernel states how far it is
    from its OpenCV equivalent (exact, or within 1 level).
Threading
    Each kernel splits its output rows into one band per Numba thread of the calling
    thread (``numba.set_num_threads``): with one thread the serial code runs and
    never enters Numba's threading layer.  Importing this package selects the
    ``workqueue`` layer (unless ``NUMBA_THREADING_LAYER`` is set), whose idle
    threads sleep instead of spinning; as it is not thread-safe, multi-thread
    launches are serialised by a lock.  All compiled code releases the GIL and is
    cached on disk; call :func:`warmup` at start-up.
"""

from . import _threading  # noqa: F401  (selects the threading layer before any kernel runs)
from ._color import color_adjust
from ._edges import edge_overlay, sobel_edges
from ._gaussian import gaussian_blur
from ._preprocess import preprocess
from ._warmup import warmup

__all__ = [
    "color_adjust",
    "edge_overlay",
    "gaussian_blur",
    "preprocess",
    "sobel_edges",
    "warmup",
]
