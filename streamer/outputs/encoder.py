"""Encode once, publish many: the live H.264 encoder that a camera's network outputs share.

:class:`EncodedVideo` is an :class:`~streamer.outputs.base.Output` (``LATEST``: when the
encoder cannot keep up the oldest frame waiting for it is dropped and counted). It encodes
each finished frame once and hands every packet to its listeners: the publishers
(:mod:`streamer.outputs.publish`), the HLS writer (:mod:`streamer.outputs.hls`) and event
clips. The source's audio packets that ride on the frames are handed on too (to audio
listeners), untouched.

Encoder settings for watching live: libx264 ``tune=zerolatency`` (no B-frames, no look-ahead:
a frame's packet comes out of the same ``encode`` call), a fixed key-frame interval of
``gop`` seconds (no scene-cut key frames, so a viewer joins within ``gop`` and HLS segments
line up), average bitrate ``bitrate`` with a VBV of one second, SPS/PPS both in the stream's
header (``template.codec_context.extradata``: FLV, RTSP's SDP) and before every key frame
(MPEG-TS and UDP joiners). ``h264_nvenc`` is used instead only when FFmpeg has it *and* a
test encode works (:func:`choose_encoder`).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import av
import cv2
import numpy as np

from streamer.errors import SinkError
from streamer.frames import Frame
from streamer.outputs.video import SourceMedia, copy_packet, letterbox
from streamer.queues import Policy

log = logging.getLogger("streamer")

#: Packets' time base: RTP's and MPEG-TS's clock, exact for 25, 30 and 29.97 fps.
TIME_BASE = Fraction(1, 90000)
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")

PacketListener = Callable[[av.Packet], None]
__all__ = ["EncodedVideo", "EncoderChoice", "LiveEncoding", "choose_encoder", "copy_packet"]


@dataclass(frozen=True)
class LiveEncoding:
    """What a live encoder makes; outputs with equal settings share one encoder.

    Attributes
    ----------
    bitrate : int
        Average bits per second.
    gop : float
        Seconds between key frames.
    preset : str
        x264 preset (ignored by NVENC).
    """

    bitrate: int = 2_000_000
    gop: float = 1.0
    preset: str = "superfast"

    @property
    def label(self) -> str:
        return f"{self.bitrate / 1e6:g}M/{self.gop:g}s"


@dataclass(frozen=True)
class EncoderChoice:
    """Which H.264 encoder live outputs use, and why (said at start-up)."""

    codec: str
    reason: str

    def describe(self) -> str:
        return f"live encoder: {self.codec} ({self.reason})"


@lru_cache(maxsize=1)
def choose_encoder() -> EncoderChoice:
    """``h264_nvenc`` when FFmpeg has it and a test encode of a few frames works, else libx264.

    Checked once per process (a failing NVENC open costs ~0.1-1 s).
    """
    if "h264_nvenc" not in av.codecs_available:
        return EncoderChoice("libx264", "this FFmpeg has no h264_nvenc")
    try:
        ctx = av.CodecContext.create("h264_nvenc", "w")
        ctx.width, ctx.height, ctx.pix_fmt = 256, 144, "yuv420p"
        ctx.time_base = Fraction(1, 25)
        got = 0
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((216, 256), 16 * i, np.uint8), format="yuv420p")
            frame.pts = i
            got += len(ctx.encode(frame))
        got += len(ctx.encode(None))
        if got == 0:
            return EncoderChoice("libx264", "h264_nvenc gave no packets in a test encode")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        return EncoderChoice("libx264", f"h264_nvenc failed a test encode: {' '.join(str(exc).split())[:120]}")
    return EncoderChoice("h264_nvenc", "a test encode worked")


class EncodedVideo:
    """One live H.264 encode of a camera's finished frames, shared by its listeners.

    Parameters
    ----------
    encoding : LiveEncoding
        Bitrate, key-frame interval, preset.
    media : callable
        (frame rate, audio stream) of the source, asked on the first frame.
    codec : EncoderChoice, optional
        Default: :func:`choose_encoder`.
    name : str
        Output name (unique per camera).

    Notes
    -----
    Public API used by publishers and event clips:

    - :meth:`add_listener` / :meth:`remove_listener`: ``fn(packet)`` for each video packet,
      called in the encoder's thread, in decode order; ``packet.pts``/``dts`` are in
      ``template.time_base``, ``packet.is_keyframe`` is set. The packet is shared: copy it
      (:func:`copy_packet`) before muxing, and return quickly (queue it).
    - :attr:`template`: an ``av.video.stream.VideoStream`` to pass to
      ``OutputContainer.add_stream_from_template``; set before the first packet reaches any
      listener (None until then).
    - :meth:`add_audio_listener`, :attr:`audio`: the source's audio packets (as they ride on
      the frames) and their stream, for containers that carry them.
    - :meth:`on_close`: ``fn()`` once after the last packet (end of the run).
    """

    policy = Policy.LATEST

    def __init__(self, encoding: LiveEncoding, *, media: SourceMedia, codec: EncoderChoice | None = None,
                 name: str = "encoder") -> None:
        self.name = name
        self.encoding = encoding
        self.codec = codec or choose_encoder()
        self._media = media
        self._listeners: list[PacketListener] = []
        self._audio_listeners: list[PacketListener] = []
        self._closers: list[Callable[[], None]] = []
        #: What publishes these packets (publishers, HLS): their stats follow the encoder's.
        self.sinks: list[Any] = []
        self._failed_listeners: set[int] = set()
        self._lock = threading.Lock()
        self._holder: Any = None
        self._stream: Any = None
        self.template: av.video.stream.VideoStream | None = None
        self.audio: av.AudioStream | None = None
        self.frame_rate: Fraction | None = None
        self.width = self.height = 0
        self._enc_w = self._enc_h = 0
        self._i420: np.ndarray | None = None
        self._canvas: np.ndarray | None = None
        self._padded: np.ndarray | None = None
        self._last_pts: int | None = None
        self.packets = 0
        self.bytes = 0
        self._closed = False
        self._pending_audio: list[av.Packet] = []  # of frames dropped before the encoder

    # -- listeners ------------------------------------------------------------------------
    def add_listener(self, fn: PacketListener) -> None:
        """Call ``fn(packet)`` for every video packet from now on (see the class notes)."""
        with self._lock:
            self._listeners = [*self._listeners, fn]

    def remove_listener(self, fn: PacketListener) -> None:
        with self._lock:
            self._listeners = [f for f in self._listeners if f is not fn]

    def add_audio_listener(self, fn: PacketListener) -> None:
        """Call ``fn(packet)`` for every audio packet of the source (stream: :attr:`audio`)."""
        with self._lock:
            self._audio_listeners = [*self._audio_listeners, fn]

    def remove_audio_listener(self, fn: PacketListener) -> None:
        with self._lock:
            self._audio_listeners = [f for f in self._audio_listeners if f is not fn]

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once the encoder closed (after its last packet)."""
        with self._lock:
            self._closers.append(fn)

    def _hand(self, listeners: list[PacketListener], packet: av.Packet) -> None:
        for fn in listeners:  # a copy-on-write list: no lock held while calling
            try:
                fn(packet)
            except Exception as exc:  # noqa: BLE001 - a listener never takes the encoder down
                if id(fn) not in self._failed_listeners:
                    self._failed_listeners.add(id(fn))
                    log.warning("%s: a packet listener failed: %s (further failures are not logged)", self.name, exc)

    # -- encoding -------------------------------------------------------------------------
    def _open(self, frame: Frame) -> None:
        self.frame_rate, audio = self._media()
        self.audio = audio
        self.width, self.height = frame.width, frame.height
        self._enc_w, self._enc_h = self.width + self.width % 2, self.height + self.height % 2
        rate = self.frame_rate or Fraction(25)
        gop = max(1, round(self.encoding.gop * float(rate)))
        # A container that is never written: its stream is the encoder and, once started
        # (header into memory), a template whose codec parameters (size, SPS/PPS) other
        # containers copy. NUT keeps the 1/90000 time base (Matroska would force 1/1000).
        self._holder = av.open(io.BytesIO(), "w", format="nut")
        try:
            stream = self._holder.add_stream(self.codec.codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = self._enc_w, self._enc_h, "yuv420p"
            stream.time_base = TIME_BASE
            ctx = stream.codec_context
            ctx.time_base = TIME_BASE
            ctx.bit_rate = self.encoding.bitrate
            ctx.gop_size = gop
            # One slice per picture: x264's zerolatency slices a picture per thread, and some
            # receivers split such pictures (GStreamer's RTSP RECORD path gave half pictures).
            # One thread is also the encoder's fair share of a small machine.
            ctx.thread_count = 1
            vbv = str(self.encoding.bitrate)
            if self.codec.codec == "libx264":
                stream.options = {
                    "preset": self.encoding.preset, "tune": "zerolatency", "g": str(gop), "keyint_min": str(gop),
                    "sc_threshold": "0", "bf": "0", "maxrate": vbv, "bufsize": vbv,
                    # SPS/PPS before every key frame too, for MPEG-TS/UDP viewers joining late.
                    "x264-params": "repeat-headers=1",
                }
            else:
                stream.options = {"preset": "p1", "tune": "ll", "g": str(gop), "bf": "0", "maxrate": vbv,
                                  "bufsize": vbv, "forced-idr": "1", "zerolatency": "1"}
            self._stream = stream
        except (av.error.FFmpegError, ValueError) as exc:
            self._holder.close()
            raise SinkError(f"{self.name}: cannot set up the {self.codec.codec} encoder ({exc})") from None
        self._i420 = np.empty((self._enc_h * 3 // 2, self._enc_w), np.uint8)
        if (self._enc_w, self._enc_h) != (self.width, self.height):
            self._padded = np.empty((self._enc_h, self._enc_w, 3), np.uint8)
        for sink in self.sinks:  # publishers connect once there is something to send
            sink.start()

    def _picture(self, frame: Frame) -> np.ndarray:
        image = frame.image
        if (frame.width, frame.height) != (self.width, self.height):  # size changed mid-stream
            self._canvas = letterbox(image, self.width, self.height, self._canvas)
            image = self._canvas
        if self._padded is not None:
            cv2.copyMakeBorder(image, 0, self._enc_h - self.height, 0, self._enc_w - self.width,
                               cv2.BORDER_REPLICATE, dst=self._padded)
            image = self._padded
        cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420, dst=self._i420)
        return self._i420  # type: ignore[return-value]

    def write(self, frame: Frame) -> None:
        """Encode one frame; hand its packet(s) and the audio riding on it to the listeners."""
        if self._stream is None:
            self._open(frame)
        picture = av.VideoFrame.from_ndarray(self._picture(frame), format="yuv420p")
        pts = 0 if frame.pts is None else round(frame.pts * frame.time_base / TIME_BASE)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        picture.pts, picture.time_base = pts, TIME_BASE
        try:
            packets = self._stream.encode(picture)
            if self.template is None:
                self._start()
        except av.error.FFmpegError as exc:
            raise SinkError(f"{self.name}: encoding failed ({exc})") from None
        if self.audio is not None:
            # Demuxed before this frame: handed on first, so muxers interleave with little
            # buffering; the audio of frames dropped on the way here comes before it.
            with self._lock:
                audio, self._pending_audio = [*self._pending_audio, *frame.passthrough], []
            if len(audio) > len(frame.passthrough):  # a dropped frame's audio may be later than this one's
                audio.sort(key=lambda p: p.pts * p.time_base if p.pts is not None and p.time_base else 0)
            for packet in audio:
                self._hand(self._audio_listeners, packet)
        self._deliver(packets)

    def dropped(self, frame: Frame) -> None:
        """A frame the fan-out dropped before it reached this encoder (from the fan-out's
        thread): its picture is lost, its audio is handed on with the next frame (no gap)."""
        if frame.passthrough:
            with self._lock:
                self._pending_audio.extend(frame.passthrough)

    def _start(self) -> None:
        """After the first encode (the codec is open): the template's parameters are final."""
        self._holder.start_encoding()  # copies size and SPS/PPS into the stream's parameters
        self.template = self._stream

    def _deliver(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.packets += 1
            self.bytes += packet.size
            self._hand(self._listeners, packet)

    def close(self) -> None:
        """Flush the encoder to the listeners, then tell them the stream ended (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._stream is not None:
                try:
                    self._deliver(self._stream.encode(None))
                except av.error.FFmpegError as exc:
                    log.warning("%s: flushing the encoder failed: %s", self.name, exc)
        finally:
            for sink in self.sinks:  # all at once: each then finishes in its own thread
                sink.end()
            for fn in self._closers:
                try:
                    fn()
                except Exception as exc:  # noqa: BLE001 - each listener ends on its own
                    log.warning("%s: closing a listener failed: %s", self.name, exc)
            self._stream = None
            holder, self._holder = self._holder, None
            if holder is not None:
                try:
                    holder.close()
                except av.error.FFmpegError:
                    pass
