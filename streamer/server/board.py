"""What the server shows: each camera's live view, HLS folder and latest status.

The :class:`Board` is filled by the run's side (the caller's tick: :meth:`Board.update`) and
read by the server's thread; each camera's status is a JSON-ready dict replaced whole, so a
reader never sees half an update. It knows nothing of runners or pipelines: the wiring
(:mod:`streamer.server.attach`) turns those into status dicts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from streamer.outputs.live_view import LiveView

#: States in which a camera counts as ready (``/readyz``).
READY_STATES = frozenset({"streaming", "finished"})
#: Why a camera of ``--engine ray`` has no live view: its live view and snapshot routes answer
#: 404 with it, ``/api/status`` has it as ``views.unavailable``, the dashboard shows it.
NO_LIVE_VIEW = "live view not available with --engine ray (frames stay on the worker node)"


@dataclass
class CameraEntry:
    """One camera as the server knows it."""

    name: str
    view: LiveView | None = None
    hls_dir: Path | None = None
    no_view: str | None = None  # why there is no live view, when that is not a surprise
    status: dict[str, Any] = field(default_factory=dict)
    viewers: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0


class Board:
    """The cameras of a run, for the server.

    Parameters
    ----------
    max_viewers : int
        Concurrent MJPEG viewers allowed per camera (more get a 503).
    """

    def __init__(self, *, max_viewers: int = 20) -> None:
        self.max_viewers = max_viewers
        self._cameras: dict[str, CameraEntry] = {}
        self._lock = threading.Lock()
        self.started = time.time()

    def add(self, name: str, *, view: LiveView | None = None, hls_dir: Path | None = None,
            no_view: str | None = None) -> CameraEntry:
        with self._lock:
            entry = self._cameras[name] = CameraEntry(name, view, hls_dir, no_view,
                                                      {"name": name, "state": "connecting"})
            return entry

    def camera(self, name: str) -> CameraEntry | None:
        return self._cameras.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._cameras)

    def update(self, name: str, status: dict[str, Any]) -> None:
        """Replace a camera's status (its ``name`` is kept)."""
        entry = self._cameras.get(name)
        if entry is not None:
            entry.status = {**status, "name": name}

    def state(self, name: str) -> str:
        entry = self._cameras.get(name)
        return str(entry.status.get("state", "connecting")) if entry is not None else "unknown"

    def ready(self) -> tuple[bool, dict[str, str]]:
        """(every camera streaming or finished, each camera's state)."""
        states = {n: self.state(n) for n in self._cameras}
        return bool(states) and all(s in READY_STATES for s in states.values()), states

    def status(self) -> dict[str, Any]:
        """The ``/api/status`` document (see the README's "Watching it live")."""
        ready, _ = self.ready()
        cameras = []
        for entry in list(self._cameras.values()):
            path = f"/cameras/{quote(entry.name, safe='')}"
            cameras.append({
                **entry.status,
                "viewers": entry.viewers,
                "views": {
                    "mjpeg": f"{path}/live.mjpg" if entry.view is not None else None,
                    "snapshot": f"{path}/snapshot.jpg" if entry.view is not None else None,
                    "hls": f"/hls/{quote(entry.name, safe='')}/index.m3u8" if entry.hls_dir is not None else None,
                    # Only where there is no live view by design (--engine ray): the text to show.
                    **({"unavailable": entry.no_view} if entry.no_view else {}),
                },
            })
        return {"version": 1, "time": round(time.time(), 3), "uptime_s": round(time.time() - self.started, 1),
                "ready": ready, "max_viewers": self.max_viewers, "cameras": cameras}
