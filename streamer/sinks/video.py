"""Annotated video out: H.264 (libx264), yuv420p, MP4 with ``+faststart``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from streamer.errors import SinkError


class VideoFileSink:
    """Encode BGR frames to an H.264 file, keeping the source's timestamps.

    Parameters
    ----------
    path : str or Path
        Output file; the container format follows the extension (``.mp4``, ``.mkv``, ...).
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

    Notes
    -----
    :meth:`close` flushes the encoder and writes the index; it runs on every exit path of
    the pipeline, so an interrupted run still leaves a playable file.
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
        self.width, self.height = int(width), int(height)
        self._enc_w, self._enc_h = self.width + self.width % 2, self.height + self.height % 2
        self.time_base = Fraction(time_base)
        self._last_pts: int | None = None
        self.frames_written = 0
        self._i420 = np.empty((self._enc_h * 3 // 2, self._enc_w), np.uint8)
        self._padded = (
            np.empty((self._enc_h, self._enc_w, 3), np.uint8)
            if (self._enc_w, self._enc_h) != (self.width, self.height)
            else None
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            options = {"movflags": "+faststart"} if self.path.suffix.lower() in {".mp4", ".mov", ".m4v"} else {}
            self._container = av.open(str(self.path), mode="w", options=options)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
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
            self._audio = self._container.add_stream_from_template(audio) if audio is not None else None
        except (av.error.FFmpegError, ValueError) as exc:
            self._container.close()
            raise SinkError(f"{self.path}: cannot set up the H.264 encoder ({exc})") from None

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
        """
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
        try:
            for packet in self._video.encode(frame):
                self._container.mux(packet)
            if self._audio is not None:
                for packet in passthrough:
                    packet.stream = self._audio
                    self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise SinkError(f"{self.path}: writing failed ({exc})") from None
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent)."""
        container, self._container = getattr(self, "_container", None), None
        if container is None:
            return
        try:
            for packet in self._video.encode(None):
                container.mux(packet)
        except av.error.FFmpegError as exc:
            raise SinkError(f"{self.path}: flushing the encoder failed ({exc})") from None
        finally:
            container.close()
