"""Recorded video files (and anything else FFmpeg opens as a finite input), named pipes and stdin."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from streamer.errors import SourceError
from streamer.frames import Frame
from streamer.sources.avlog import keep_pyav_logging_off
from streamer.sources.errors import check_path, translate
from streamer.sources.info import SourceInfo, container_info
from streamer.sources.urls import STDIN, is_pipe

log = logging.getLogger("streamer.sources")


class FileSource:
    """Decode the first video stream of a file, carrying audio packets along.

    Parameters
    ----------
    path : str or Path
        The file; a named pipe (FIFO); or ``-`` for standard input.
    max_frames : int, optional
        Stop after this many frames.
    duration : float, optional
        Stop after this many seconds of the source's timeline (from its first frame).
    audio : bool
        Demux the first audio stream too, so a sink can copy it through unchanged.
    threads : int
        Decoder threads; 0 lets FFmpeg choose.
    realtime : bool
        Hand frames on at the pace of their timestamps, as a camera would (to rehearse
        live processing on a recording); ``capture_time`` is then the release time.

    Attributes
    ----------
    info : SourceInfo or None
        What :meth:`open` found.
    frame_rate : Fraction or None
        The video stream's average (or guessed) frame rate.
    decode_errors : int
        Packets that could not be decoded and were skipped (corruption mid-file).
    ended_early : str or None
        Set when the input ended before its own index said it would (a truncated file).

    Notes
    -----
    Open it (or use it as a context manager) in the caller's thread so a bad file is
    reported before any worker starts; :meth:`frames` then runs in the decode thread and
    closes the container when the iteration ends or is closed.

    Decoding uses slice threads, not frame threads: on this project's clips frame threads
    gained nothing (720p H.264, 3 runs, best: 3.8 ms/frame with frame threads, 4.1 with
    slice threads, 3.1 with none, decode and BGR conversion together; the pipeline's
    stages already keep both cores busy), they lost the last two decodable frames of a
    truncated file (114 of 116 on bikes.mp4 cut in half), and their worker threads are the
    ones that were stuck in the deadlock described in :mod:`streamer.sources.avlog`.
    The decoder is closed on the thread that decoded, when :meth:`frames` ends.

    A named pipe or standard input (``-``) is read as a stream, front to back, once: no
    size, usually no frame count or duration (MPEG-TS declares neither), so progress has
    no total. It is otherwise a file: the frames keep the stream's own timestamps,
    ``duration`` counts them, audio is copied through as from a file, and the pipeline
    runs with ``BLOCK`` queues, because a pipe applies back-pressure: while streamer is
    behind, the writer waits in its ``write`` and nothing is lost or dropped. (A writer that
    must never wait, such as ``ffmpeg`` reading a camera, gets newest-frame-wins from a
    ``udp://`` or ``rtsp://`` URL instead.) Formats that need seeking cannot come through
    a pipe: an MP4 whose index (``moov``) follows the data is reported as such.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_frames: int | None = None,
        duration: float | None = None,
        audio: bool = True,
        threads: int = 0,
        realtime: bool = False,
    ) -> None:
        self.path = Path(path)
        self.uri = "stdin" if str(path) == STDIN else str(path)  # what messages call it
        self.pipe = is_pipe(str(path))
        self._fd: int | None = None  # a named pipe's descriptor, while open
        self._file: io.FileIO | None = None  # what FFmpeg reads a pipe through, while open
        self.max_frames = max_frames
        self.duration = duration
        self._want_audio = audio
        self._threads = threads
        self.realtime = realtime
        self._container: av.container.InputContainer | None = None
        self.info: SourceInfo | None = None
        self.video_stream: av.VideoStream | None = None
        self.audio_stream: av.AudioStream | None = None
        self._audio_in: av.AudioStream | None = None
        self.frame_rate: Fraction | None = None
        self.decode_errors = 0
        self.ended_early: str | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> SourceInfo:
        """Open and probe; raises :class:`SourceError` naming the file and the problem."""
        size = check_path(self.path)
        keep_pyav_logging_off()
        try:
            container = self._open_input()
        except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise translate(self.uri, exc, pipe="" if self.pipe else None) from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.uri}: has no video stream")
        self._container = container
        self.video_stream = container.streams.video[0]
        self.video_stream.thread_type = "SLICE"
        self.video_stream.codec_context.thread_count = self._threads
        rate = self.video_stream.average_rate or self.video_stream.guessed_rate
        self.frame_rate = Fraction(rate) if rate else None
        if self._want_audio and container.streams.audio:
            self._audio_in = container.streams.audio[0]
            self.audio_stream = audio_template(self._audio_in, self.uri)
        self.info = container_info(self.uri, container, size)
        if self.info.video is not None and not self.info.video.width:
            self.close()
            raise SourceError(f"{self.uri}: video stream has no picture size (corrupt header?)")
        return self.info

    def _open_input(self) -> av.container.InputContainer:
        """``av.open`` the input; a pipe through a Python file object on its descriptor.

        FFmpeg's own reads of a pipe do not let Ctrl-C through: they retry on EINTR, and
        where one fails PyAV drops the exception the signal handler raised (measured: ``av.open``
        of ``pipe:0`` with nothing written ignored SIGINT until data came; of a FIFO without a
        writer it failed with "Interrupted system call", the handler's exception lost). Reads
        through a Python file object run the handler, whose exception ``av.open`` raises, so
        Ctrl-C while waiting for a writer or for data stops the command as anywhere else.
        A redirected file (``streamer run - < clip.mp4``) is seekable through it too.
        """
        if not self.pipe:
            return av.open(str(self.path), mode="r")
        try:
            if str(self.path) == STDIN:
                fd = 0
            else:
                fd = self._fd = os.open(self.path, os.O_RDONLY)  # waits for a writer
            self._file = open(fd, "rb", buffering=0, closefd=False)  # noqa: SIM115 - closed in close()
            return av.open(self._file, mode="r")
        except BaseException:
            self._close_pipe()
            raise

    def _close_pipe(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """Close the container and let go of the video decoder (idempotent)."""
        if self._container is not None:
            self._container.close()
            self._container = None
        self._close_pipe()
        # The last reference to the decoder goes here, on the caller's thread, rather than
        # whenever this object happens to be collected, on whichever thread that is.
        self.video_stream = None

    def __enter__(self) -> FileSource:
        if self._container is None:
            self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- decoding ----------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        """Yield frames in decode order; the container is closed when this generator ends.

        Audio packets demuxed before a video frame is handed on travel in its
        ``passthrough`` list; the last frame also takes the audio that follows it.
        Built from small steps, as PyAV builds ``decode()`` on ``demux()``:
        :meth:`_decoded` -> :meth:`_limited` -> :func:`attach_trailing_audio` -> :meth:`_paced`.
        """
        if self._container is None:
            self.open()
        try:
            frames = attach_trailing_audio(self._limited(self._decoded()))
            yield from self._paced(frames) if self.realtime else frames
        finally:
            self.close()

    def _decoded(self) -> Iterator[Frame | list[av.Packet]]:
        """Decoded frames, each with the audio demuxed before it; then the audio after the last.

        A packet that fails to decode is counted and skipped; a file that never gives a
        frame is an error. The decoder is drained at the end, also when the demuxer
        stops on an error (a file cut short), so no decodable frame is lost.
        """
        container, video = self._container, self.video_stream
        assert container is not None and video is not None
        streams = [video] + ([self._audio_in] if self._audio_in is not None else [])
        pending: list[av.Packet] = []
        first_error: BaseException | None = None
        produced = packets = 0
        demuxer = container.demux(streams)
        while True:
            try:
                packet = next(demuxer)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:  # the container ends mid-packet
                if not produced:
                    raise translate(self.uri, exc, when="reading",
                                    pipe=container.format.name if self.pipe else None) from None
                self.ended_early = f"input ended early (truncated?): {exc.strerror}"
                packet = None
            if packet is None or packet.stream.type == "video":
                if packet is not None and packet.size:
                    packets += 1
                try:
                    decoded = video.decode(packet)
                except av.error.FFmpegError as exc:
                    self.decode_errors += 1
                    first_error = first_error or exc
                    log.debug("%s: packet %d could not be decoded (%s), skipped", self.uri, packets,
                              exc.strerror)
                    decoded = []
                for image in decoded:
                    produced += 1
                    frame = Frame(index=-1, pts=image.pts, time_base=Fraction(image.time_base or video.time_base),
                                  capture_time=time.monotonic(), image=image.to_ndarray(format="bgr24"))
                    frame.passthrough, pending = pending, []
                    yield frame
                if packet is None:
                    break
            elif packet.dts is not None and packet.size:
                pending.append(packet)
        if not produced and first_error is not None:
            raise translate(self.uri, first_error, when="decoding") from None
        declared = video.frames
        if self.ended_early is None and declared and packets < declared:
            self.ended_early = (f"input ended early (truncated?): {packets} of the {declared} frames its index lists "
                                "are in the file")
        if self.ended_early:
            log.warning("%s: %s", self.uri, self.ended_early)
        if self.decode_errors:
            log.warning("%s: %d packet%s could not be decoded and %s skipped", self.uri, self.decode_errors,
                        "s" if self.decode_errors > 1 else "", "were" if self.decode_errors > 1 else "was")
        yield pending

    def _limited(self, items: Iterator[Frame | list[av.Packet]]) -> Iterator[Frame | list[av.Packet]]:
        """Number the frames and stop at ``max_frames`` or ``duration`` (dropping later audio)."""
        index = 0
        first_time: float | None = None
        for item in items:
            if isinstance(item, Frame):
                t = item.time
                if first_time is None:
                    first_time = t
                if self.duration is not None and t is not None and first_time is not None \
                        and t - first_time >= self.duration:
                    return
                item.index = index
                index += 1
            yield item
            if self.max_frames is not None and index >= self.max_frames:
                return

    def _paced(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Release each frame when it is due by its timestamp and restamp it with the release time."""
        clock_start: float | None = None
        first_time: float | None = None
        for frame in frames:
            now = time.monotonic()
            t = frame.time
            if clock_start is None:
                clock_start, first_time = now, t
            if t is not None and first_time is not None:
                delay = clock_start + (t - first_time) - now
                if delay > 0:
                    time.sleep(delay)
            frame.capture_time = time.monotonic()
            frame.wall_time = time.time()
            yield frame


def audio_template(stream: av.AudioStream, name: str) -> av.AudioStream | None:
    """A copy of ``stream``'s parameters that outlives its container, for a sink to copy from.

    An output stream is made from a template stream's codec parameters, which FFmpeg frees
    with the input container; the source closes that container as soon as decoding ends,
    often before the sink opens on the first frame (measured: a segmentation fault with
    ``--max-frames 5`` on a clip with audio). The copy lives in an in-memory container that is
    never written. Matroska holds most codecs; NUT and MOV the rest (G.711, which a camera's
    recording often has: Matroska refuses it). None, with a warning, when none holds it:
    the video is processed without that audio.
    """
    for fmt in ("matroska", "nut", "mov"):
        holder = av.open(io.BytesIO(), "w", format=fmt)
        try:
            return holder.add_stream_from_template(stream)
        except (av.error.FFmpegError, ValueError):
            holder.close()
    log.warning("%s: its %s audio cannot be copied; the video goes on without it", name, stream.codec_context.name)
    return None


def attach_trailing_audio(items: Iterator[Frame | list[av.Packet]]) -> Iterator[Frame]:
    """Hold one frame back so that audio demuxed after the last frame rides with it.

    ``items`` are frames, each already carrying the audio demuxed before it, and possibly
    (last) a list of the packets that followed the last frame.
    """
    held: Frame | None = None
    for item in items:
        if isinstance(item, Frame):
            if held is not None:
                yield held
            held = item
        elif held is not None:
            held.passthrough.extend(item)
    if held is not None:
        yield held


def read_image(path: str | Path) -> np.ndarray:
    """Read a still image as BGR, shape (H, W, 3) uint8; :class:`SourceError` if unreadable."""
    import cv2

    p = Path(path)
    check_path(p)
    image = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{p}: not an image OpenCV can read")
    return image
