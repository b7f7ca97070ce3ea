"""Per-frame detections as JSON Lines (schema in the README)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from streamer.errors import SinkError
from streamer.frames import Frame


class JsonlSink:
    """Write one JSON object per frame.

    Each line: ``{"frame": int, "pts": int | null, "time": float | null,
    "detected": bool, "detections": [{"label", "class_id", "score", "box": [x1, y1, x2, y2]}]}``
    with boxes in source-image pixels; live frames add ``wall_time`` (capture, epoch
    seconds) and ``age_ms`` (capture to written). Other records (source state changes,
    periodic stats) have an ``event`` key instead of ``frame``. Lines are flushed at least every ``flush_every``
    seconds so a crash loses little; :meth:`close` flushes the rest.
    """

    def __init__(self, path: str | Path, labels: Sequence[str], *, flush_every: float = 1.0) -> None:
        self.path = Path(path)
        self._labels = list(labels)
        self._flush_every = flush_every
        self._last_flush = time.monotonic()
        self.lines = 0
        # Frames come from the output stage, events from a source thread, stats from
        # the caller: one lock keeps each line whole.
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: IO[str] | None = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise SinkError(f"{self.path}: cannot create ({exc.strerror})") from None

    def write(self, frame: Frame) -> None:
        record: dict[str, Any] = {
            "frame": frame.index,
            "pts": frame.pts,
            "time": round(frame.time, 6) if frame.time is not None else None,
            "detected": frame.detected,
            "detections": frame.detections.to_records(self._labels) if frame.detections is not None else [],
        }
        if frame.wall_time is not None:
            # Live frames: when it was captured, and how long until it was written.
            record["wall_time"] = round(frame.wall_time, 4)
            record["age_ms"] = round(1000.0 * (time.monotonic() - frame.capture_time), 1)
        self.write_record(record)

    def write_record(self, record: dict[str, Any], *, if_open: bool = False) -> None:
        """Write any JSON-serialisable object as one line (events, summaries).

        With ``if_open``, a closed file is not an error (an event from a live source
        thread that outlived the run).
        """
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            if self._fh is None:
                if if_open:
                    return
                raise SinkError(f"{self.path}: already closed")
            self._fh.write(line)
            self.lines += 1
            now = time.monotonic()
            if now - self._last_flush >= self._flush_every:
                self._fh.flush()
                self._last_flush = now

    def close(self) -> None:
        with self._lock:
            fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()
