"""``--show``: a local window per camera (OpenCV's highgui), for people at a desk.

Every window lives in one process-wide GUI thread (``streamer-window``): highgui's Qt
backend wants all its calls from the thread that created its application object (calls from
several output threads printed "Timers cannot be stopped from another thread" and can crash).
A camera's :class:`WindowOutput` (``LATEST``) only hands its newest frame to that thread, so a
slow screen never holds up the pipeline; the GUI thread shows the newest frame of each window
and pumps events every ~15 ms. Closing a window stops showing that camera; ``q`` or Esc in
any window stops the run (when a stop callback was given).

Without a display, :func:`check_display` says so in one line before anything starts: highgui's
Qt backend aborts the whole process when it cannot reach the X server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from streamer.errors import ConfigError
from streamer.frames import Frame
from streamer.queues import Policy

log = logging.getLogger("streamer")

#: Milliseconds the GUI thread waits for a key per turn: a window repaints at up to ~60 fps.
PUMP_MS = 15
#: Qt inside opencv-python ships no fonts and says so on every start unless pointed at some.
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts")


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


class _Gui:
    """The one thread that owns every highgui window of the process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[str, np.ndarray] = {}
        self._open: set[str] = set()
        self._closing: set[str] = set()
        self._hidden: set[str] = set()  # closed by the user: no longer shown
        self._thread: threading.Thread | None = None
        self.on_quit: Callable[[], None] | None = None
        self.shown: dict[str, int] = {}

    def show(self, title: str, image: np.ndarray) -> None:
        with self._cond:
            if title in self._hidden:
                return
            self._pending[title] = image
            self._open.add(title)
            if self._thread is None:
                for d in _FONT_DIRS:
                    if Path(d).is_dir():
                        os.environ.setdefault("QT_QPA_FONTDIR", d)
                        break
                self._thread = threading.Thread(target=self._run, name="streamer-window", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def close(self, title: str, timeout: float = 2.0) -> None:
        """Destroy the window (from the GUI thread) and wait until it is gone."""
        with self._cond:
            self._pending.pop(title, None)
            self._hidden.discard(title)
            if title not in self._open:
                return
            self._closing.add(title)
            self._cond.notify_all()
            self._cond.wait_for(lambda: title not in self._closing, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                # The Qt application belongs to this thread: it lives as long as the process.
                self._cond.wait_for(lambda: bool(self._open))
            try:
                self._turn()
            except cv2.error as exc:
                log.warning("--show: window failed: %s", str(exc).strip().splitlines()[-1])
                with self._cond:
                    self._hidden |= self._open
                    self._open.clear()
                    self._pending.clear()
                    self._closing.clear()
                    self._cond.notify_all()

    def _turn(self) -> None:
        with self._cond:
            pending, self._pending = self._pending, {}
            closing = set(self._closing)
            open_now = self._open - closing
        for title, image in pending.items():
            if title in open_now:
                cv2.imshow(title, image)
                self.shown[title] = self.shown.get(title, 0) + 1
        for title in closing:
            if title in self.shown:
                cv2.destroyWindow(title)
        key = cv2.waitKey(PUMP_MS) & 0xFF
        with self._cond:
            self._open -= closing
            self._closing -= closing
            self._cond.notify_all()
        for title in open_now:
            if title in self.shown and cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                log.info("--show: window %r closed; the camera goes on", title)
                with self._cond:
                    self._open.discard(title)
                    self._hidden.add(title)
        if key in (ord("q"), 27) and self.on_quit is not None:
            log.info("--show: %s pressed: stopping", "q" if key == ord("q") else "Esc")
            self.on_quit()


_GUI = _Gui()


def set_quit_callback(callback: Callable[[], None] | None) -> None:
    """What ``q`` or Esc in a window does (e.g. the run's ``stop``)."""
    _GUI.on_quit = callback


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
        _GUI.show(self.title, frame.image)

    def close(self) -> None:
        _GUI.close(self.title)

    @property
    def shown(self) -> int:
        """Frames put on screen so far (the newest wins: fewer than written when the screen is slow)."""
        return _GUI.shown.get(self.title, 0)
