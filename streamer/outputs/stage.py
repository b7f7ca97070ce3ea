"""The pipeline's last stage: hands each finished frame to every output."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import cv2
import numpy as np

from streamer.frames import Frame
from streamer.outputs.jsonl import JsonlSink
from streamer.outputs.video import VideoFileSink


class OutputStage:
    """Writes each frame to every output, in order; closes them whatever happens.

    Sinks are opened lazily by ``open_video`` on the first frame, because the picture
    size is only certain once a frame has been decoded (and kernels ran).
    """

    name = "output"

    def __init__(
        self,
        *,
        open_video: Callable[[Frame], VideoFileSink] | None,
        jsonl: JsonlSink | None,
        age_window: int = 600,
    ) -> None:
        self._open_video = open_video
        self.video: VideoFileSink | None = None
        self.jsonl = jsonl
        self.last_index = -1
        self._ages: deque[float] = deque(maxlen=age_window)
        self._canvas: np.ndarray | None = None

    def start(self) -> None:
        pass

    def _letterbox(self, image: np.ndarray, width: int, height: int) -> np.ndarray:
        """Letterbox a frame whose size changed mid-stream into the output's size."""
        if self._canvas is None or self._canvas.shape[:2] != (height, width):
            self._canvas = np.zeros((height, width, 3), np.uint8)
        self._canvas[:] = 0
        h, w = image.shape[:2]
        scale = min(width / w, height / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        x, y = (width - nw) // 2, (height - nh) // 2
        self._canvas[y:y + nh, x:x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        return self._canvas

    def process(self, frame: Frame) -> None:
        if self._open_video is not None:
            if self.video is None:
                self.video = self._open_video(frame)
            image = frame.image
            if (frame.width, frame.height) != (self.video.width, self.video.height):
                image = self._letterbox(image, self.video.width, self.video.height)
            self.video.write(image, frame.pts, frame.passthrough)
        if self.jsonl is not None:
            self.jsonl.write(frame)
        self.last_index = frame.index
        self._ages.append(1000.0 * (time.monotonic() - frame.capture_time))
        return None

    def ages_ms(self) -> list[float]:
        """Capture-to-written age of the most recent frames, in milliseconds."""
        return list(self._ages)

    def finish(self) -> None:
        errors: list[BaseException] = []
        for sink in (self.video, self.jsonl):
            if sink is None:
                continue
            try:
                sink.close()
            except BaseException as exc:  # noqa: BLE001 - close the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]


