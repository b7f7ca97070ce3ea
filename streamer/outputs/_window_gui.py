"""The ``--show`` window process: owns every highgui window, shows what the run hands it.

Run as ``python -m streamer.outputs._window_gui`` by :mod:`streamer.outputs.window`; imports
nothing but OpenCV and NumPy. Why a process of its own: PyAV's wheel bundles libxcb and
some of the same xcb extension libraries (same file names) that OpenCV's Qt uses with the
system's libxcb; whichever is loaded first wins, and with PyAV first (as in every run) Qt's
first window hung for ever. A separate interpreter that never imports PyAV sidesteps that,
and a Qt abort (e.g. the X server going away) ends this process, not the run.

Protocol, one JSON object per line:

- in (stdin): ``{"op": "show", "title", "shm", "shape", "slot"}`` (the picture is in shared
  memory ``shm``, in slot 0 or 1 of two), ``{"op": "close", "title"}``; end of input: close
  everything and exit;
- out (stdout): ``{"event": "closed", "title", "by": "run" | "user"}``, ``{"event": "key",
  "key": "q" | "esc"}``, ``{"event": "ready"}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
from multiprocessing import resource_tracker, shared_memory

import cv2
import numpy as np

PUMP_MS = 15
#: Qt inside opencv-python ships no fonts (cv2 points QT_QPA_FONTDIR at an empty folder) and
#: says so on every window unless pointed at some.
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts")


def _say(**event: object) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _attach(name: str) -> shared_memory.SharedMemory:
    shm = shared_memory.SharedMemory(name=name)
    # The run owns (and unlinks) it; this process's tracker must not unlink it at exit.
    with contextlib.suppress(Exception):  # best effort
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    return shm


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's: it closes us
    fonts = next((d for d in FONT_DIRS if os.path.isdir(d)), None)
    if fonts is not None:
        os.environ["QT_QPA_FONTDIR"] = fonts  # read when the first window opens
    memories: dict[str, shared_memory.SharedMemory] = {}
    shown: set[str] = set()
    gone: set[str] = set()
    buffered = b""
    fd = sys.stdin.fileno()
    _say(event="ready")
    open_input = True
    while open_input or shown:
        latest: dict[str, dict] = {}
        closing: list[str] = []
        wait = 0.0 if shown else 0.25  # no window: nothing to pump, wait for the run instead
        while open_input and select.select([fd], [], [], wait)[0]:
            wait = 0.0
            chunk = os.read(fd, 65536)
            if not chunk:
                open_input = False
                break
            buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            msg = json.loads(line)
            if msg["op"] == "show" and msg["title"] not in gone:
                latest[msg["title"]] = msg
            elif msg["op"] == "close":
                latest.pop(msg["title"], None)
                closing.append(msg["title"])
        for title, msg in latest.items():
            shm = memories.get(msg["shm"])
            if shm is None:
                shm = memories[msg["shm"]] = _attach(msg["shm"])
            shape = tuple(msg["shape"])
            size = int(np.prod(shape))
            picture = np.ndarray(shape, np.uint8, buffer=shm.buf, offset=msg["slot"] * size).copy()
            cv2.imshow(title, picture)
            shown.add(title)
        if not open_input:
            closing.extend(shown)
        for title in closing:
            if title in shown:
                cv2.destroyWindow(title)
                shown.discard(title)
            gone.discard(title)
            _say(event="closed", title=title, by="run")
        key = cv2.waitKey(PUMP_MS) & 0xFF
        for title in list(shown):
            if cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                shown.discard(title)
                gone.add(title)
                _say(event="closed", title=title, by="user")
        if key in (ord("q"), 27):
            _say(event="key", key="q" if key == ord("q") else "esc")
        if not open_input and not shown:
            break
    cv2.waitKey(1)
    for shm in memories.values():
        shm.close()


if __name__ == "__main__":
    main()
