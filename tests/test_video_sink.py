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

from media import Clip, read_photo, skimage_photo, vfr_clip


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


def test_output_keeps_frames_timestamps_and_audio(audio_clip: Clip, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    src_pts = transcode(audio_clip.path, out)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264"
        assert v.codec_context.format.name == "yuv420p"
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        out_pts = [f.pts for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        audio_packets = sum(1 for p in c.demux(audio=0) if p.size)
    with av.open(str(audio_clip.path)) as c:
        src_audio = sum(1 for p in c.demux(audio=0) if p.size)
    assert out_pts == src_pts and len(out_pts) == audio_clip.frames
    assert audio_packets == src_audio
    assert moov_before_mdat(out)


def test_variable_frame_rate_is_preserved(bikes_clip: Path, tmp_path: Path) -> None:
    # A VFR file: real frames with irregular gaps between them, as a screen recorder writes.
    vfr = vfr_clip(bikes_clip, tmp_path / "vfr.mp4", [0, 33, 66, 150, 183, 400, 433, 466, 700, 1000, 1033])
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
    cat = read_photo(skimage_photo("chelsea.png"))  # 451x300: real pixels, cut to odd sizes
    sink = VideoFileSink(out, width=101, height=75, time_base=Fraction(1, 25), rate=Fraction(25))
    for i in range(5):
        sink.write(np.ascontiguousarray(cat[20 * i : 20 * i + 75, 40 * i : 40 * i + 101]), i)
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
