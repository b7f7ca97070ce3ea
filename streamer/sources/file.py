"""Recorded video files (and anything else FFmpeg opens as a finite input)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.logging
import numpy as np

from streamer.errors import SourceError
from streamer.frames import Frame
from streamer.sources.errors import check_path, translate
from streamer.sources.info import SourceInfo, container_info


class FileSource:
    """Decode the first video stream of a file, carrying audio packets along.

    Parameters
    ----------
    path : str or Path
        The file.
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

    Notes
    -----
    Open it (or use it as a context manager) in the caller's thread so a bad file is
    reported before any worker starts; :meth:`frames` then runs in the decode thread and
    closes the container when the iteration ends or is closed.
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
        self.uri = str(path)
        self.max_frames = max_frames
        self.duration = duration
        self._want_audio = audio
        self._threads = threads
        self.realtime = realtime
        self._container: av.container.InputContainer | None = None
        self.info: SourceInfo | None = None
        self.video_stream: av.VideoStream | None = None
        self.audio_stream: av.AudioStream | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> SourceInfo:
        """Open and probe; raises :class:`SourceError` naming the file and the problem."""
        size = check_path(self.path)
        # FFmpeg's log line says why (e.g. "moov atom not found"); PyAV attaches it to the
        # exception only when its logging is on. Capture keeps it off the terminal.
        if av.logging.get_level() is None:
            av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture(local=True):
                container = av.open(str(self.path), mode="r")
        except av.error.FFmpegError as exc:
            raise translate(self.uri, exc) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise translate(self.uri, exc) from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.uri}: has no video stream")
        self._container = container
        self.video_stream = container.streams.video[0]
        self.video_stream.thread_type = "AUTO"
        self.video_stream.codec_context.thread_count = self._threads
        if self._want_audio and container.streams.audio:
            self.audio_stream = container.streams.audio[0]
        self.info = container_info(self.uri, container, size)
        if self.info.video is not None and not self.info.video.width:
            self.close()
            raise SourceError(f"{self.uri}: video stream has no picture size (corrupt header?)")
        return self.info

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

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
        """
        if self._container is None:
            self.open()
        container = self._container
        video = self.video_stream
        assert container is not None and video is not None
        streams = [video] + ([self.audio_stream] if self.audio_stream is not None else [])
        pending: list[av.Packet] = []
        held: Frame | None = None
        self._clock_start: float | None = None
        index = 0
        first_time: float | None = None
        done = False
        try:
            for packet in container.demux(streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None and packet.size:
                        pending.append(packet)
                    continue
                for decoded in self._decode(packet):
                    frame = Frame(
                        index=index,
                        pts=decoded.pts,
                        time_base=Fraction(decoded.time_base or video.time_base),
                        capture_time=time.monotonic(),
                        image=decoded.to_ndarray(format="bgr24"),
                    )
                    t = frame.time
                    if first_time is None:
                        first_time = t
                    if self.duration is not None and t is not None and first_time is not None:
                        if t - first_time >= self.duration:
                            done = True
                            break
                    # Hold one frame back so that the audio demuxed before the next one
                    # is attached to the frame it belongs with.
                    if held is not None:
                        yield self._release(held, first_time)
                    frame.passthrough, pending = pending, []
                    held = frame
                    index += 1
                    if self.max_frames is not None and index >= self.max_frames:
                        done = True
                        break
                if done:
                    break
            if held is not None:
                if not done:
                    held.passthrough.extend(pending)
                yield self._release(held, first_time)
        finally:
            self.close()

    def _release(self, frame: Frame, first_time: float | None) -> Frame:
        """With ``realtime``, wait until the frame is due by its timestamp."""
        if self.realtime:
            now = time.monotonic()
            if self._clock_start is None:
                self._clock_start = now
            t = frame.time
            if t is not None and first_time is not None:
                delay = self._clock_start + (t - first_time) - now
                if delay > 0:
                    time.sleep(delay)
            frame.capture_time = time.monotonic()
            frame.wall_time = time.time()
        return frame

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.error.FFmpegError as exc:
            raise translate(self.uri, exc, when="decoding") from None


def read_image(path: str | Path) -> np.ndarray:
    """Read a still image as BGR, shape (H, W, 3) uint8; :class:`SourceError` if unreadable."""
    import cv2

    p = Path(path)
    check_path(p)
    image = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{p}: not an image OpenCV can read")
    return image
