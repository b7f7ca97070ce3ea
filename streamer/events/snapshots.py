"""Snapshots: per event, a JPEG of the annotated frame with the object highlighted, and a crop.

Written by an :class:`~streamer.outputs.base.Output` in its own thread, so JPEG encoding
never runs in the analytics thread: the event publisher only names the files (the names
go into the event record) and hangs the records on their frame (``Frame.events``).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.events.names import mark_jpeg
from streamer.events.retention import Retention
from streamer.frames import Frame
from streamer.outputs.paths import os_reason
from streamer.overlay import draw_label
from streamer.queues import Policy

log = logging.getLogger("streamer")

#: Highlight colour (BGR yellow): none of the class colours, visible on most scenes.
HIGHLIGHT = (0, 230, 255)
JPEG_QUALITY = 90


def crop_box(box: Any, width: int, height: int) -> tuple[int, int, int, int] | None:
    """``(x1, y1, x2, y2)`` float box -> whole pixels covering it, clipped to the picture;
    None when nothing of it is inside."""
    x1, y1 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x2, y2 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def highlighted(image: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """A copy of ``image`` with the record's box framed in :data:`HIGHLIGHT` and a caption
    (``cross gate in #7 person 0.91``)."""
    scene = image.copy()
    x1, y1, x2, y2 = (round(v) for v in record["box"])
    thickness = max(2, round(min(image.shape[:2]) / 240))
    pad = thickness + 1  # around the overlay's own box, not over it
    cv2.rectangle(scene, (x1 - pad, y1 - pad), (x2 + pad, y2 + pad), HIGHLIGHT, thickness, cv2.LINE_AA)
    words = [record["event"], record.get("zone") or record.get("line"), record.get("direction"),
             f"#{record['track_id']}" if record.get("track_id") is not None else None, record.get("label"),
             f"{record['score']:.2f}" if record.get("score") is not None else None]
    scale = max(0.4, min(image.shape[:2]) / 900.0)
    draw_label(scene, " ".join(str(w) for w in words if w), (x1 - pad, y1 - pad - thickness), HIGHLIGHT,
               scale=scale, thickness=max(1, thickness - 1))
    return scene


def write_jpeg(path: Path, image: np.ndarray) -> int:
    """Encode ``image`` (H, W, 3) BGR and write it under ``path`` atomically (a ``.part``
    name, then a rename), marked as ours. Returns the bytes written.

    Raises
    ------
    OSError
        Writing failed (the temporary file is removed).
    """
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"JPEG encoding of a {image.shape} picture failed")
    payload = mark_jpeg(data.tobytes())
    part = path.with_name(path.stem + ".part.jpg")
    try:
        with open(part, "wb") as fh:
            fh.write(payload)
        os.replace(part, path)
    except BaseException:
        try:
            part.unlink()
        except OSError:
            pass
        raise
    return len(payload)


class SnapshotOutput:
    """The snapshots of one camera, as an Output (``BLOCK``).

    Why ``BLOCK``: the output's queue holds every finished frame, and most carry no event;
    under ``LATEST`` a burst of plain frames would push an event's frame out of the queue
    and lose its snapshot, although the events file already names it. Frames without an
    event cost a list check; a snapshot costs a copy, two JPEG encodes and two writes
    (measured 3.5 ms of CPU at 1280x720, a 140x320 crop), so a burst of events or a slow
    disk holds a file run back and makes a live run drop stale frames upstream (counted),
    never snapshots.

    A failed write (a full disk) is logged once and counted in ``failed``; it does not stop
    the run (the events file and the other outputs go on).

    Parameters
    ----------
    retention : Retention, optional
        Told of each file written (it may delete old ones).
    """

    name = "snapshots"
    policy = Policy.BLOCK

    def __init__(self, retention: Retention | None = None) -> None:
        self.retention = retention
        self.written = 0
        self.failed = 0

    def write(self, frame: Frame) -> None:
        for record in frame.events:
            if "snapshot" in record:
                self._snapshot(frame.image, record)

    def _snapshot(self, image: np.ndarray, record: dict[str, Any]) -> None:
        height, width = image.shape[:2]
        files = [(Path(record["snapshot"]), highlighted(image, record))]
        box = crop_box(record["box"], width, height)
        if box is not None and record.get("crop"):
            x1, y1, x2, y2 = box
            files.append((Path(record["crop"]), image[y1:y2, x1:x2]))
        for path, picture in files:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_jpeg(path, picture)
            except OSError as exc:
                self.failed += 1
                if self.failed == 1:
                    log.warning("%s: snapshot not written (%s); further failures are counted", path, os_reason(exc))
                continue
            self.written += 1
            if self.retention is not None:
                self.retention.add(path)

    def close(self) -> None:
        if self.failed:
            log.warning("snapshots: %d not written", self.failed)

