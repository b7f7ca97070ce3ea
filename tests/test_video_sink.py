"""The H.264 sink: codec, pixel format, timestamps (VFR too), audio copy, faststart."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.errors import SinkError
from streamer.sinks.video import VideoFileSink
from streamer.sources import FileSource


def transcode(src_path: Path, out: Path, **kwargs: object) -> list[int | None]:
    src = FileSource(src_path, **kwargs)  # type: ignore[arg-type]
    src.open()
    v = src.video_stream
    assert v is not None
    sink = VideoFileSink(out, width=v.width, height=v.height, time_base=v.time_base,
                         rate=v.average_rate, audio=src.audio_stream, preset="ultrafast")
    pts = []
    try:
        for f in src.frames():
            sink.write(f.image, f.pts, f.passthrough)
            pts.append(f.pts)
    finally:
        sink.close()
    return pts


def moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def test_output_keeps_frames_timestamps_and_audio(car_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "car.mp4"
    src_pts = transcode(car_clip, out)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264"
        assert v.codec_context.format.name == "yuv420p"
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        out_pts = [f.pts for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        audio_packets = sum(1 for p in c.demux(audio=0) if p.size)
    with av.open(str(car_clip)) as c:
        src_audio = sum(1 for p in c.demux(audio=0) if p.size)
    assert out_pts == src_pts and len(out_pts) == 377
    assert audio_packets == src_audio
    assert moov_before_mdat(out)


def test_variable_frame_rate_is_preserved(tmp_path: Path) -> None:
    # A real VFR file: irregular gaps between frames, as a screen recorder writes.
    vfr = tmp_path / "vfr.mp4"
    tb = Fraction(1, 1000)
    stamps = [0, 33, 66, 150, 183, 400, 433, 466, 700, 1000, 1033]
    with av.open(str(vfr), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt, s.time_base = 320, 240, "yuv420p", tb
        s.codec_context.time_base = tb
        for i, t in enumerate(stamps):
            img = np.full((240, 320, 3), (i * 20) % 255, np.uint8)
            fr = av.VideoFrame.from_ndarray(img, format="bgr24")
            fr.pts, fr.time_base = t, tb
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with av.open(str(vfr)) as c:
        src_times = [f.time for f in c.decode(video=0)]
    out = tmp_path / "vfr.out.mp4"
    transcode(vfr, out)
    with av.open(str(out)) as c:
        out_times = [f.time for f in c.decode(video=0)]
    assert out_times == pytest.approx(src_times, abs=1e-3)
    assert np.diff(out_times).std() > 0.01  # really variable


def test_odd_size_is_padded(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    sink = VideoFileSink(out, width=101, height=75, time_base=Fraction(1, 25), rate=Fraction(25))
    for i in range(5):
        sink.write(np.full((75, 101, 3), 40 * i, np.uint8), i)
    sink.close()
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (102, 76)


def test_wrong_frame_size_and_unwritable_path(tmp_path: Path) -> None:
    sink = VideoFileSink(tmp_path / "a.mp4", width=64, height=48, time_base=Fraction(1, 25))
    with pytest.raises(SinkError, match="does not match the output size 64x48"):
        sink.write(np.zeros((10, 10, 3), np.uint8), 0)
    sink.close()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SinkError, match="cannot create output file"):
        VideoFileSink(blocker / "out.mp4", width=64, height=48, time_base=Fraction(1, 25))
