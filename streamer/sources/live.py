"""Live sources that heal themselves: RTSP/HTTP/HLS streams and V4L2 webcams.

A :class:`LiveSource` connects, streams, and when the stream is lost (network error,
server gone, no frame for ``stall_timeout`` seconds) reconnects with capped exponential
backoff and jitter, for ever or ``retries`` times. A camera that is down at start is
retried the same way. Errors that retrying cannot fix (404 wrong path, 401/403 bad
credentials, no decoder for the codec, no video stream; a webcam path that does not exist or
is not a V4L2 device at the first attempt) end the source with a :class:`SourceError` saying
so. Every state change, and every failed attempt with its reason and the wait before the
next one, is reported through ``on_event`` and logged, e.g.
``rtsp://127.0.0.1:1/x: reconnecting (attempt 3): connection refused; next try in 2.1 s``.
URLs are always shown with the password masked.

``max_frames`` and ``duration`` hold in every state: ``duration`` is wall-clock seconds from
the start of :meth:`LiveSource.frames`, and a connect attempt or a backoff wait is cut short
at its end (a read blocked in FFmpeg is the caller's to give up on: see ``Runner.tick``).

Frames are stamped with the capture clock (milliseconds since the first frame), so
timestamps stay increasing across reconnects and a gap in the stream is a gap in time.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

from streamer.errors import SourceError
from streamer.frames import Frame
from streamer.retry import Backoff
from streamer.sources.avlog import keep_pyav_logging_off
from streamer.sources.errors import connect_failure, device_problem, error_text
from streamer.sources.info import SourceInfo, container_info
from streamer.sources.urls import device_path, is_device, mask_credentials, without_credentials

log = logging.getLogger("streamer.sources")

LIVE_TIME_BASE = Fraction(1, 1000)
DEFAULT_BACKOFF = Backoff()


class LiveState(str, enum.Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    GAVE_UP = "gave_up"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """A state change of a live source (also written to the JSONL)."""

    source: str
    state: LiveState
    message: str
    attempt: int = 0
    wall_time: float = field(default_factory=time.time)

    def to_record(self) -> dict[str, Any]:
        return {"event": "source", "source": self.source, "state": self.state.value,
                "message": self.message, "attempt": self.attempt, "wall_time": round(self.wall_time, 3)}


NO_DECODER = "unsupported codec: FFmpeg has no decoder for this video stream"


class _Permanent(Exception):
    """A failure that reconnecting cannot fix."""


def _classify(exc: BaseException) -> str | None:
    """The reason a failure is permanent, or None when it is worth retrying."""
    if isinstance(exc, av.error.HTTPNotFoundError):
        return "not found (404): wrong path or stream name?"
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return "unauthorized (401): wrong or missing credentials"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return "forbidden (403): the credentials are not allowed this stream"
    if isinstance(exc, (av.error.HTTPBadRequestError, av.error.HTTPOtherClientError)):
        return f"rejected by the server ({exc.strerror})"
    if isinstance(exc, av.error.DecoderNotFoundError):
        return NO_DECODER
    if isinstance(exc, (av.error.DemuxerNotFoundError, av.error.ProtocolNotFoundError)):
        return f"unsupported: {exc.strerror}"
    if isinstance(exc, _Permanent):
        return str(exc)
    return None


class LiveSource:
    """A self-healing live video source.

    Parameters
    ----------
    uri : str
        ``rtsp://``, ``rtsps://``, ``http(s)://`` (HLS, MJPEG, MPEG-TS...), ``/dev/videoN`` or
        a webcam index. Credentials in the URL are used but never shown.
    transport : {"tcp", "udp"}
        RTSP transport (TCP survives lossy links and firewalls; UDP has lower latency).
    open_timeout : float
        Seconds a connection attempt may take.
    stall_timeout : float
        Seconds without data before the stream counts as stalled and is reconnected.
    retries : int or None
        Failed attempts in a row before giving up; None retries for ever.
    backoff : Backoff
        Delay between attempts.
    options : dict, optional
        Extra FFmpeg options (for webcams e.g. ``video_size``, ``framerate``, ``input_format``).
    input_format : str, optional
        FFmpeg demuxer to force (``v4l2`` is used for webcams, ``mpjpeg`` for MJPEG over HTTP).
    on_event : callable, optional
        Called with each :class:`SourceEvent` (from the decode thread).
    max_frames : int, optional
        End after this many frames.
    duration : float, optional
        End this many wall-clock seconds after :meth:`frames` started, whatever the state
        (connecting, waiting to retry, streaming).
    seed : int, optional
        Seeds the jitter, for reproducible tests.
    """

    def __init__(
        self,
        uri: str,
        *,
        transport: str = "tcp",
        open_timeout: float = 10.0,
        stall_timeout: float = 5.0,
        retries: int | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        options: dict[str, str] | None = None,
        input_format: str | None = None,
        on_event: Callable[[SourceEvent], None] | None = None,
        max_frames: int | None = None,
        duration: float | None = None,
        seed: int | None = None,
    ) -> None:
        if transport not in {"tcp", "udp"}:
            raise SourceError(f"{mask_credentials(uri)}: transport must be tcp or udp, got {transport!r}")
        self.uri = uri
        self.display = mask_credentials(uri)
        self.public_uri = without_credentials(uri)
        self.transport = transport
        self.open_timeout = open_timeout
        self.stall_timeout = stall_timeout
        self.retries = retries
        self.backoff = backoff
        self.options = dict(options or {})
        self.input_format = input_format
        self.max_frames = max_frames
        self.duration = duration
        self._on_event = on_event
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._deadline: float | None = None
        self._ending = ""
        self.state: LiveState | None = None
        self.info: SourceInfo | None = None
        self.reconnects = 0
        self.audio_stream = None  # live audio is not copied through
        self.video_stream: av.VideoStream | None = None  # while connected
        self.frame_rate: Fraction | None = None

    # -- control ------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`frames` to end; it notices between frames and during backoff waits."""
        self._stop.set()

    def open(self) -> None:
        """Check what can be checked up front: a webcam path must be a V4L2 device.

        A network camera that is down at start is retried instead, so there is nothing to
        check for it here.

        Raises
        ------
        SourceError
            ``/dev/video0: no such device``, ``not a video device (...)``, ``permission denied``.
        """
        if is_device(self.uri):
            problem = device_problem(device_path(self.uri))
            if problem is not None:
                raise SourceError(f"{self.display}: {problem}")

    def close(self) -> None:
        self.stop()

    def _event(self, state: LiveState, message: str = "", attempt: int = 0) -> None:
        """Report a state change, and each failed attempt, to the log and ``on_event``."""
        if state == self.state and state is not LiveState.RECONNECTING:
            return
        self.state = state
        text = mask_credentials(message)
        head = f"{state.value} (attempt {attempt})" if state is LiveState.RECONNECTING else state.value
        level = logging.WARNING if state in {LiveState.STALLED, LiveState.RECONNECTING, LiveState.GAVE_UP} else logging.INFO
        log.log(level, "%s: %s", self.display, f"{head}: {text}" if text else head)
        if self._on_event is not None:
            self._on_event(SourceEvent(self.public_uri, state, text, attempt))

    # -- connecting --------------------------------------------------------------------
    def _open(self, timeout: float) -> av.container.InputContainer:
        options = dict(self.options)
        url = self.uri
        fmt = self.input_format
        if is_device(self.uri):
            url = device_path(self.uri)
            fmt = fmt or "v4l2"
        elif self.uri.lower().startswith(("rtsp://", "rtsps://")):
            options.setdefault("rtsp_transport", self.transport)
            # The SDP already describes the stream: half a second of probing (instead of
            # FFmpeg's default, measured 2.2 s here) is enough and speeds up reconnects.
            options.setdefault("analyzeduration", "500000")
        keep_pyav_logging_off()
        container = av.open(url, mode="r", format=fmt, options=options, timeout=(timeout, self.stall_timeout))
        if not container.streams.video:
            container.close()
            raise _Permanent("has no video stream")
        if container.streams.video[0].codec_context is None:
            # A codec FFmpeg does not know (e.g. JPEG 2000 over RTP: a video stream with codec
            # "none"): no decoder, and decoding raises nothing useful. It was retried for ever.
            container.close()
            raise _Permanent(NO_DECODER)
        return container

    def _connect(self, first: bool) -> tuple[av.container.InputContainer | None, str]:
        """One connection attempt: (container, "") or (None, why it failed).

        Gives up (raises :class:`SourceError`) on a failure retrying cannot fix.
        """
        timeout = self._time_left(self.open_timeout)
        began = time.monotonic()
        try:
            return self._open(timeout), ""
        except Exception as exc:  # noqa: BLE001 - classified below
            permanent, reason = self._failure(exc, first=first, elapsed=time.monotonic() - began, timeout=timeout)
            if permanent is not None:
                self._give_up(permanent)
            return None, reason

    def _failure(self, exc: BaseException, *, first: bool, elapsed: float, timeout: float) -> tuple[str | None, str]:
        """(why retrying cannot help, or None; why the attempt failed) for a failed connect.

        A webcam path that is no usable V4L2 device at the ``first`` attempt will not become
        one by retrying; later, a missing device is retried (it may be plugged in again).
        """
        permanent = _classify(exc)
        problem = device_problem(device_path(self.uri), exc) if is_device(self.uri) else None
        if permanent is None and first:
            permanent = problem
        return permanent, permanent or problem or connect_failure(self.uri, exc, elapsed=elapsed, timeout=timeout)

    def probe(self) -> SourceInfo:
        """Connect once, describe the stream, disconnect (no retries)."""
        self.open()
        began = time.monotonic()
        try:
            container = self._open(self.open_timeout)
        except Exception as exc:  # noqa: BLE001 - translated here
            _, reason = self._failure(exc, first=True, elapsed=time.monotonic() - began, timeout=self.open_timeout)
            raise SourceError(f"{self.display}: {mask_credentials(reason)}") from None
        try:
            return container_info(self.public_uri, container, None)
        finally:
            container.close()

    # -- limits ------------------------------------------------------------------------
    def _time_left(self, wanted: float) -> float:
        """``wanted`` seconds, or fewer when ``duration`` ends sooner (never below 10 ms)."""
        if self._deadline is None:
            return wanted
        return max(0.01, min(wanted, self._deadline - time.monotonic()))

    def _going_on(self) -> bool:
        """False once stopped or past ``duration`` (and then says which, for the final event)."""
        if self._stop.is_set():
            return False
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._ending = f"duration {self.duration:g} s reached"
            return False
        return True

    # -- frames ------------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        """Yield frames until stopped, ``max_frames``, ``duration`` or giving up.

        Built from small steps: :meth:`_decoded` (connect, stream, wait and reconnect)
        -> :meth:`_stream` (one connection's pictures) -> stamped :class:`Frame` objects.

        Raises
        ------
        SourceError
            A permanent failure (wrong path, bad credentials, unsupported codec, no such
            webcam at the first attempt) or ``retries`` failed attempts in a row.
        """
        self._deadline = None if self.duration is None else time.monotonic() + self.duration
        self._ending = ""
        index = 0
        t0: float | None = None
        try:
            for decoded in self._decoded():
                now = time.monotonic()
                if t0 is None:
                    t0 = now
                yield Frame(
                    index=index,
                    pts=round((now - t0) * 1000),
                    time_base=LIVE_TIME_BASE,
                    capture_time=now,
                    image=decoded.to_ndarray(format="bgr24"),
                    wall_time=time.time(),
                )
                index += 1
                if self.max_frames is not None and index >= self.max_frames:
                    self._ending = f"{index} frames (max_frames) reached"
                    return
        finally:
            if self.state is not LiveState.GAVE_UP:
                self._event(LiveState.STOPPED, self._ending)

    def _decoded(self) -> Iterator[av.VideoFrame]:
        """Pictures from one connection after another: connect; stream; on a failure report
        the reason, wait (capped exponential backoff) and reconnect."""
        failures = 0
        connected = False
        self._event(LiveState.CONNECTING)
        while self._going_on():
            container, reason = self._connect(first=failures == 0 and not connected)
            if container is not None:
                if connected:
                    self.reconnects += 1
                connected = True
                reason, streamed = yield from self._stream(container)
                if streamed:
                    failures = 0
            if not self._going_on():
                break
            failures += 1
            self._check_retries(failures, reason)
            delay = self.backoff.delay(failures, self._rng)
            if self._deadline is not None and time.monotonic() + delay >= self._deadline:
                self._event(LiveState.RECONNECTING, f"{reason}; no further try (duration {self.duration:g} s ends first)",
                            failures)
            else:
                self._event(LiveState.RECONNECTING, f"{reason}; next try in {delay:.1f} s", failures)
            if self._stop.wait(self._time_left(delay)):
                break

    def _stream(self, container: av.container.InputContainer) -> Generator[av.VideoFrame, None, tuple[str, bool]]:
        """Decode one connection until it fails or the source ends: yields pictures, returns
        (why the stream was lost, whether any picture came)."""
        streaming = False
        stream: av.VideoStream | None = None
        try:
            stream = container.streams.video[0]
            # Slice threads decode a frame in parallel without frame threading's
            # added delay of one frame per thread.
            stream.thread_type = "SLICE"
            self.video_stream = stream
            rate = stream.average_rate or stream.guessed_rate
            self.frame_rate = Fraction(rate) if rate else self.frame_rate
            self.info = container_info(self.public_uri, container, None)
            for decoded in container.decode(stream):
                if not streaming:
                    streaming = True
                    self._event(LiveState.STREAMING, f"{decoded.width}x{decoded.height} {stream.codec_context.name}")
                if not self._going_on():
                    return "", True
                yield decoded
            return "the stream ended", streaming
        except (av.error.ExitError, TimeoutError):
            lost = f"no frame for {self.stall_timeout:g} s"
            if not streaming:  # connected but nothing came: a failed connect, not a stall
                return f"connected, but {lost}", False
            self._event(LiveState.STALLED, lost)
            return lost, True
        except Exception as exc:  # noqa: BLE001 - classified below
            permanent = _classify(exc)
            if permanent is not None:
                self._give_up(permanent)
            return f"stream lost: {error_text(exc)}", streaming
        finally:
            container.close()
            # Let go of this connection's decoder here, on the decoding thread.
            self.video_stream = stream = None

    def _check_retries(self, failures: int, reason: str) -> None:
        if self.retries is not None and failures > self.retries:
            attempts = f"{failures} attempt{'s' if failures > 1 else ''}"
            self._give_up(reason, f"{attempts} failed in a row", f"gave up after {attempts}")

    def _give_up(self, reason: str, said: str = "", error: str = "") -> None:
        """End the source: a ``gave_up`` event (``reason; said``), then a :class:`SourceError`
        (``reason; error``); the event does not repeat what its state says."""
        self._event(LiveState.GAVE_UP, "; ".join(filter(None, (reason, said))))
        raise SourceError(f"{self.display}: {mask_credentials('; '.join(filter(None, (reason, error))))}")
