"""The H.264 sink: codec, pixel format, timestamps (VFR too), audio copy, faststart."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.errors import SinkError
from streamer.outputs.video import VideoFileSink
from streamer.sources import FileSource

from media import Clip, add_aac_track, read_photo, skimage_photo, vfr_clip


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


def audio_packets(path: Path) -> list[tuple[int | None, int | None, bytes]]:
    """Every audio packet of ``path``'s first audio stream: (pts, dts, payload), in file order."""
    with av.open(str(path)) as c:
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(audio=0) if p.size]


def video_end(path: Path) -> float:
    """Seconds at which ``path``'s last video frame ends (its pts plus one frame duration)."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        step = frames[-1].pts - frames[-2].pts
        return float((frames[-1].pts + step) * c.streams.video[0].time_base)


def assert_audio_copied(src: Path, out: Path, trailing_at_least: int = 0) -> None:
    """``out``'s audio is ``src``'s, untouched: every packet's pts, dts and bytes, in order, in
    the same time base (a shift against the video, a lost, duplicated or re-encoded packet all
    fail), including the packets after the last video frame (at least ``trailing_at_least``)."""
    with av.open(str(src)) as c:
        src_tb = c.streams.audio[0].time_base
    with av.open(str(out)) as c:
        out_tb = c.streams.audio[0].time_base
    src_audio, out_audio = audio_packets(src), audio_packets(out)
    assert out_tb == src_tb
    assert len(out_audio) == len(src_audio)
    assert [p[:2] for p in out_audio] == [p[:2] for p in src_audio]
    assert out_audio == src_audio
    end = video_end(src)
    trailing = [p for p in src_audio if p[0] * src_tb >= end]
    assert len(trailing) >= trailing_at_least
    assert [p for p in out_audio if p[0] * out_tb >= end] == trailing


def test_output_keeps_frames_timestamps_and_audio(audio_clip: Clip, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    src_pts = transcode(audio_clip.path, out)
    # The final file (the sink writes a fragmented .part file and copies it here on close).
    assert out.is_file() and not list(tmp_path.glob("*.part*"))
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264"
        assert v.codec_context.format.name == "yuv420p"
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        out_pts = [f.pts for f in c.decode(video=0)]
    assert out_pts == src_pts and len(out_pts) == audio_clip.frames
    assert_audio_copied(audio_clip.path, out, trailing_at_least=40 if audio_clip.path.name == "bikes_aac.mp4" else 0)
    assert moov_before_mdat(out)


def test_audio_after_the_last_frame_rides_with_it(bikes_clip: Path, tmp_path: Path) -> None:
    """A decoder without delay (no B-frames, as cameras encode) gives its last frame before the
    demuxer reaches the audio that follows it: that audio must still reach the output.

    (bikes_aac's B-frames make the decoder give its last frames at the flush, after every
    packet is demuxed, so it never takes this path.)"""
    # 1 s of bikes.mp4 at 25 fps, encoded by x264's ultrafast preset (no B-frames).
    plain = vfr_clip(bikes_clip, tmp_path / "no_b_frames.mp4", [40 * i for i in range(25)])
    src = add_aac_track(plain, tmp_path / "no_b_frames_aac.mp4", audio_seconds=2.0)  # video: 1 s
    out = tmp_path / "out.mp4"
    transcode(src, out)
    assert_audio_copied(src, out, trailing_at_least=40)


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
    """101x75 pictures are written as 102x76 by repeating the last column and row: the picture
    itself is not scaled (checked on luma, losslessly encoded, pixel for pixel)."""
    import cv2

    out = tmp_path / "odd.mp4"
    cat = read_photo(skimage_photo("chelsea.png"))  # 451x300: real pixels, cut to odd sizes
    crops = [np.ascontiguousarray(cat[20 * i : 20 * i + 75, 40 * i : 40 * i + 101]) for i in range(5)]
    sink = VideoFileSink(out, width=101, height=75, time_base=Fraction(1, 25), rate=Fraction(25), crf=0)
    for i, crop in enumerate(crops):
        sink.write(crop, i)
    sink.close()
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (102, 76)
    for crop, frame in zip(crops, frames):
        luma = frame.to_ndarray(format="yuv420p")[:76]
        padded = np.pad(crop, ((0, 1), (0, 1), (0, 0)), mode="edge")
        expected = cv2.cvtColor(padded, cv2.COLOR_BGR2YUV_I420)[:76]
        np.testing.assert_array_equal(luma, expected)
        np.testing.assert_array_equal(luma[:, 101], luma[:, 100])
        np.testing.assert_array_equal(luma[75], luma[74])


def test_wrong_frame_size_and_unwritable_path(tmp_path: Path) -> None:
    sink = VideoFileSink(tmp_path / "a.mp4", width=64, height=48, time_base=Fraction(1, 25))
    with pytest.raises(SinkError, match="does not match the output size 64x48"):
        sink.write(np.zeros((10, 10, 3), np.uint8), 0)
    sink.close()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SinkError, match="cannot create output file"):
        VideoFileSink(blocker / "out.mp4", width=64, height=48, time_base=Fraction(1, 25))
