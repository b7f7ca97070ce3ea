"""Live sources that heal themselves: RTSP/HTTP/HLS streams and V4L2 webcams.

A :class:`LiveSource` connects, streams, and when the stream is lost (network error,
server gone, no frame for ``stall_timeout`` seconds) reconnects with capped exponential
backoff and jitter, for ever or ``retries`` times. A camera that is down at start is
retried the same way. Errors that retrying cannot fix (404 wrong path, 401/403 bad
credentials, no decoder for the codec, no video stream) end the source with a
:class:`SourceError` saying so. Every state change is reported once through
``on_event`` and logged; URLs are always shown with the password masked.

Frames are stamped with the capture clock (milliseconds since the first frame), so
timestamps stay increasing across reconnects and a gap in the stream is a gap in time.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

from streamer.errors import SourceError
from streamer.frames import Frame
from streamer.sources.avlog import keep_pyav_logging_off
from streamer.sources.info import SourceInfo, container_info
from streamer.sources.urls import device_path, is_device, mask_credentials, without_credentials

log = logging.getLogger("streamer.sources")

LIVE_TIME_BASE = Fraction(1, 1000)


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


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with proportional jitter: ``initial * factor**(n-1)``."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.25

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))


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
    if isinstance(exc, (av.error.DecoderNotFoundError, av.error.DemuxerNotFoundError, av.error.ProtocolNotFoundError)):
        return f"unsupported: {exc.strerror}"
    if isinstance(exc, _Permanent):
        return str(exc)
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (av.error.ExitError, TimeoutError)):
        return "timed out"
    if isinstance(exc, av.error.FFmpegError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


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
        backoff: Backoff = Backoff(),
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
        """Nothing to check up front: a camera that is down at start is retried."""

    def close(self) -> None:
        self.stop()

    def _event(self, state: LiveState, message: str, attempt: int = 0) -> None:
        if state == self.state and state in {LiveState.RECONNECTING, LiveState.CONNECTING}:
            log.debug("%s: %s (attempt %d)", self.display, message, attempt)
            return
        self.state = state
        text = mask_credentials(message)
        level = logging.WARNING if state in {LiveState.STALLED, LiveState.RECONNECTING, LiveState.GAVE_UP} else logging.INFO
        log.log(level, "%s: %s: %s", self.display, state.value, text)
        if self._on_event is not None:
            self._on_event(SourceEvent(self.public_uri, state, text, attempt))

    # -- connecting --------------------------------------------------------------------
    def _open(self) -> av.container.InputContainer:
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
        container = av.open(url, mode="r", format=fmt, options=options,
                            timeout=(self.open_timeout, self.stall_timeout))
        if not container.streams.video:
            container.close()
            raise _Permanent("has no video stream")
        return container

    def probe(self) -> SourceInfo:
        """Connect once, describe the stream, disconnect (no retries)."""
        try:
            container = self._open()
        except Exception as exc:  # noqa: BLE001 - translated here
            reason = _classify(exc) or _reason(exc)
            raise SourceError(f"{self.display}: {mask_credentials(reason)}") from None
        try:
            return container_info(self.public_uri, container, None)
        finally:
            container.close()

    def _wait(self, attempt: int) -> bool:
        """Sleep before the next attempt; False when stopped meanwhile."""
        return not self._stop.wait(self.backoff.delay(attempt, self._rng))

    # -- frames ------------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        """Yield frames for ever (or until stopped, ``max_frames``, ``duration`` or giving up).

        Raises
        ------
        SourceError
            A permanent failure (wrong path, bad credentials, unsupported codec) or
            ``retries`` failed attempts in a row.
        """
        index = 0
        t0: float | None = None
        failures = 0
        first = True
        try:
            while not self._stop.is_set():
                self._event(LiveState.CONNECTING if first else LiveState.RECONNECTING,
                            "connecting" if first else f"reconnecting (attempt {failures})", failures)
                try:
                    container = self._open()
                except Exception as exc:  # noqa: BLE001 - classified below
                    permanent = _classify(exc)
                    if permanent is not None:
                        self._give_up(permanent)
                    failures += 1
                    self._check_retries(failures, _reason(exc))
                    log.debug("%s: connect failed: %s", self.display, mask_credentials(_reason(exc)))
                    first = False
                    if not self._wait(failures):
                        break
                    continue
                lost = "the stream ended"
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
                    if not first:
                        self.reconnects += 1
                    for decoded in container.decode(stream):
                        now = time.monotonic()
                        if not streaming:
                            streaming = True
                            failures = 0
                            self._event(LiveState.STREAMING, f"{decoded.width}x{decoded.height} {stream.codec_context.name}")
                        if t0 is None:
                            t0 = now
                        if self.duration is not None and now - t0 >= self.duration:
                            return
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
                            return
                        if self._stop.is_set():
                            return
                except (av.error.ExitError, TimeoutError):
                    lost = f"no frame for {self.stall_timeout:g} s"
                    if streaming:
                        self._event(LiveState.STALLED, lost, failures)
                    else:  # connected but nothing came: a failed connect, not a stall
                        lost = f"connected, but {lost}"
                except Exception as exc:  # noqa: BLE001 - classified below
                    permanent = _classify(exc)
                    if permanent is not None:
                        self._give_up(permanent)
                    lost = f"stream lost: {_reason(exc)}"
                finally:
                    container.close()
                    # Let go of this connection's decoder here, on the decoding thread.
                    self.video_stream = stream = None
                if self._stop.is_set():
                    break
                failures += 1
                self._check_retries(failures, lost)
                if self.state is not LiveState.STALLED:
                    self._event(LiveState.RECONNECTING, lost, failures)
                first = False
                if not self._wait(failures):
                    break
        finally:
            if self.state is not LiveState.GAVE_UP:
                self._event(LiveState.STOPPED, "stopped")

    def _check_retries(self, failures: int, reason: str) -> None:
        if self.retries is not None and failures > self.retries:
            self._give_up(f"{reason}; gave up after {failures} attempts")

    def _give_up(self, reason: str) -> None:
        self._event(LiveState.GAVE_UP, reason)
        raise SourceError(f"{self.display}: {mask_credentials(reason)}")
