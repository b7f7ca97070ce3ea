"""Per-frame detections as JSON Lines (schema in the README)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamer.errors import SinkError
from streamer.frames import Frame
from streamer.outputs.paths import os_reason
from streamer.queues import Policy


class JsonlSink:
    """Write one JSON object per frame.

    Each line: ``{"frame": int, "pts": int | null, "time": float | null,
    "detected": bool, "detections": [{"label", "class_id", "score", "box": [x1, y1, x2, y2]}]}``
    with boxes in source-image pixels; live frames add ``wall_time`` (capture, epoch
    seconds) and ``age_ms`` (capture to written). Other records (source state changes,
    periodic stats) have an ``event`` key instead of ``frame``.

    The file is written under its final name as the run goes (it can be followed with
    ``tail -f``), but only ever in whole lines: lines are collected and written together at
    least every ``flush_every`` seconds (and by :meth:`close`), and a write that fails part
    way (a full disk) is cut back to the last whole line. The error names the file and the
    reason (``out/a.detections.jsonl: no space left on device``).

    It is an :class:`~streamer.outputs.base.Output` (``BLOCK``: never drops a frame).
    """

    name = "jsonl"
    policy = Policy.BLOCK

    def __init__(self, path: str | Path, labels: Sequence[str], *, flush_every: float = 1.0,
                 append: bool = False) -> None:
        self.path = Path(path)
        self._labels = list(labels)
        self._flush_every = flush_every
        self._last_flush = time.monotonic()
        self.lines = 0
        self._pending: list[str] = []
        self._size = 0  # bytes on disk, all whole lines
        self._error: SinkError | None = None
        # Frames come from the output stage, events from a source thread, stats from
        # the caller: one lock keeps each line whole.
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o666)
            if append:  # after what an earlier run wrote, without a line a crash cut short
                self._size = _whole_lines(self.path)
                os.ftruncate(self._fd, self._size)
        except OSError as exc:
            raise SinkError(f"{self.path}: cannot create ({os_reason(exc)})") from None

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
        if frame.analytics is not None:
            record["counts"] = frame.analytics.counts_record()
        self.write_record(record)
        if frame.analytics is not None:
            # Right after the frame that decided them, so the file stays in frame order.
            for event in frame.analytics.events:
                self.write_record(event.to_record())

    def write_record(self, record: dict[str, Any], *, if_open: bool = False) -> None:
        """Write any JSON-serialisable object as one line (events, summaries).

        With ``if_open``, a closed file is not an error (an event from a live source
        thread that outlived the run).
        """
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            if self._fd is None or self._error is not None:
                if if_open:
                    return
                raise self._error or SinkError(f"{self.path}: already closed")
            self._pending.append(line)
            self.lines += 1
            now = time.monotonic()
            if now - self._last_flush >= self._flush_every:
                self._last_flush = now
                self._flush()

    def _flush(self) -> None:
        """Write the pending lines (lock held); on failure cut the file back to whole lines."""
        if not self._pending or self._fd is None:
            return
        data = "".join(self._pending).encode("utf-8")
        self._pending.clear()
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            # Keep every line that fitted, whole: cut after the last newline written.
            self._size += data.rfind(b"\n", 0, done) + 1
            self._error = SinkError(f"{self.path}: {os_reason(exc)}")
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise self._error from None
        self._size += len(data)

    def close(self) -> None:
        """Write what is pending and close the file (idempotent).

        Raises
        ------
        SinkError
            The last lines could not be written (the file still ends on a whole line).
        """
        with self._lock:
            fd = self._fd
            try:
                if self._error is None:
                    self._flush()
            finally:
                self._fd = None
                if fd is not None:
                    os.close(fd)


def _whole_lines(path: Path) -> int:
    """Bytes of ``path`` up to and including its last newline."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - (1 << 16)))
        tail = fh.read()
    cut = tail.rfind(b"\n")
    if cut >= 0:
        return size - len(tail) + cut + 1
    return 0 if size <= (1 << 16) else size  # one line longer than 64 KiB: keep it
