"""Input checks shared by the public kernel wrappers (messages say exactly what is wrong)."""

from __future__ import annotations

import numpy as np


def describe(array: object) -> str:
    """Return ``"<dtype> <shape>"`` for an array, or the type name for anything else."""
    if isinstance(array, np.ndarray):
        return f"{array.dtype} {array.shape}"
    return type(array).__name__


def require_image(
    name: str, image: object, *, channels: tuple[int | None, ...]
) -> np.ndarray:
    """Check that ``image`` is a non-empty C-contiguous uint8 image.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    image : object
        Candidate array.
    channels : tuple of (int or None)
        Accepted layouts: ``None`` accepts (H, W); an int ``C`` accepts (H, W, C).

    Returns
    -------
    numpy.ndarray
        ``image`` itself, shape (H, W) or (H, W, C), uint8.

    Raises
    ------
    TypeError
        If ``image`` is not a uint8 ndarray.
    ValueError
        If its shape, size or memory layout is not accepted.
    """
    # Messages are built only on failure: formatting them costs ~10 us per call.
    def expected() -> str:
        layouts = " or ".join("(H, W)" if c is None else f"(H, W, {c})" for c in channels)
        return f"{name} must be uint8 with shape {layouts}, got {describe(image)}"

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(expected())
    shape_ok = (image.ndim == 2 and None in channels) or (
        image.ndim == 3 and image.shape[2] in channels
    )
    if not shape_ok:
        raise ValueError(expected())
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must not be empty, got shape {image.shape}")
    if not image.flags.c_contiguous:
        raise ValueError(
            f"{name} must be C-contiguous (use numpy.ascontiguousarray), got strides "
            f"{image.strides} for shape {image.shape}"
        )
    return image


def require_out(
    out: np.ndarray | None, shape: tuple[int, ...], dtype: type, *, name: str = "out"
) -> np.ndarray:
    """Return ``out`` after checking it, or a new empty array when it is None.

    Parameters
    ----------
    out : numpy.ndarray or None
        Caller-supplied destination buffer.
    shape : tuple of int
        Required shape.
    dtype : numpy dtype class
        Required dtype.
    name : str, optional
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        A C-contiguous array of ``shape`` and ``dtype``.

    Raises
    ------
    TypeError
        If ``out`` has the wrong dtype or is not an ndarray.
    ValueError
        If ``out`` has the wrong shape or is not C-contiguous.
    """
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.shape != shape:
        expected = f"{name} must be {np.dtype(dtype)} with shape {shape}, got {describe(out)}"
        if not isinstance(out, np.ndarray) or out.dtype != dtype:
            raise TypeError(expected)
        raise ValueError(expected)
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a writeable C-contiguous array")
    return out


def require_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Check that a string option is one of ``choices``; return it."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value  # type: ignore[return-value]


def require_triple(name: str, value: object) -> tuple[float, float, float]:
    """Convert a 3-sequence of finite numbers to a tuple of floats.

    Raises
    ------
    ValueError
        If ``value`` does not hold exactly three finite numbers.
    """
    try:
        triple = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three numbers, got {value!r}") from None
    if len(triple) != 3 or not all(np.isfinite(triple)):
        raise ValueError(f"{name} must be three finite numbers, got {value!r}")
    return triple  # type: ignore[return-value]


def require_scratch(scratch: np.ndarray | None, bands: int, length: int) -> np.ndarray:
    """Return ``bands`` float32 scratch rows of at least ``length`` elements each.

    Parameters
    ----------
    scratch : numpy.ndarray or None
        Caller-kept buffer, float32, shape (T, N) with T >= ``bands`` and N >=
        ``length``, C-contiguous; None allocates one for this call.
    bands : int
        Number of row bands (threads) of this call.
    length : int
        Elements each band needs.

    Returns
    -------
    numpy.ndarray, shape (bands, N), float32
        A view of ``scratch`` (or a new array), one row per band.

    Raises
    ------
    TypeError, ValueError
        If ``scratch`` is too small, not float32 or not C-contiguous.
    """
    if scratch is None:
        return np.empty((bands, length), np.float32)
    def expected() -> str:
        return (
            f"scratch must be float32 with shape (T, N), T >= {bands} (Numba threads) and "
            f"N >= {length}, C-contiguous, got {describe(scratch)}"
        )

    if not isinstance(scratch, np.ndarray) or scratch.dtype != np.float32:
        raise TypeError(expected())
    if scratch.ndim != 2 or scratch.shape[0] < bands or scratch.shape[1] < length:
        raise ValueError(expected())
    if not scratch.flags.c_contiguous or not scratch.flags.writeable:
        raise ValueError(expected() + " (not a writeable C-contiguous array)")
    return scratch[:bands]
