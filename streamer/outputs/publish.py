"""Publish the shared encoder's packets: ``--publish rtsp://``, ``rtmp://``, ``udp://``, ``srt://``.

A :class:`Publisher` muxes the packets of one :class:`~streamer.outputs.encoder.EncodedVideo`
(no second encode) and the source's AAC audio, where the container carries it, to one target:

======== ====================================================================
rtsp://  ANNOUNCE/RECORD over TCP (format ``rtsp``, ``rtsp_transport=tcp``): MediaMTX, go2rtc
rtmp://  FLV (nginx-rtmp, YouTube-style ingest)
udp://   MPEG-TS, 1316-byte datagrams (7 TS packets)
srt://   MPEG-TS, only when this FFmpeg build has the SRT protocol
======== ====================================================================

Packets wait in the publisher's own bounded queue; muxing runs in its own thread
(``streamer-<camera>-pub-<n>``). Nothing it does can stall the encoder, the pipeline or other
outputs: when the queue overflows (a slow link) or while it is not connected, packets are
dropped (counted) up to the next key frame, so a (re)connected target starts at once with a
picture it can decode.

States, each change logged once and published as an ``output`` event record
(``{"event": "output", "camera", "output", "state", "message", "attempt"}``):
``connecting`` -> ``publishing``; on a failure ``retrying`` (capped exponential backoff with
jitter, for ever: a target that is down at start or goes away is retried); ``failed`` for
what retrying cannot fix (401/403 and other 4xx answers, an unsupported scheme, a bad URL, no
SRT in this build): that output ends with a one-line error, never the run; ``stopped`` at the
end of the run. The URL is always shown with its password masked.

Each connection is muxed by a child process (:mod:`streamer.outputs._push`) fed through a
pipe: PyAV opens an output while holding the GIL, so a target that accepts and never answers
would freeze every thread of the run. A push to a server that is gone may also block or
"succeed" into a dead socket, so progress is watched, never assumed: the child reports what it
muxed, and one that has not opened within ``connect_timeout`` or makes no progress for
``stall_timeout`` seconds is killed and the attempt counts as failed (RTSP also gets FFmpeg's
socket ``timeout``).
"""

from __future__ import annotations

import ctypes
import glob
import json
import logging
import os
import random
import select
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av

from streamer.outputs._push import END, REC
from streamer.outputs.encoder import EncodedVideo, copy_packet
from streamer.outputs.stage import OutputStats
from streamer.outputs.video import adts_config
from streamer.retry import Backoff
from streamer.sources.urls import mask_credentials

log = logging.getLogger("streamer")

Publish = Callable[[dict[str, Any]], None]

#: scheme -> (FFmpeg muxer, carries AAC audio)
SCHEMES = {"rtsp": ("rtsp", True), "rtmp": ("flv", True), "rtmps": ("flv", True), "udp": ("mpegts", True),
           "srt": ("mpegts", True)}
#: Seconds of packets a publisher may queue (at the encoder's frame rate): more is a link that
#: cannot keep up, and the queue is emptied up to the next key frame.
QUEUE_SECONDS = 2.0
#: Waits between attempts: 1 s, 2 s, 4 s ... capped at 30 s, +-25% jitter.
PUBLISH_BACKOFF = Backoff(initial=1.0, maximum=30.0)


class PermanentError(Exception):
    """A publish failure that retrying cannot fix."""


@lru_cache(maxsize=1)
def output_protocols() -> frozenset[str] | None:
    """The output protocols of the FFmpeg that PyAV loaded, or None when they cannot be listed.

    PyAV does not expose ``avio_enum_protocols``; it is called in the very libavformat that
    PyAV mapped into this process (found in ``/proc/self/maps``, else beside PyAV's wheel).
    """
    paths = []
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
            paths = sorted({line.split()[-1] for line in fh if "libavformat" in line and "/" in line})
    except OSError:
        pass
    if not paths:
        paths = glob.glob(os.path.join(os.path.dirname(av.__file__), "..", "av.libs", "libavformat*"))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            fn = lib.avio_enum_protocols
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_char_p
        fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        opaque = ctypes.c_void_p(None)
        names = set()
        while (name := fn(ctypes.byref(opaque), 1)) is not None:
            names.add(name.decode())
        return frozenset(names)
    return None


