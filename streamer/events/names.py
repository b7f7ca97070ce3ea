"""Names of snapshots and clips, and how a file is recognised as one this tool wrote.

A name says camera, time, kind (with the zone or line) and track id, e.g.
``door_12.400s_cross-gate_7.jpg`` (a file: seconds on the source's clock) or
``door_20251130-221200.123_enter-yard_7.mp4`` (a live camera: local wall-clock time).

Only files this tool wrote are ever replaced or deleted (by a re-run or by retention): a
JPEG carries a comment segment ``streamer`` right after its start marker, an MP4 the
container tag ``comment=streamer`` (:data:`streamer.outputs.paths.WRITTEN_BY`).
"""

from __future__ import annotations

import functools
import os
import re
import struct
import time as _time
from pathlib import Path
from typing import Any

from streamer.outputs.paths import WRITTEN_BY, is_streamer_output

#: The JPEG comment segment (COM, 0xFFFE) that marks a snapshot as ours.
_JPEG_MARK = b"\xff\xfe" + struct.pack(">H", 2 + len(WRITTEN_BY)) + WRITTEN_BY.encode()


@functools.lru_cache(maxsize=1024)
def safe(text: str) -> str:
    """``text`` with anything but letters, digits, ``.``, ``-`` and ``_`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip(".") or "_"


def stamp(time: float | None, wall_time: float | None) -> str:
    """``12.400s`` on a source's clock, or ``20251130-221200.123`` (local) for a live frame."""
    if wall_time is not None:
        ms = round((wall_time % 1) * 1000) % 1000
        return _time.strftime("%Y%m%d-%H%M%S", _time.localtime(wall_time)) + f".{ms:03d}"
    return f"{time or 0.0:.3f}s"


def event_stem(camera: str, record: dict[str, Any]) -> str:
    """``camera_stamp_kind[-zone]_track`` for an event record (``wall_time`` set only for a
    live frame, before the bus adds its own)."""
    kind = record["event"]
    where = record.get("zone") or record.get("line")
    if where:
        kind = f"{kind}-{where}"
    track = record.get("track_id")
    parts = [camera, stamp(record.get("time"), record.get("wall_time")), kind]
    if track is not None:
        parts.append(str(track))
    return "_".join(safe(str(p)) for p in parts)


def mark_jpeg(data: bytes) -> bytes:
    """A JPEG's bytes with the ``streamer`` comment segment after the start marker."""
    return data[:2] + _JPEG_MARK + data[2:]


def is_ours(path: Path) -> bool:
    """Whether ``path`` (a snapshot or a clip, finished or not) was written by this tool."""
    try:
        if path.suffix.lower() == ".jpg":
            with path.open("rb") as fh:
                return fh.read(2 + len(_JPEG_MARK))[2:] == _JPEG_MARK
        return path.suffix.lower() == ".mp4" and is_streamer_output(path, "video")
    except OSError:
        return False


class Names:
    """Free names in one folder: never a file that is not ours, never twice in a run's frame.

    The folder is listed once, when this is made: a name an earlier run or the user took
    is checked (is it ours?) only then; names made by this run differ by time. (Checking
    each name on disk cost ~20 us a record on a busy machine, half the publisher's cost.)

    Parameters
    ----------
    folder : Path
    camera : str
    """

    def __init__(self, folder: Path, camera: str) -> None:
        self.folder = folder
        self._dir = str(folder)
        self.camera = safe(camera)
        self._taken: set[str] = set()
        self._stamp: str | None = None
        try:
            self._there = set(os.listdir(folder))
        except OSError:  # not made yet (or unreadable: then writing fails and says so)
            self._there = set()

    def _free(self, name: str) -> bool:
        if name in self._taken:
            return False
        return name not in self._there or is_ours(self.folder / name)

    def take(self, record: dict[str, Any], *suffixes: str) -> list[str]:
        """Paths for ``record``'s files with a common stem, one per suffix (``.jpg``,
        ``_crop.jpg``, ``.mp4``); ``STEM-2...`` when a name was given already on this
        frame or belongs to a file not ours. Strings: they go into records (and building
        ``Path`` objects cost ~15 us a record)."""
        stem = event_stem(self.camera, record)
        now = stamp(record.get("time"), record.get("wall_time"))
        if now != self._stamp:  # names only repeat within one frame's time
            self._stamp, self._taken = now, set()
        for n in range(1, 1000):
            names = [f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}" for suffix in suffixes]
            if all(self._free(name) for name in names):
                self._taken.update(names)
                return [os.path.join(self._dir, name) for name in names]
        raise RuntimeError(f"{self.folder}: no free name for {stem}{suffixes[0]}")
