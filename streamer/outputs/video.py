"""Annotated video out: H.264 (libx264), yuv420p, MP4 with ``+faststart``.

The file is written under a temporary name beside the final one (``a.annotated.part.mp4``,
see :func:`~streamer.outputs.paths.reserve_part`) as a fragmented MP4, one fragment per
frame, each written as soon as it is muxed. So at every moment the temporary file plays up
to the last frame written: after a crash, and after a write error (full disk, I/O error),
when :meth:`VideoFileSink.close` cuts it after the last complete fragment and renames it to
the final name. A normal close (end of the source, Ctrl-C, SIGTERM) copies the packets into
an ordinary MP4 with the index first (``+faststart``: browsers play it while downloading)
and renames that over the final name.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from streamer.errors import SinkError
from streamer.frames import Frame
from streamer.outputs.paths import WRITTEN_BY, os_reason, remove_quietly, reserve_part
from streamer.queues import Policy

log = logging.getLogger("streamer")

#: Containers written fragmented first and copied to ``+faststart`` at the end.
MP4_LIKE = {".mp4", ".mov", ".m4v"}
#: Options of the temporary file. ``frag_duration`` of 1 us: a fragment per packet, each
#: written when it is muxed (``frag_keyframe`` would hold a whole GOP, 10 s with x264's
#: defaults, in memory; ``frag_every_frame`` lost 38 of 377 frames of a clip with audio).
#: Measured on bikes.mp4: +5% bytes (a ~104-byte ``moof`` per frame), no extra CPU.
#: ``delay_moov``: the header is written after the first packet, so it holds the edit list
#: for the B-frame delay and timestamps stay the source's (without it every pts came out two
#: frames late). ``empty_moov``/``default_base_moof``: self-contained fragments any player reads.
FRAGMENTED = {"movflags": "+empty_moov+delay_moov+default_base_moof", "frag_duration": "1"}
#: Options of a Matroska file: a cluster per frame. The muxer holds the open cluster in
#: memory (5 s or 5 MiB by default), so without this a crash or a full disk lost the last
#: seconds: measured, 10 frames written and only the 534-byte header on disk. Per frame:
#: +14 bytes, each frame on disk once the next one is muxed.
CLUSTERED = {"cluster_time_limit": "0"}
#: Names FFmpeg writes with its Matroska muxer (other muxers print the option as unused).
MATROSKA = {".mkv", ".mka", ".mks"}


def _playable_end(path: Path) -> int:
    """Bytes of ``path`` up to its last complete top-level box after the header (a fragment's
    ``mdat``); 0 when no frame is complete.

    After a failed write the file ends in a cut box, which makes decoders fail at the end;
    cutting it there leaves a file whose every frame decodes.
    """
    size = path.stat().st_size
    pos, end, header = 0, 0, False
    with path.open("rb") as fh:
        while pos + 8 <= size:
            fh.seek(pos)
            head = fh.read(16)
            length, kind = struct.unpack(">I4s", head[:8])
            if length == 1 and len(head) == 16:
                length = struct.unpack(">Q", head[8:])[0]
            elif length == 0:
                length = size - pos
            if length < 8 or pos + length > size:
                break
            pos += length
            header = header or kind == b"moov"
            if kind == b"mdat" and header:
                end = pos
    return end


class VideoFileSink:
    """Encode BGR frames to an H.264 file, keeping the source's timestamps.

    Parameters
    ----------
    path : str or Path
        Output file; the container format follows the extension (``.mp4``, ``.mkv``, ...).
        Written under a temporary name beside it and renamed by :meth:`close`.
    width, height : int
        Picture size of the frames that will be written. Odd sizes are padded by one
        pixel (edge replicated) because yuv420p needs even dimensions.
    time_base : Fraction
        Unit of the ``pts`` passed to :meth:`write`; the source's, so that timestamps
        (and a variable frame rate) come out unchanged.
    rate : Fraction, optional
        Nominal frame rate, stored as a hint for players.
    audio : av.AudioStream, optional
        A source stream whose packets :meth:`write` will copy through untouched.
    crf : int
        x264 constant rate factor (0-51, lower is better quality).
    preset : str
        x264 preset; faster presets leave CPU time for the detector.
    threads : int
        Encoder threads (0 lets x264 choose).
    tune : str, optional
        x264 tune, e.g. ``zerolatency`` for live output (no frame look-ahead delay).

    Attributes
    ----------
    path : Path
        The final name.
    written : Path or None
        ``path`` once :meth:`close` has put a playable file there; None before that, and
        when no frame reached the disk.

    Notes
    -----
    :meth:`close` finishes the file and renames it to ``path``; it runs on every exit path
    of the pipeline, so an interrupted run still leaves a playable file. A write error
    (a full disk, an I/O error) is raised as ``<path>: no space left on device``;
    :meth:`close` then keeps every frame that reached the disk (see the module docstring).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction | None = None,
        audio: av.AudioStream | None = None,
        crf: int = 23,
        preset: str = "superfast",
        threads: int = 0,
        tune: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.written: Path | None = None
        self.width, self.height = int(width), int(height)
        self._enc_w, self._enc_h = self.width + self.width % 2, self.height + self.height % 2
        self.time_base = Fraction(time_base)
        self._last_pts: int | None = None
        self.frames_written = 0
        self._error: SinkError | None = None
        self._i420 = np.empty((self._enc_h * 3 // 2, self._enc_w), np.uint8)
        self._padded = (
            np.empty((self._enc_h, self._enc_w, 3), np.uint8)
            if (self._enc_w, self._enc_h) != (self.width, self.height)
            else None
        )
        self._mp4 = self.path.suffix.lower() in MP4_LIKE
        try:
            self._part = reserve_part(self.path)
        except OSError as exc:
            raise SinkError(f"{self.path}: cannot create output file ({os_reason(exc)})") from None
        # flush_packets: each packet is written when it is muxed, so an I/O error is raised at
        # the frame that hit it (measured on a full 300 kB tmpfs: without it ENOSPC surfaced
        # ~90 frames after the disk was full, and those frames were lost unnoticed).
        fit = FRAGMENTED if self._mp4 else CLUSTERED if self.path.suffix.lower() in MATROSKA else {}
        options = {"flush_packets": "1", **fit}
        try:
            self._container: Any = av.open(str(self._part), mode="w", options=options)
            self._container.metadata["comment"] = WRITTEN_BY
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            remove_quietly([self._part])
            raise SinkError(f"{self.path}: cannot create output file ({exc})") from None
        try:
            stream = self._container.add_stream("libx264", rate=rate or Fraction(25))
            stream.width, stream.height = self._enc_w, self._enc_h
            stream.pix_fmt = "yuv420p"
            stream.time_base = self.time_base
            stream.codec_context.time_base = self.time_base
            stream.codec_context.thread_count = threads
            stream.options = {"crf": str(crf), "preset": preset, **({"tune": tune} if tune else {})}
            self._video = stream
        except (av.error.FFmpegError, ValueError) as exc:
            self._container.close()
            remove_quietly([self._part])
            raise SinkError(f"{self.path}: cannot set up the H.264 encoder ({exc})") from None
        self._audio = self._add_audio(audio) if audio is not None else None
        # AAC in ADTS framing (MPEG-TS's) carries its configuration in each packet's header
        # only; MP4 and Matroska want it once, before their header, and raw frames (measured:
        # "operation not permitted" on the first audio packet into MP4, "unable to determine
        # samplerate" into Matroska, whose header is written with the first packet).
        self._adts = self._audio is not None and audio.codec_context.name == "aac" and not audio.codec_context.extradata
        self._started = False
        self._audio_dts: Fraction | None = None
        #: Audio packets left out because they were out of time order (see :meth:`_audio_in_order`).
        self.audio_dropped = 0

    def _add_audio(self, audio: av.AudioStream) -> av.AudioStream | None:
        """The output's copy of the source's audio stream; None, with a warning, when the
        container cannot hold its codec (G.711 from a camera into MP4): the video is kept."""
        try:
            return self._container.add_stream_from_template(audio)
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("%s: writing the video without the source's audio (%s)", self.path, exc)
            return None

    def _failed(self, exc: BaseException, doing: str) -> SinkError:
        """The one-line error for a failed write, named after the final path; the first is kept."""
        if isinstance(exc, OSError) and getattr(exc, "errno", None):
            error = SinkError(f"{self.path}: {os_reason(exc)}")
        else:
            error = SinkError(f"{self.path}: {doing} failed ({exc})")
        self._error = self._error or error
        return error

    def write(self, image: np.ndarray, pts: int | None, passthrough: list[Any] = ()) -> None:  # type: ignore[assignment]
        """Encode one frame.

        Parameters
        ----------
        image : ndarray, shape (height, width, 3), uint8
            BGR picture.
        pts : int or None
            Timestamp in ``time_base`` units; a missing or non-increasing one is replaced
            by the previous one plus one tick so the encoder never sees a duplicate.
        passthrough : list of av.Packet
            Audio packets to copy through.

        Raises
        ------
        SinkError
            Wrong picture size, or writing failed (``<path>: no space left on device``); after
            a failed write every later call raises the same error.
        """
        if self._error is not None:
            raise self._error
        if self._container is None:
            raise SinkError(f"{self.path}: already closed")
        if image.shape != (self.height, self.width, 3):
            raise SinkError(
                f"{self.path}: frame of shape {image.shape} does not match the output size "
                f"{self.width}x{self.height}"
            )
        if self._padded is not None:
            cv2.copyMakeBorder(
                image, 0, self._enc_h - self.height, 0, self._enc_w - self.width,
                cv2.BORDER_REPLICATE, dst=self._padded,
            )
            image = self._padded
        # cv2's BGR->I420 is cheaper than PyAV's swscale reformat.
        cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420, dst=self._i420)
        frame = av.VideoFrame.from_ndarray(self._i420, format="yuv420p")
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = 0 if self._last_pts is None else self._last_pts + 1
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = self.time_base
        audio = self._audio_in_order(passthrough) if self._audio is not None else []
        if not self._started:
            self._started = True
            if self._adts:
                self._audio.codec_context.extradata = self._adts_config(audio)
        try:
            for packet in self._video.encode(frame):
                self._container.mux(packet)
            for packet in audio:
                # Muxing changes a packet (stream, rebased times) and the frame's packets
                # are shared with the other outputs: mux a copy.
                packet = self._from_adts(packet) if self._adts else copy_packet(packet)
                packet.stream = self._audio
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise self._failed(exc, "writing") from None
        self.frames_written += 1

    def _audio_in_order(self, packets: list[Any]) -> list[Any]:
        """``packets`` less those out of time order: a decoding time that does not move
        forward, or a presentation time before the decoding time.

        Muxers refuse such a packet and the whole file would end there (measured: an MPEG-TS
        clip whose audio times jump back failed the MP4 at that frame, "invalid argument";
        MP4 refuses ``pts < dts`` the same way); such a packet costs its own audio only.
        Counted in :attr:`audio_dropped`, warned about once. A packet without times is kept
        (the muxer gives it the next ones).
        """
        kept = []
        for packet in packets:
            if packet.dts is not None and packet.time_base:
                dts = packet.dts * packet.time_base
                back = self._audio_dts is not None and dts <= self._audio_dts
                if back or (packet.pts is not None and packet.pts < packet.dts):
                    if not self.audio_dropped:
                        log.warning("%s: left out audio out of time order (the first at %.3f s)", self.path, float(dts))
                    self.audio_dropped += 1
                    continue
                self._audio_dts = dts
            kept.append(packet)
        return kept

    def _adts_config(self, packets: list[Any]) -> bytes:
        """The AudioSpecificConfig of ADTS audio, before anything is muxed: from the first
        packet's header, else from the stream's parameters (AAC LC)."""
        for packet in packets:
            data = bytes(packet)
            if _is_adts(data):
                return adts_config(data)
        ctx = self._audio.codec_context
        return asc_from(ctx.sample_rate, ctx.layout.nb_channels)

    def _from_adts(self, packet: av.Packet) -> av.Packet:
        """The raw AAC frame of an ADTS packet."""
        data = bytes(packet)
        if not _is_adts(data):
            return packet  # not ADTS after all: mux as it is
        raw = av.Packet(data[7 if data[1] & 1 else 9:])
        raw.pts, raw.dts, raw.time_base = packet.pts, packet.dts, packet.time_base
        return raw

    def close(self) -> None:
        """Flush the encoder, finish the file and rename it to :attr:`path` (idempotent).

        After a write error it keeps the frames that reached the disk instead (and raises
        nothing more: the error was raised by :meth:`write`).

        Raises
        ------
        SinkError
            Flushing or finishing the file failed (the frames on disk are still kept).
        """
        container, self._container = getattr(self, "_container", None), None
        if container is None:
            return
        earlier = self._error
        try:
            for packet in self._video.encode(None):
                container.mux(packet)
        except av.error.FFmpegError as exc:
            self._failed(exc, "flushing the encoder")
        try:
            container.close()
        except av.error.FFmpegError as exc:
            self._failed(exc, "finishing the file")
        if self._error is None:
            self._finish()
        else:
            self._salvage()
            if earlier is None:
                raise self._error

    def _finish(self) -> None:
        """A complete file: an MP4 is copied to ``+faststart`` (index first); rename it over ``path``."""
        if self._mp4:
            try:
                self._rename(self._faststart_copy())
                remove_quietly([self._part])
                return
            except (av.error.FFmpegError, OSError) as exc:
                # The fragmented file plays everywhere (its index is first too); only the
                # copy failed, typically for room: keep it rather than lose the run.
                log.warning("%s: kept the fragmented MP4 (the faststart copy failed: %s)", self.path, os_reason(exc))
        self._rename(self._part)

    def _faststart_copy(self) -> Path:
        """Copy every packet of the temporary file into an ordinary MP4 with ``+faststart``.

        A stream copy: measured on bikes.mp4 (250 frames, 0.64 MB) 20 ms.
        """
        copy = reserve_part(self.path)
        try:
            with av.open(str(self._part)) as src, av.open(str(copy), "w", options={"movflags": "+faststart"}) as dst:
                dst.metadata["comment"] = WRITTEN_BY
                streams = {}
                for s in src.streams:
                    if s.type in ("video", "audio"):
                        streams[s.index] = dst.add_stream_from_template(s)
                        streams[s.index].time_base = s.time_base
                for packet in src.demux(*(src.streams[i] for i in streams)):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.stream = streams[packet.stream.index]
                    dst.mux(packet)
        except BaseException:
            remove_quietly([copy])
            raise
        return copy

    def _salvage(self) -> None:
        """After a write error: cut the temporary file after its last complete frame and
        rename it to ``path``; delete it when no frame made it."""
        try:
            if self._mp4:
                end = _playable_end(self._part)
                if end == 0:
                    remove_quietly([self._part])
                    return
                os.truncate(self._part, end)
            elif not _has_video(self._part):
                remove_quietly([self._part])
                return
            os.replace(self._part, self.path)
        except OSError as exc:
            log.warning("%s: could not keep the frames written before the error (%s); they are in %s",
                        self.path, os_reason(exc), self._part)
            return
        self.written = self.path

    def _rename(self, done: Path) -> None:
        """Move the finished file ``done`` to :attr:`path`; when that fails the video stays
        in the temporary file, which the error names (a copy of it is removed)."""
        try:
            os.replace(done, self.path)
        except OSError as exc:
            remove_quietly([done] if done != self._part else [])
            raise SinkError(
                f"{self.path}: cannot rename the finished file to it ({os_reason(exc)}); the video is in {self._part}"
            ) from None
        self.written = self.path


def _is_adts(data: bytes) -> bool:
    """Whether ``data`` starts with an ADTS header (sync word 0xFFF, layer 0)."""
    return len(data) >= 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0


def _has_video(path: Path) -> bool:
    """Whether ``path`` holds at least one video packet a demuxer can read (a Matroska file
    cut after its header holds none)."""
    try:
        with av.open(str(path)) as container:
            return any(packet.size for packet in container.demux(video=0))
    except (av.error.FFmpegError, OSError, IndexError):
        return False


def adts_config(header: bytes) -> bytes:
    """The 2-byte AudioSpecificConfig that an ADTS header describes (what ``aac_adtstoasc`` makes).

    ADTS: profile (2 bits, object type - 1), sampling-frequency index (4), private (1),
    channel configuration (3); the config is object type (5), frequency index (4), channels (4), 0 (3).
    """
    obj = ((header[2] >> 6) & 3) + 1
    freq = (header[2] >> 2) & 15
    channels = ((header[2] & 1) << 2) | (header[3] >> 6)
    return bytes([(obj << 3) | (freq >> 1), ((freq & 1) << 7) | (channels << 3)])


#: AAC sampling frequencies by their index in an AudioSpecificConfig (ISO 14496-3, 1.6.3.4).
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def asc_from(rate: int, channels: int) -> bytes:
    """The 2-byte AudioSpecificConfig of AAC LC at ``rate`` Hz with ``channels`` channels
    (1-6, or 8 as configuration 7); empty for a rate ADTS cannot carry (none reaches here:
    an ADTS header holds one of these indexes)."""
    if rate not in AAC_RATES:
        return b""
    freq = AAC_RATES.index(rate)
    config = 7 if channels == 8 else channels
    return bytes([(2 << 3) | (freq >> 1), ((freq & 1) << 7) | (config << 3)])


#: What the video output learns from the source once the first frame came: (frame rate or
#: None, audio stream to copy or None).
SourceMedia = Callable[[], "tuple[Fraction | None, av.AudioStream | None]"]


class VideoOutput:
    """The annotated video file as an :class:`~streamer.outputs.base.Output` (``BLOCK``).

    The :class:`VideoFileSink` opens on the first frame (the picture size is only certain
    once a frame was decoded and the kernels ran); a frame whose size changed mid-stream is
    letterboxed into the output's size. Frames are only read (the letterbox has its own canvas).

    Parameters
    ----------
    path : Path
        Final file name.
    media : callable
        Returns (frame rate, audio stream to copy) once the first frame arrived.
    crf, preset, tune
        Encoder settings (see :class:`VideoFileSink`).
    """

    name = "video"
    policy = Policy.BLOCK

    def __init__(self, path: Path, *, media: SourceMedia, crf: int = 23, preset: str = "superfast",
                 tune: str | None = None) -> None:
        self.path = Path(path)
        self._media = media
        self._settings = {"crf": crf, "preset": preset, "tune": tune}
        self.sink: VideoFileSink | None = None
        self._canvas: np.ndarray | None = None

    @property
    def written(self) -> Path | None:
        """The final file once closed with a playable file there (see ``VideoFileSink.written``)."""
        return self.sink.written if self.sink is not None else None

    def write(self, frame: Frame) -> None:
        if self.sink is None:
            rate, audio = self._media()
            self.sink = VideoFileSink(self.path, width=frame.width, height=frame.height,
                                      time_base=frame.time_base, rate=rate, audio=audio, **self._settings)  # type: ignore[arg-type]
        image = frame.image
        if (frame.width, frame.height) != (self.sink.width, self.sink.height):
            self._canvas = letterbox(image, self.sink.width, self.sink.height, self._canvas)
            image = self._canvas
        self.sink.write(image, frame.pts, frame.passthrough)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


def letterbox(image: np.ndarray, width: int, height: int, canvas: np.ndarray | None = None) -> np.ndarray:
    """``image`` (H, W, 3) scaled to fit (width, height), centred on black; reuses ``canvas``
    when it has that size. Used for frames whose size changed mid-stream."""
    if canvas is None or canvas.shape[:2] != (height, width):
        canvas = np.zeros((height, width, 3), np.uint8)
    canvas[:] = 0
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    x, y = (width - nw) // 2, (height - nh) // 2
    canvas[y:y + nh, x:x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas


def copy_packet(packet: av.Packet) -> av.Packet:
    """A packet of one's own (data copied; pts, dts, time base, key flag and duration kept).

    Packets handed to listeners are shared: muxing changes a packet in place (stream,
    rebased timestamps), so a listener that muxes copies first (a few kB per frame).
    """
    out = av.Packet(bytes(packet))
    out.pts, out.dts, out.time_base = packet.pts, packet.dts, packet.time_base
    out.is_keyframe = packet.is_keyframe
    if packet.duration:
        out.duration = packet.duration
    return out
