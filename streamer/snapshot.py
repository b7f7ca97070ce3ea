"""``streamer snapshot``: one frame of a source with a pixel grid, to read zone and line coordinates off.

The grid is drawn every ``step`` pixels of the *source* picture (the units a zone or line
in ``px`` uses), each line labelled with its coordinate; every fifth line is brighter.
With a config file, its zones, lines and masks are drawn too, so a user sees what the
numbers they typed cover before running a camera for hours.

>>> from streamer.snapshot import draw_grid
>>> import numpy as np
>>> draw_grid(np.zeros((90, 160, 3), np.uint8), step=40).shape
(90, 160, 3)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from streamer.errors import ConfigError, SourceError
from streamer.frames import Frame
from streamer.outputs.paths import os_reason
from streamer.overlay import _scale_for, draw_label
from streamer.sources.urls import is_live, mask_credentials, output_stem

GRID_COLOR = (90, 90, 90)        # BGR: dim enough to read the picture through
MAJOR_COLOR = (0, 230, 255)      # every fifth line, labelled
SHAPE_COLORS = {"zone": (0, 200, 255), "line": (255, 255, 255), "mask": (60, 60, 255)}


def draw_grid(image: np.ndarray, *, step: int = 50) -> np.ndarray:
    """Draw a pixel grid on ``image`` in place and return it.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        BGR picture.
    step : int
        Pixels between grid lines (at least 4).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        ``image``, with lines every ``step`` pixels and every fifth one labelled with its
        x or y coordinate.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if step < 4:
        raise ValueError(f"grid step must be at least 4 pixels, got {step}")
    h, w = image.shape[:2]
    scale, thickness = _scale_for(image)
    scale *= 0.8
    for major in (False, True):  # majors drawn last, over the minors
        for n, x in enumerate(range(0, w, step)):
            if (n % 5 == 0) == major:
                cv2.line(image, (x, 0), (x, h - 1), MAJOR_COLOR if major else GRID_COLOR, 1)
        for n, y in enumerate(range(0, h, step)):
            if (n % 5 == 0) == major:
                cv2.line(image, (0, y), (w - 1, y), MAJOR_COLOR if major else GRID_COLOR, 1)
    label = max(1, thickness - 1)
    for x in range(5 * step, w, 5 * step):
        draw_label(image, str(x), (x + 2, int(18 * scale) + 6), (0, 0, 0), scale=scale, thickness=label)
    for y in range(5 * step, h, 5 * step):
        draw_label(image, str(y), (2, y - 2), (0, 0, 0), scale=scale, thickness=label)
    return image


def draw_shapes(image: np.ndarray, zones: Sequence, lines: Sequence, masks: Sequence) -> np.ndarray:
    """Outline a camera's zones, lines (with their margin band) and masks on ``image`` in place.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        The source picture (shapes in ``fraction`` units scale to its size).
    zones, lines, masks : sequences of ZoneConfig, LineConfig, MaskConfig
        From :class:`streamer.config.RunSettings`.
    """
    h, w = image.shape[:2]
    scale, thickness = _scale_for(image)
    for kind, shapes in (("mask", masks), ("zone", zones)):
        for i, shape in enumerate(shapes):
            points = np.round(shape.pixels((w, h))).astype(np.int32)
            cv2.polylines(image, [points], True, SHAPE_COLORS[kind], thickness + 1, cv2.LINE_AA)
            name = getattr(shape, "name", None) or f"{kind} {i + 1}"
            top = points[np.argmin(points[:, 1])]
            draw_label(image, f"{kind} {name}" if kind == "zone" else name, (int(top[0]), int(top[1])),
                       SHAPE_COLORS[kind], scale=scale, thickness=thickness)
    for line in lines:
        (x0, y0), (x1, y1), margin = line.pixels((w, h))
        start, end = np.array([x0, y0]), np.array([x1, y1])
        normal = np.array([y0 - y1, x1 - x0])
        normal = normal / max(float(np.hypot(*normal)), 1e-9) * margin
        for side in (normal, -normal):  # the band an anchor must leave to count a crossing
            a, b = np.round(start + side).astype(int), np.round(end + side).astype(int)
            cv2.line(image, tuple(a), tuple(b), (160, 160, 160), 1, cv2.LINE_AA)
        cv2.line(image, (round(x0), round(y0)), (round(x1), round(y1)), SHAPE_COLORS["line"], thickness + 1, cv2.LINE_AA)
        draw_label(image, f"line {line.name}", (round(x0), round(y0)), (80, 80, 80), scale=scale, thickness=thickness)
    return image


def grab(source: str, *, at: float = 0.0, timeout: float = 15.0) -> Frame:
    """The first frame of ``source`` at or after ``at`` seconds.

    For a file, ``at`` is on its own timeline (a file shorter than that gives its last
    frame); for a live source, the frame ``at`` wall-clock seconds after the first one.

    Raises
    ------
    SourceError
        The source cannot be opened or has no video frame (within ``timeout`` for a
        live source).
    """
    from streamer.sources import FileSource
    from streamer.sources.live import LiveSource

    live = is_live(source)
    src: FileSource | LiveSource
    if live:
        src = LiveSource(source, retries=0, open_timeout=timeout, duration=at + timeout)
        src.open()
    else:
        src = FileSource(source, audio=False)
        src.open()
    last: Frame | None = None
    try:
        first_wall: float | None = None
        for frame in src.frames():
            last = frame
            if live:
                first_wall = time.monotonic() if first_wall is None else first_wall
                if time.monotonic() - first_wall >= at:
                    break
            elif frame.time is None or frame.time >= at:
                break
    finally:
        src.close()
    if last is None:
        raise SourceError(f"{mask_credentials(source)}: no video frame to take a snapshot of")
    return last


def snapshot_path(source: str, out: Path | None) -> Path:
    """Where the snapshot goes: ``out``, or ``STEM.snapshot.png`` beside a file (in the
    current folder for a live source), numbered ``-2``, ``-3``... so no file is overwritten."""
    if out is not None:
        if out.exists():
            raise ConfigError(f"{out}: already exists; the snapshot never overwrites a file (choose another --out)")
        return out
    folder = Path(".") if is_live(source) else Path(source).parent
    stem = output_stem(source)
    path, n = folder / f"{stem}.snapshot.png", 2
    while path.exists():
        path, n = folder / f"{stem}.snapshot-{n}.png", n + 1
    return path


def write_snapshot(image: np.ndarray, path: Path) -> None:
    """Write ``image`` as PNG (lossless: the grid's pixels stay where they are) or JPEG by suffix."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise ConfigError(f"{path}: a snapshot is written as .png or .jpg, not {suffix or 'no suffix'}")
    ok, data = cv2.imencode(suffix, image)
    if not ok:
        raise ConfigError(f"{path}: the picture could not be encoded")
    try:
        with open(path, "xb") as fh:  # x: never replace a file that appeared meanwhile
            fh.write(data.tobytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the snapshot: {os_reason(exc)}") from None
