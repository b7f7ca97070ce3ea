"""CLAHE (contrast-limited adaptive histogram equalisation) on luma, as cv2.createCLAHE."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._borders import reflect101
from ._convert import gray_value
from ._threading import launch_parallel, run_bands, thread_count
from ._validate import require_image, require_out


@njit(cache=True, nogil=True)
def _luma_rows(src: np.ndarray, channels: int, gray: np.ndarray, row_start: int, row_stop: int) -> None:
    """Gray rows ``[row_start, row_stop)`` of ``src`` (H, W * C) into ``gray`` (H, W)."""
    width = gray.shape[1]
    for y in range(row_start, row_stop):
        row = src[y]
        out = gray[y]
        if channels == 3:
            for x in range(width):
                out[x] = np.uint8(gray_value(row[3 * x], row[3 * x + 1], row[3 * x + 2]))
        else:
            for x in range(width):
                out[x] = row[x]


@njit(cache=True, nogil=True)
def _tile_luts(
    band: int, bands: int, gray: np.ndarray, tiles: int, tile_h: int, tile_w: int,
    clip: int, hist: np.ndarray, luts: np.ndarray,
) -> None:
    """Histogram, clip and cumulate the tiles of the tile rows of band ``band``.

    Tiles cover the image padded (reflect-101) at the bottom and right to ``tiles *
    tile_h`` by ``tiles * tile_w``, as cv2 pads it.  ``hist`` (T, 1024) int32 holds this
    band's four sub-histograms; ``luts`` (tiles, tiles, 256) uint8 receives each tile's
    mapping, computed exactly as cv2 does (clip, redistribute with the same residual
    steps, ``round(cumsum * 255 / tile_pixels)`` in float32).
    """
    height, width = gray.shape
    total = tile_h * tile_w
    scale = np.float32(255.0) / np.float32(total)
    # Four interleaved sub-histograms: runs of equal pixels then increment four
    # different counters in turn instead of stalling on one.
    sub = hist[band].reshape(4, 256)
    for ty in range(band * tiles // bands, (band + 1) * tiles // bands):
        for tx in range(tiles):
            for i in range(256):
                sub[0, i] = 0
                sub[1, i] = 0
                sub[2, i] = 0
                sub[3, i] = 0
            x0 = tx * tile_w
            x1 = min(x0 + tile_w, width)
            for y in range(ty * tile_h, (ty + 1) * tile_h):
                row = gray[reflect101(y, height)]
                x = x0
                while x + 4 <= x1:
                    sub[0, row[x]] += 1
                    sub[1, row[x + 1]] += 1
                    sub[2, row[x + 2]] += 1
                    sub[3, row[x + 3]] += 1
                    x += 4
                for x in range(x, x1):
                    sub[0, row[x]] += 1
                for x in range(max(x1, x0), x0 + tile_w):
                    sub[0, row[reflect101(x, width)]] += 1
            counts = sub[0]
            for i in range(256):
                counts[i] += sub[1, i] + sub[2, i] + sub[3, i]
            if clip > 0:
                clipped = 0
                for i in range(256):
                    if counts[i] > clip:
                        clipped += counts[i] - clip
                        counts[i] = clip
                batch = clipped // 256
                residual = clipped - batch * 256
                for i in range(256):
                    counts[i] += batch
                if residual != 0:
                    step = max(256 // residual, 1)
                    i = 0
                    while i < 256 and residual > 0:
                        counts[i] += 1
                        i += step
                        residual -= 1
            lut = luts[ty, tx]
            running = 0
            for i in range(256):
                running += counts[i]
                lut[i] = np.uint8(min(np.rint(np.float32(running) * scale), np.float32(255.0)))


@njit(cache=True, nogil=True, parallel=True)
def _tile_luts_parallel(
    bands: int, gray: np.ndarray, tiles: int, tile_h: int, tile_w: int, clip: int,
    hist: np.ndarray, luts: np.ndarray,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _tile_luts(band, bands, gray, tiles, tile_h, tile_w, clip, hist, luts)


@njit(cache=True, nogil=True)
def _clahe_band(
    band: int, bands: int, scratch: np.ndarray, gray: np.ndarray, src: np.ndarray,
    dst: np.ndarray, channels: int, luts: np.ndarray, tile_h: int, tile_w: int,
) -> None:
    """Interpolate the four nearest tiles' mappings per pixel, as cv2 (float32).

    Gray input: ``dst = mapped``.  BGR: every channel moves by ``mapped - gray``
    (saturated), which is CLAHE on the Y of YUV with U and V kept.  ``scratch[band]``
    holds the per-column tile offsets and weights (4 W floats), computed once per call
    as cv2 does; ``luts`` is (tiles * tiles * 256,) uint8.
    """
    height, width = gray.shape
    tiles = int(math.sqrt(luts.shape[0] // 256) + 0.5)
    buffer = scratch[band]
    first = buffer[:width].view(np.int32)
    second = buffer[width : 2 * width].view(np.int32)
    right = buffer[2 * width : 3 * width]
    left = buffer[3 * width : 4 * width]
    inv_tw = np.float32(1.0) / np.float32(tile_w)
    inv_th = np.float32(1.0) / np.float32(tile_h)
    for x in range(width):
        txf = np.float32(x) * inv_tw - np.float32(0.5)
        tx1 = int(math.floor(txf))
        right[x] = txf - np.float32(tx1)
        left[x] = np.float32(1.0) - right[x]
        first[x] = max(tx1, 0) * 256
        second[x] = min(tx1 + 1, tiles - 1) * 256
    for y in range(band * height // bands, (band + 1) * height // bands):
        tyf = np.float32(y) * inv_th - np.float32(0.5)
        ty1 = int(math.floor(tyf))
        ya = tyf - np.float32(ty1)
        ya1 = np.float32(1.0) - ya
        top = luts[max(ty1, 0) * tiles * 256 : (max(ty1, 0) + 1) * tiles * 256]
        bottom = luts[min(ty1 + 1, tiles - 1) * tiles * 256 : (min(ty1 + 1, tiles - 1) + 1) * tiles * 256]
        row = gray[y]
        pixels = src[y]
        out = dst[y]
        for x in range(width):
            v = np.int32(row[x])
            i1 = first[x] + v
            i2 = second[x] + v
            mapped = (np.float32(top[i1]) * left[x] + np.float32(top[i2]) * right[x]) * ya1 + (
                np.float32(bottom[i1]) * left[x] + np.float32(bottom[i2]) * right[x]
            ) * ya
            level = np.int32(np.rint(mapped))
            if channels == 1:
                out[x] = np.uint8(level)
            else:
                delta = level - v
                out[3 * x] = np.uint8(min(max(np.int32(pixels[3 * x]) + delta, 0), 255))
                out[3 * x + 1] = np.uint8(min(max(np.int32(pixels[3 * x + 1]) + delta, 0), 255))
                out[3 * x + 2] = np.uint8(min(max(np.int32(pixels[3 * x + 2]) + delta, 0), 255))


@njit(cache=True, nogil=True, parallel=True)
def _clahe_parallel(
    bands: int, scratch: np.ndarray, gray: np.ndarray, src: np.ndarray, dst: np.ndarray,
    channels: int, luts: np.ndarray, tile_h: int, tile_w: int,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _clahe_band(band, bands, scratch, gray, src, dst, channels, luts, tile_h, tile_w)


@njit(cache=True, nogil=True, parallel=True)
def _luma_parallel(bands: int, src: np.ndarray, channels: int, gray: np.ndarray) -> None:
    height = gray.shape[0]
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _luma_rows(src, channels, gray, band * height // bands, (band + 1) * height // bands)


class Clahe:
    """Contrast-limited adaptive histogram equalisation of the luma; keeps its buffers.

    Equal to ``cv2.createCLAHE(clip_limit, (tiles, tiles)).apply(gray)`` on a gray
    image.  The image is split into ``tiles x tiles`` tiles (padded at the bottom and
    right by reflect-101 to a multiple, as cv2 does); each tile's histogram is clipped
    at ``clip_limit * tile_pixels / 256`` counts, the excess spread evenly, and its
    cumulative sum gives the tile's mapping; each pixel blends the mappings of the
    four nearest tile centres bilinearly.

    On a BGR frame it equalises the luma ``Y`` (cv2's BGR2GRAY) and adds ``Y' - Y`` to
    every channel, saturating: the YUV chroma is kept, so colours do not shift.

    Parameters
    ----------
    clip_limit : float
        Contrast limit (> 0; 0 disables clipping, i.e. plain adaptive equalisation).
    tiles : int
        Tiles per side, 1 to 64.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import Clahe
    >>> equalise = Clahe(clip_limit=2.0, tiles=2)   # one per stream: it keeps its buffers
    >>> gray = np.tile(np.arange(60, 124, 4, dtype=np.uint8), (16, 1))
    >>> out = equalise.apply(gray)
    >>> out.shape, int(out.max()) - int(out.min()) > int(gray.max()) - int(gray.min())
    ((16, 16), True)
    """

    def __init__(self, clip_limit: float = 2.0, tiles: int = 8) -> None:
        if not (math.isfinite(clip_limit) and clip_limit >= 0):
            raise ValueError(f"clip_limit must be finite and >= 0, got {clip_limit!r}")
        if isinstance(tiles, bool) or not isinstance(tiles, (int, np.integer)) or not 1 <= tiles <= 64:
            raise ValueError(f"tiles must be an int in [1, 64], got {tiles!r}")
        self.clip_limit = float(clip_limit)
        self.tiles = int(tiles)
        self._gray: np.ndarray | None = None
        self._hist = np.empty((1, 1024), np.int32)
        self._luts = np.empty((self.tiles, self.tiles, 256), np.uint8)
        self._scratch = np.empty((1, 0), np.float32)

    def apply(self, image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Equalise ``image`` (H, W) gray or (H, W, 3) BGR uint8; returns ``out``.

        ``out`` (same shape, uint8) may be ``image`` itself.  Raises TypeError or
        ValueError on a wrong dtype, shape or layout.
        """
        image = require_image("image", image, channels=(None, 3))
        out = require_out(out, image.shape, np.uint8)
        height, width = image.shape[:2]
        channels = 1 if image.ndim == 2 else 3
        tiles = self.tiles
        tile_h, tile_w = clahe_tile_size(height, width, tiles)
        total = tile_h * tile_w
        clip = max(int(self.clip_limit * total / 256), 1) if self.clip_limit > 0 else 0
        flat = image.reshape(height, width * channels)
        if channels == 1:
            gray = image
        else:
            if self._gray is None or self._gray.shape != (height, width):
                self._gray = np.empty((height, width), np.uint8)
            gray = self._gray
            run_bands_luma(flat, gray)
        bands = max(1, min(thread_count(height), tiles))
        if self._hist.shape[0] < bands:
            self._hist = np.empty((bands, 1024), np.int32)
        if bands == 1:
            _tile_luts(0, 1, gray, tiles, tile_h, tile_w, clip, self._hist, self._luts)
        else:
            launch_parallel(_tile_luts_parallel, bands, gray, tiles, tile_h, tile_w, clip,
                            self._hist, self._luts)
        bands = thread_count(height)
        if self._scratch.shape[0] < bands or self._scratch.shape[1] < 4 * width:
            self._scratch = np.empty((bands, 4 * width), np.float32)
        run_bands(_clahe_band, _clahe_parallel, bands,
                  self._scratch[:bands], gray, flat, out.reshape(height, width * channels),
                  channels, self._luts.reshape(-1), tile_h, tile_w)
        return out


def clahe_tile_size(height: int, width: int, tiles: int) -> tuple[int, int]:
    """Tile (height, width) as cv2 computes it.

    When either side is not a multiple of ``tiles``, cv2 pads *both* sides by
    ``tiles - side % tiles`` (so a side that is a multiple gains a whole extra
    ``tiles`` pixels) and divides the padded size.
    """
    if height % tiles == 0 and width % tiles == 0:
        return height // tiles, width // tiles
    return (height + tiles - height % tiles) // tiles, (width + tiles - width % tiles) // tiles


def run_bands_luma(flat: np.ndarray, gray: np.ndarray) -> None:
    """Fill ``gray`` (H, W) with the luma of ``flat`` (H, W * 3) on the caller's threads."""
    height = gray.shape[0]
    bands = thread_count(height)
    if bands == 1:
        _luma_rows(flat, 3, gray, 0, height)
    else:
        launch_parallel(_luma_parallel, bands, flat, 3, gray)


def clahe(
    image: np.ndarray,
    *,
    clip_limit: float = 2.0,
    tiles: int = 8,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """CLAHE of a gray or BGR frame: ``Clahe(clip_limit, tiles).apply(image, out=out)``.

    For a stream keep one :class:`Clahe`, which reuses its buffers.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import clahe
    >>> gray = np.tile(np.arange(60, 124, 4, dtype=np.uint8), (16, 1))   # low contrast
    >>> out = clahe(gray, clip_limit=2.0, tiles=2)
    >>> int(out.max()) - int(out.min()) > int(gray.max()) - int(gray.min())   # stretched
    True
    """
    return Clahe(clip_limit, tiles).apply(image, out=out)
