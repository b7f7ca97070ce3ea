"""The newest finished frame of one camera, as a JPEG, for any number of viewers.

A :class:`LiveView` is an :class:`~streamer.outputs.base.Output` (``LATEST``): its ``write``
only keeps a reference to the frame and wakes whoever waits, so it never holds up the
pipeline. The picture is JPEG-encoded lazily, at most once per frame, by the first viewer
that asks for it, and the same bytes go to every viewer (50 viewers cost one encode a frame,
not 50). A viewer that connects (or reconnects) gets the newest frame at once, then waits
for the next one; a viewer slower than the camera simply skips frames.

Viewers wait either on a :class:`threading.Condition` (:meth:`LiveView.wait_next`) or, from
an asyncio loop, through :meth:`LiveView.add_listener`, whose callback is called (in the
output's thread) once per new frame and must only schedule work (``call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.frames import Frame
from streamer.queues import Policy

log = logging.getLogger("streamer")

#: JPEG quality of live views: 80 keeps boxes and labels crisp at ~1/2 the bytes of 95
#: (a 1280x720 annotated frame: ~110 KB at 80, ~230 KB at 95; ~6 ms to encode on this CPU).
JPEG_QUALITY = 80


@dataclass(frozen=True, slots=True)
class Picture:
    """One encoded frame.

    Attributes
    ----------
    seq : int
        1-based count of frames the view received (increases by one per ``write``).
    index : int
        The frame's index in the source's decode order.
    jpeg : bytes
        The JPEG file.
    capture_time : float
        ``time.monotonic()`` when the frame left the decoder (frame age = now - this).
    """

    seq: int
    index: int
    jpeg: bytes
    capture_time: float


class LiveView:
    """Keeps the newest finished frame of a camera and serves it as JPEG.

    Parameters
    ----------
    camera : str
        The camera's name (for logs).
    quality : int
        JPEG quality, 1-100.
    labels : sequence of str, optional
        Class names, for :meth:`last_detections`.

    Attributes
    ----------
    encoded : int
        JPEG encodes done (at most one per frame).
    frames : int
        Frames received.
    closed : bool
        True once the camera's outputs were closed: waiting viewers are woken and end.
    """

    name = "live-view"
    policy = Policy.LATEST

    def __init__(self, camera: str, *, quality: int = JPEG_QUALITY, labels: Sequence[str] = ()) -> None:
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be 1-100, got {quality}")
        self.camera = camera
        self.labels = tuple(labels)
        self._params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
        self._cond = threading.Condition()
        self._encode_lock = threading.Lock()
        self._frame: Frame | None = None
        self._seq = 0
        self._picture: Picture | None = None
        self._listeners: list[Callable[[], None]] = []
        self.frames = 0
        self.encoded = 0
        self.closed = False

    # -- the Output side (the output's own thread) -----------------------------------------

    def write(self, frame: Frame) -> None:
        """Keep ``frame`` as the newest one and wake the viewers (O(1): no encoding here)."""
        with self._cond:
            self._frame = frame
            self._seq += 1
            self.frames += 1
            self._cond.notify_all()
        self._notify()

    def close(self) -> None:
        """The camera ended: viewers get the last frame, then their streams end."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception as exc:  # noqa: BLE001 - a viewer's loop never takes the output down
                log.debug("live view %s: listener failed: %s", self.camera, exc)

    # -- the viewers' side ---------------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (from the output's thread) after each new frame and on close."""
        self._listeners = [*self._listeners, callback]

    def remove_listener(self, callback: Callable[[], None]) -> None:
        self._listeners = [c for c in self._listeners if c is not callback]

    @property
    def seq(self) -> int:
        """The newest frame's sequence number (0 before the first frame)."""
        return self._seq

    @property
    def latest_frame(self) -> Frame | None:
        """The newest frame itself (read only: it is shared with the other outputs)."""
        return self._frame

    def picture(self) -> Picture | None:
        """The newest frame as JPEG, encoded now if no viewer asked for it yet; None before any.

        Blocks for one encode at most (a few ms; cv2 releases the GIL meanwhile). Call it
        from a worker thread, not from an asyncio loop.
        """
        with self._encode_lock:
            with self._cond:
                frame, seq = self._frame, self._seq
            if frame is None:
                return None
            cached = self._picture
            if cached is not None and cached.seq == seq:
                return cached
            ok, buf = cv2.imencode(".jpg", frame.image, self._params)
            if not ok:  # pragma: no cover - cv2 fails only on bad input
                raise ValueError(f"live view {self.camera}: JPEG encoding failed")
            self.encoded += 1
            self._picture = Picture(seq, frame.index, buf.tobytes(), frame.capture_time)
            return self._picture

    def wait_next(self, after: int, timeout: float | None = None) -> Picture | None:
        """The first picture newer than sequence number ``after`` (the newest at once if there is one).

        Returns None on timeout, or once the view is closed and nothing newer is left.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._seq > after or self.closed, timeout):
                return None
            if self._seq <= after:
                return None
        return self.picture()

    def last_detections(self) -> dict[str, int]:
        """Objects per class label in the newest frame (empty without a detector)."""
        frame = self._frame
        if frame is None or frame.detections is None or len(frame.detections) == 0:
            return {}
        counts = Counter(int(c) for c in np.asarray(frame.detections.class_id))
        return {(self.labels[c] if 0 <= c < len(self.labels) else f"class_{c}"): n for c, n in sorted(counts.items())}
