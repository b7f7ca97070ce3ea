"""``--show``: a local window per camera (OpenCV's highgui), for people at a desk.

Every window lives in one helper process (:mod:`streamer.outputs._window_gui`, started on the
first frame): PyAV's wheel bundles xcb libraries under the same names OpenCV's Qt loads, and
with PyAV loaded first (as in every run) Qt's first window hung for ever in-process. A
camera's :class:`WindowOutput` (``LATEST``) copies its newest frame into shared memory (two
slots, ~0.5 ms for 1280x720) and sends one line down a pipe; the helper shows the newest frame
of each window and pumps events every ~15 ms. A slow screen never holds up the pipeline (the
fan-out drops this output's oldest frames); a helper that dies ends this output only.
Closing a window stops showing that camera; ``q`` or Esc in any window stops the run (when a
stop callback was given). Ctrl-C is the run's: the helper ignores it and closes with the run.

Without a display, :func:`check_display` says so in one line before anything starts: highgui's
Qt backend aborts its process when it cannot reach the X server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing import shared_memory

import cv2
import numpy as np

from streamer.errors import ConfigError, SinkError
from streamer.frames import Frame
from streamer.queues import Policy

log = logging.getLogger("streamer")

#: Seconds ``close`` waits for the helper to take a window down.
CLOSE_TIMEOUT = 3.0
#: Times the window process is started again after it died (a run's windows come back). Qt's
#: first connection to the X server failed now and then on a loaded machine ("no Qt platform
#: plugin could be initialized", exit -6: once in 21 runs of tests/test_show.py, three at a
#: time with CPU burners, and once in a full suite run); the next start connected.
RESTARTS = 3


def _gui_backend() -> str:
    """highgui's GUI backend from OpenCV's build information ("QT5", "GTK3", "NONE", ...)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip()
    return "UNKNOWN"


def _x_reachable(display: str) -> bool:
    """Whether the X server ``display`` accepts a connection (libxcb, as Qt's xcb plugin does)."""
    name = ctypes.util.find_library("xcb")
    if name is None:
        return True  # cannot tell; highgui will say
    xcb = ctypes.CDLL(name)
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return conn is not None and xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn is not None:
            xcb.xcb_disconnect(conn)


def check_display() -> None:
    """Raise a one-line :class:`ConfigError` when no window can be opened here.

    Raises
    ------
    ConfigError
        ``--show: no display (...)``: OpenCV built without GUI support (e.g.
        opencv-python-headless), ``$DISPLAY`` not set, or its X server not reachable.
    """
    backend = _gui_backend()
    if backend.upper().startswith("NONE"):
        raise ConfigError("--show: no display: this OpenCV has no GUI support (opencv-python-headless?)")
    if not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return  # Windows and macOS backends need no X server
    display = os.environ.get("DISPLAY", "")
    if not display:
        raise ConfigError("--show: no display ($DISPLAY is not set; use --serve to watch in a browser)")
    if not _x_reachable(display):
        raise ConfigError(f"--show: no display: cannot connect to the X server at DISPLAY={display}")


class _Slot:
    """One window's shared memory: two pictures of one shape, written in turn."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.size = int(np.prod(shape))
        self.shm = shared_memory.SharedMemory(create=True, size=2 * self.size)
        self.turn = 0

    def put(self, image: np.ndarray) -> int:
        self.turn ^= 1
        np.ndarray(self.shape, np.uint8, buffer=self.shm.buf, offset=self.turn * self.size)[...] = image
        return self.turn

    def release(self) -> None:
        self.shm.close()
        try:
            self.shm.unlink()
        except FileNotFoundError:
            pass


class _Display:
    """The run's side of the window helper process (one for every window of the process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._proc: subprocess.Popen[bytes] | None = None
        self._slots: dict[str, _Slot] = {}
        self._closed: set[str] = set()  # by the user: no longer shown
        self._failed: str | None = None
        self._restarts = 0
        self.on_quit: Callable[[], None] | None = None
        self.shown: dict[str, int] = {}

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "streamer.outputs._window_gui"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        threading.Thread(target=self._listen, args=(proc,), name="streamer-window", daemon=True).start()
        return proc

    def _listen(self, proc: subprocess.Popen[bytes]) -> None:
        """The helper's news: windows closed, keys pressed, its end."""
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("event") == "closed":
                with self._cond:
                    if event.get("by") == "user":
                        self._closed.add(event["title"])
                        log.info("--show: window %r closed; the camera goes on", event["title"])
                    slot = self._slots.pop(event["title"], None)
                    if slot is not None:
                        slot.release()
                    self._cond.notify_all()
            elif event.get("event") == "key" and self.on_quit is not None:
                log.info("--show: %s pressed: stopping", event["key"])
                self.on_quit()
        code = proc.wait()
        with self._cond:
            if self._slots and self._failed is None:
                why = f"the window process ended (exit status {code})"
                if self._restarts < RESTARTS:  # the next picture starts it again
                    self._restarts += 1
                    log.warning("--show: %s; starting it again (%d of %d)", why, self._restarts, RESTARTS)
                else:
                    self._failed = why
            for slot in self._slots.values():
                slot.release()
            self._slots.clear()
            self._proc = None
            self._cond.notify_all()

    def _send(self, message: dict[str, object]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write((json.dumps(message) + "\n").encode())
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # it ended: its listener starts it again or fails the output (_listen)

    def show(self, title: str, image: np.ndarray) -> None:
        with self._lock:
            if self._failed is not None:
                raise SinkError(f"--show: {self._failed}")
            if title in self._closed:
                return
            if self._proc is None:
                self._proc = self._start()
            slot = self._slots.get(title)
            if slot is None or slot.shape != image.shape:
                if slot is not None:
                    slot.release()
                slot = self._slots[title] = _Slot(image.shape)
            turn = slot.put(image)
            self._send({"op": "show", "title": title, "shm": slot.shm.name, "shape": list(image.shape), "slot": turn})
            self.shown[title] = self.shown.get(title, 0) + 1

    def close(self, title: str) -> None:
        """Take the window down and wait until it is gone; the helper ends with the last one."""
        with self._cond:
            self._closed.discard(title)
            if title not in self._slots:
                return
            self._send({"op": "close", "title": title})
            self._cond.wait_for(lambda: title not in self._slots, CLOSE_TIMEOUT)
            slot = self._slots.pop(title, None)
            if slot is not None:
                slot.release()
            if not self._slots and self._proc is not None and self._proc.stdin is not None:
                self._proc.stdin.close()  # the last window: the helper exits


_DISPLAY = _Display()


def set_quit_callback(callback: Callable[[], None] | None) -> None:
    """What ``q`` or Esc in a window does (e.g. the run's ``stop``)."""
    _DISPLAY.on_quit = callback


class WindowOutput:
    """An :class:`~streamer.outputs.base.Output` that shows a camera's frames in a window.

    Parameters
    ----------
    camera : str
        The camera's name; the window's title is ``streamer: CAMERA``.
    """

    name = "window"
    policy = Policy.LATEST

    def __init__(self, camera: str) -> None:
        self.title = f"streamer: {camera}"

    def write(self, frame: Frame) -> None:
        _DISPLAY.show(self.title, frame.image)

    def close(self) -> None:
        _DISPLAY.close(self.title)

    @property
    def shown(self) -> int:
        """Frames put on screen so far (the newest wins: fewer than written when the screen is slow)."""
        return _DISPLAY.shown.get(self.title, 0)
