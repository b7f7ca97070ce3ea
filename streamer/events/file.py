"""``NAME.events.jsonl``: every event record of a camera, one JSON object a line.

A subscriber of the camera's :class:`~streamer.bus.EventBus`. Each record is written at once
(one ``write`` of a whole line: events are a few a second at most, and a line on disk as
soon as it happens is what ``tail -f`` and a crash want), so an interrupted run leaves a
valid file. A live camera's file is appended to across process restarts (each run starts
with a ``start`` record: counts start from zero); a file source's is replaced by a re-run,
like the detections JSONL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from streamer.bus import Record
from streamer.errors import SinkError
from streamer.events.config import KINDS
from streamer.outputs.jsonl import JsonlSink

log = logging.getLogger("streamer")

#: Record kinds the file holds (``stats`` records and the like stay in the detections JSONL).
RECORDED = frozenset({*KINDS, "start"})


class EventsFile:
    """Writes the bus's event records to a JSONL file.

    Parameters
    ----------
    path : Path
        The file (checked beforehand by :func:`streamer.outputs.paths.check_outputs`).
    append : bool, keyword-only
        Keep what an earlier run wrote (a live camera) instead of replacing it.
    wants : callable, keyword-only
        ``wants(kind)``: whether records of that kind are written.

    Raises
    ------
    SinkError
        The file cannot be created.
    """

    def __init__(self, path: Path, *, append: bool = False,
                 wants: Callable[[str], bool] = lambda kind: True) -> None:
        self.path = Path(path)
        self.wants = wants
        self._sink = JsonlSink(self.path, [], flush_every=0.0, append=append)
        self.error: SinkError | None = None

    @property
    def lines(self) -> int:
        return self._sink.lines

    def __call__(self, record: Record) -> None:
        """The bus subscriber: write ``record`` if its kind is recorded and wanted.

        Raises
        ------
        SinkError
            The write failed (the bus logs it once and counts the rest); the file still
            ends on a whole line.
        """
        kind = record.get("event")
        if kind not in RECORDED or not self.wants(kind):
            return
        try:
            self._sink.write_record(record, if_open=True)
        except SinkError as exc:
            self.error = self.error or exc
            raise

    def close(self) -> None:
        """Close the file (idempotent); records published later are ignored."""
        self._sink.close()