def check_target(url: str) -> tuple[str, str]:
    """(muxer, scheme) for a publish URL.

    Raises
    ------
    PermanentError
        Unsupported scheme, no host or port, or a protocol this FFmpeg build lacks.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise PermanentError(f"unsupported scheme {scheme + '://' if scheme else '(none)'} "
                             "(use rtsp://, rtmp://, udp:// or srt://)")
    try:
        port = parts.port
    except ValueError:
        raise PermanentError("bad port in the URL") from None
    if not parts.hostname:
        raise PermanentError("no host in the URL")
    if scheme in {"udp", "srt"} and port is None:
        raise PermanentError(f"{scheme}:// needs a port (e.g. {scheme}://127.0.0.1:5000)")
    protocols = output_protocols()
    if scheme == "srt" and protocols is not None and "srt" not in protocols:
        raise PermanentError("this PyAV/FFmpeg build has no SRT protocol (libsrt); use rtsp://, rtmp:// or udp://")
    return SCHEMES[scheme][0], scheme


def _reason(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, av.error.FFmpegError) and exc.strerror else str(exc)
    text = " ".join((text or type(exc).__name__).split())
    return mask_credentials(text[:1].lower() + text[1:])


@dataclass
class Target:
    """Where a publisher writes: URL (or playlist path), muxer, options, whether to retry."""

    url: str
    format: str
    options: dict[str, str] = field(default_factory=dict)
    audio: bool = True
    retry: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or mask_credentials(self.url)


def network_target(url: str, *, stall_timeout: float) -> Target:
    """The target of ``--publish URL``; raises :class:`PermanentError` for a URL it cannot use."""
    muxer, scheme = check_target(url)
    options: dict[str, str] = {}
    if scheme == "rtsp":
        # TCP: the interleaved stream survives NAT and loss; timeout (us): a socket write that
        # waits longer fails (FFmpeg's own watchdog for a server that stopped reading).
        options = {"rtsp_transport": "tcp", "timeout": str(int(stall_timeout * 1e6))}
    elif muxer == "flv":
        options = {"flvflags": "no_duration_filesize"}
    if scheme == "udp" and "pkt_size" not in url:
        url += ("&" if "?" in url else "?") + "pkt_size=1316"
    return Target(url, muxer, options, audio=SCHEMES[scheme][1], name=mask_credentials(url.split("?")[0]))


#: Runs the child with the package's directory off ``sys.path`` (its modules must not shadow
#: the standard library's); ``-P`` would do it from Python 3.11 on.
_BOOT = "import runpy, sys; sys.path.pop(0); runpy.run_path(sys.argv[1], run_name='__main__')"
_CHILD = str(Path(__file__).with_name("_push.py"))


class _Lost(Exception):
    """The child ended or was killed: why, in words."""


class Publisher:
    """Mux one encoder's packets to one target, reconnecting as needed (see module docstring).

    Parameters
    ----------
    target : Target
        Where and how.
    encoder : EncodedVideo
        Whose packets; the encoder starts the publisher with its first frame and closes it
        after its last packet.
    camera : str
        For thread names and event records.
    publish : callable, optional
        Receives each ``output`` event record (the run's EventBus ``publish``).
    backoff : Backoff
        Waits between attempts.
    stall_timeout : float
        Seconds without progress (nothing muxed while packets wait) before a connection is
        given up and retried.
    connect_timeout : float
        Seconds a connection may take to open.
    error : str, optional
        A problem found when the target was set up: the publisher is ``failed`` from the start.
    """

    def __init__(self, target: Target, encoder: EncodedVideo, *, camera: str, publish: Publish | None = None,
                 backoff: Backoff = PUBLISH_BACKOFF, stall_timeout: float = 5.0, connect_timeout: float = 10.0,
                 error: str | None = None, seed: int | None = None, index: int = 0) -> None:
        self.target = target
        self.name = target.name
        self.encoder = encoder
        self.camera = camera
        self._publish = publish
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.connect_timeout = connect_timeout
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._queue: deque[tuple[bool, av.Packet]] = deque()  # (is video, packet)
        self._need_key = True
        self._connected = False
        self._ending = False
        self._stop = threading.Event()
        self._adts_config: bytes | None = None
        self._said_audio = False
        self.state: str | None = None
        self.stats = OutputStats(self.name, "latest")
        self.reconnects = 0
        self._thread_name = f"streamer-{camera}-pub-{index}"
        self._thread: threading.Thread | None = None
        self._started = False
        encoder.sinks.append(self)
        if error is not None:
            self._event("failed", error)

    # -- wiring ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen to the encoder and start the publisher's thread (the encoder calls it when
        its first frame arrives; nothing happens for a publisher that failed)."""
        if self.state == "failed" or self._started:
            return
        self._started = True
        self.encoder.add_listener(self._on_video)
        if self.target.audio:
            self.encoder.add_audio_listener(self._on_audio)
        self.encoder.on_close(self.close)
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def end(self) -> None:
        """End of the stream: no more packets; what is queued is still sent (see :meth:`close`)."""
        self.encoder.remove_listener(self._on_video)
        self.encoder.remove_audio_listener(self._on_audio)
        with self._cond:
            self._ending = True
            self._cond.notify_all()

    def close(self, timeout: float = 3.0) -> None:
        """:meth:`end`, then wait up to ``timeout`` seconds for the queue to go out and the
        target to close cleanly (a target that never opened is given up at once)."""
        self.end()
        if self._thread is not None:
            self._thread.join(timeout)
            self._stop.set()  # still busy: give up on it (its child is killed)
            self._thread.join(2.0)
        if self.state not in {"failed", None}:
            self._event("stopped", f"{self.stats.frames} frames sent")

    # -- packets in (encoder thread: must not block) ---------------------------------------
    def _on_video(self, packet: av.Packet) -> None:
        self._put(True, packet)

    def _on_audio(self, packet: av.Packet) -> None:
        if self._adts_config is None and _is_adts(packet):
            self._adts_config = adts_config(bytes(packet))
        self._put(False, packet)

    def _put(self, video: bool, packet: av.Packet) -> None:
        with self._cond:
            if self._ending or self.state == "failed":
                return
            key = video and packet.is_keyframe
            limit = max(8, round(QUEUE_SECONDS * float(self.encoder.frame_rate or 25)))
            if key and not self._connected:
                self._drop_queued()  # waiting to retry: keep only from the newest key frame
                self._need_key = False
            elif len(self._queue) >= 2 * limit:  # the link cannot keep up: start over at a key frame
                self._drop_queued()
                self._need_key = True
            if self._need_key and not key:
                self.stats.dropped += video
                return
            self._need_key = False
            self._queue.append((video, _raw_aac(packet) if not video else copy_packet(packet)))
            self._cond.notify_all()

    def _drop_queued(self) -> None:
        self.stats.dropped += sum(1 for video, _ in self._queue if video)
        self._queue.clear()

    def _take(self, timeout: float) -> tuple[bool, av.Packet] | None:
        """The next packet, or None after ``timeout`` seconds without one or at the end."""
        with self._cond:
            if not self._queue and not self._ending:
                self._cond.wait(timeout)
            return self._queue.popleft() if self._queue else None

    # -- states ---------------------------------------------------------------------------
    def _event(self, state: str, message: str = "", attempt: int = 0) -> None:
        if state == self.state and state != "retrying":
            return
        self.state = state
        self.stats.state = {"failed": "failed", "stopped": "done"}.get(state, "running")
        message = mask_credentials(message)
        if state == "failed":
            self.stats.error = message
            log.error("output %s failed: %s (the other outputs go on)", self.name, message)
        else:
            head = f"{state} (attempt {attempt})" if state == "retrying" else state
            level = logging.WARNING if state == "retrying" else logging.INFO
            log.log(level, "output %s: %s", self.name, f"{head}: {message}" if message else head)
        if self._publish is not None:
            self._publish({"event": "output", "camera": self.camera, "output": self.name, "state": state,
                           "message": message, "attempt": attempt})

    # -- connections ----------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            with self._cond:  # wait for a key frame to start from
                while not self._queue and not self._ending:
                    self._cond.wait(0.25)
                if not self._queue:
                    return
            self._event("connecting", attempt=failures)
            try:
                self._connection()
                return  # the stream ended, everything was sent
            except _Lost as exc:
                with self._cond:
                    self._connected = False
                    self._need_key = True
                    self._drop_queued()
                permanent, reason = exc.args if len(exc.args) == 2 else (None, exc.args[0])
                if permanent or not self.target.retry:
                    self._event("failed", permanent or reason)
                    return
                if self._ending or self._stop.is_set():
                    return
                failures += 1
                delay = self.backoff.delay(failures, self._rng)
                self._event("retrying", f"{reason}; next try in {delay:.1f} s", failures)
                with self._cond:
                    self._cond.wait_for(lambda: self._ending, delay)
                if self._ending:
                    return

    def _description(self, first: av.Packet) -> bytes:
        """The streams for the child to create, as a small NUT file (codec parameters and all)."""
        buf = BytesIO()
        holder = av.open(buf, "w", format="nut")
        video = holder.add_stream_from_template(self.encoder.template)
        audio = self._audio_template()
        if audio is not None:
            stream = holder.add_stream_from_template(audio)
            if not audio.codec_context.extradata and self._adts_config is not None:
                stream.codec_context.extradata = self._adts_config  # raw frames are sent
        packet = copy_packet(first)
        packet.stream = video
        holder.mux(packet)
        holder.close()
        return buf.getvalue()

    def _audio_template(self) -> Any:
        source = self.encoder.audio
        why = None
        if source is None:
            why = "the source has no audio"
        elif not self.target.audio:
            why = "this container does not carry audio"
        elif source.codec_context.name != "aac":
            why = f"{source.codec_context.name} audio cannot be carried (AAC only)"
        elif not source.codec_context.extradata and self._adts_config is None:
            why = "the AAC configuration was not known yet"
        if why is None:
            return source
        if not self._said_audio:
            self._said_audio = True
            log.info("output %s: video only (%s)", self.name, why)
        return None

    def _connection(self) -> None:
        """One connection: a child process fed until the end of the stream.

        Raises
        ------
        _Lost
            (permanent reason or None, reason) when the connection failed or stalled.
        """
        with self._cond:
            self._connected = True  # from now on the queue is sent: no more dropping at key frames
        first = self._take(0.0)
        assert first is not None and first[0]  # a key frame
        config = {"url": self.target.url, "format": self.target.format, "options": self.target.options}
        description = self._description(first[1])
        carry_audio = self._audio_template() is not None
        child = subprocess.Popen([sys.executable, "-c", _BOOT, _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, start_new_session=True, bufsize=0)
        progress = _Progress(child)
        try:
            assert child.stdin is not None
            # Non-blocking: a child stuck in FFmpeg stops reading, and a full pipe must not
            # hold this thread where it cannot see that.
            pipe = child.stdin.fileno()
            os.set_blocking(pipe, False)
            written = 0

            def send(data: bytes) -> None:
                view = memoryview(data)
                while view:
                    try:
                        view = view[os.write(pipe, view):]
                    except BlockingIOError:
                        select.select([], [pipe], [], 0.2)
                        progress.check(written, self)
                        if self._stop.is_set():
                            raise _Lost(None, "stopped") from None

            send(json.dumps(config).encode() + b"\n" + struct.pack("<I", len(description)) + description)
            item: tuple[bool, av.Packet] | None = first
            while True:
                if item is not None:
                    video, packet = item
                    if video or carry_audio:
                        send(_record(video, packet))
                        written += video
                progress.check(written, self)
                if self._stop.is_set():
                    raise _Lost(None, "stopped")
                if item is None and self._ending:
                    with self._cond:
                        if not self._queue:
                            break
                item = self._take(0.2)
            if progress.opened:  # a clean end (trailer, TEARDOWN); one that never opened is killed
                send(REC.pack(END, 0, 0, 0, 1, 1, 0))
                child.stdin.close()
                progress.finish(self)
        except (BrokenPipeError, OSError) as exc:
            raise progress.lost(exc) from None
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            progress.join()


class _Progress:
    """What a child says on its stdout (read in a thread): opened, packets muxed, an error."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        self.opened = False
        self.muxed = 0
        self._counted = 0  # of ``muxed``, already added to the publisher's frames
        self.error: tuple[str | None, str] | None = None
        self.started = self.last = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="streamer-push-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.child.stdout is not None
        for raw in self.child.stdout:
            line = raw.decode(errors="replace").strip()
            self.last = time.monotonic()
            if line == "OPEN":
                self.opened = True
            elif line.startswith("N "):
                self.muxed = int(line[2:])
            elif line.startswith("ERR "):
                permanent, reason = line[4], line[6:]
                self.error = (reason if permanent == "1" else None, reason)

    def check(self, written: int, publisher: Publisher) -> None:
        """Raise :class:`_Lost` for a child that failed, never opened, or stopped progressing."""
        now = time.monotonic()
        if self.error is not None:
            raise _Lost(*self.error)
        if self.child.poll() is not None:
            raise _Lost(None, "the connection ended")
        if not self.opened:
            if now - self.started > publisher.connect_timeout:
                raise _Lost(None, f"no answer within {publisher.connect_timeout:g} s")
            return
        if publisher.state != "publishing":
            if publisher.stats.frames or publisher.reconnects:
                publisher.reconnects += 1
            publisher._event("publishing", publisher.target.name)
        publisher.stats.frames += self.muxed - self._counted
        self._counted = self.muxed
        if written > self.muxed + 1 and now - self.last > publisher.stall_timeout:
            raise _Lost(None, f"no progress for {publisher.stall_timeout:g} s (the target stopped taking data)")

    def finish(self, publisher: Publisher) -> None:
        """After the end record: wait (bounded) for the child's clean close."""
        try:
            self.child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return
        self.join()
        publisher.stats.frames += self.muxed - self._counted
        self._counted = self.muxed

    def lost(self, exc: BaseException) -> _Lost:
        self.child.poll()
        self.join(1.0)
        if self.error is not None:
            return _Lost(*self.error)
        return _Lost(None, f"the connection ended ({_reason(exc)})")

    def join(self, timeout: float = 2.0) -> None:
        self._reader.join(timeout)


def _record(video: bool, packet: av.Packet) -> bytes:
    """One packet for the child (see :mod:`streamer.outputs._push`)."""
    tb = packet.time_base
    data = bytes(packet)
    pts = packet.pts if packet.pts is not None else packet.dts or 0
    dts = packet.dts if packet.dts is not None else pts
    return REC.pack(0 if video else 1, int(packet.is_keyframe), pts, dts, tb.numerator, tb.denominator, len(data)) + data


def _is_adts(packet: av.Packet) -> bool:
    data = bytes(packet)[:2]
    return len(data) == 2 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0


def _raw_aac(packet: av.Packet) -> av.Packet:
    """A copy of an audio packet; the raw AAC frame when it is ADTS (FLV and RTSP want raw
    frames; the configuration goes in the stream's parameters)."""
    data = bytes(packet)
    if not _is_adts(packet) or len(data) < 7:
        return copy_packet(packet)
    raw = av.Packet(data[7 if data[1] & 1 else 9:])
    raw.pts, raw.dts, raw.time_base = packet.pts, packet.dts, packet.time_base
    return raw
