"""The video file when something fails at the end of a run or in the source's audio, in-process
(issue 11: the failure paths of ``VideoFileSink.close`` that mutation testing left alive).

Real frames, real PyAV writes to ``tmp_path``, real failures at the moment they matter: the
process's ``RLIMIT_FSIZE`` soft limit (writes past it fail with EFBIG, "file too large"; CPython
ignores SIGXFSZ), set after the last frame or just before the faststart copy; a folder made
at the final name during the run; a source whose audio times jump back; G.711 audio that an
MP4 cannot hold.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.errors import SinkError
from streamer.outputs.video import VideoFileSink

W, H = 96, 64
FRAMES = 10


def noise(i: int) -> np.ndarray:
    """A frame that does not compress (every frame costs kilobytes on disk)."""
    return np.random.default_rng(i).integers(0, 256, (H, W, 3), np.uint8)


def decoded(path: Path) -> int:
    """Frames of ``path``; every packet must decode."""
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@contextmanager
def no_writes_past(size: int) -> Iterator[None]:
    """Writes past ``size`` bytes fail with EFBIG in this process while inside."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def written(out: Path, **settings: object) -> VideoFileSink:
    """A sink with ``FRAMES`` frames written and not closed."""
    sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), preset="ultrafast", **settings)
    for i in range(FRAMES):
        sink.write(noise(i), i)
    return sink


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    caplog.set_level(logging.WARNING, logger="streamer")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "streamer"]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_disk_full_while_flushing_the_encoder_keeps_the_frames(tmp_path: Path, suffix: str) -> None:
    """x264's look-ahead holds frames until the flush at close; the disk is full by then. The
    error names the file and the reason, the frames that reached the disk are kept at the
    final name (every one decodes), nothing else is left, a second close is silent."""
    out = tmp_path / f"v{suffix}"
    sink = written(out)  # ultrafast keeps x264's look-ahead: the flush has frames to write
    with no_writes_past(sink._part.stat().st_size), pytest.raises(SinkError) as caught:
        sink.close()
    assert str(caught.value) == f"{out}: file too large"
    sink.close()
    assert sink.written == out
    assert sorted(tmp_path.iterdir()) == [out]
    assert 0 < decoded(out) < FRAMES


def test_a_disk_full_while_finishing_a_matroska_file_keeps_the_frames(tmp_path: Path) -> None:
    """No look-ahead (zerolatency): every packet was muxed, the trailer (the last cluster,
    the index) cannot be written. The error says so; every frame but the last is kept."""
    out = tmp_path / "v.mkv"
    sink = written(out, tune="zerolatency")
    with no_writes_past(sink._part.stat().st_size), pytest.raises(SinkError) as caught:
        sink.close()
    assert str(caught.value) == f"{out}: file too large"
    assert sink.written == out and sorted(tmp_path.iterdir()) == [out]
    assert decoded(out) == FRAMES - 1  # a cluster per frame: the last one was in memory


def test_a_failed_faststart_copy_keeps_the_fragmented_file(tmp_path: Path, warnings: Callable[[], list[str]],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for the run's file but not for its faststart copy: the fragmented MP4 is kept at
    the final name (it plays, index first too), with a warning; the half copy is removed."""
    out = tmp_path / "v.mp4"
    sink = written(out, tune="zerolatency")
    copy = sink._faststart_copy

    def copy_on_a_full_disk() -> Path:
        with no_writes_past(sink._part.stat().st_size // 2):
            return copy()

    monkeypatch.setattr(sink, "_faststart_copy", copy_on_a_full_disk)
    sink.close()
    assert warnings() == [f"{out}: kept the fragmented MP4 (the faststart copy failed: file too large)"]
    assert sink.written == out and sorted(tmp_path.iterdir()) == [out]
    assert b"moof" in out.read_bytes()  # the fragmented file, not a copy
    assert decoded(out) == FRAMES


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_folder_at_the_final_name_keeps_the_video_in_the_part_file(tmp_path: Path, suffix: str) -> None:
    """The final name became a folder during the run: the error names it, the reason and the
    file the video is in; that file plays whole; no faststart copy is left behind."""
    out = tmp_path / f"v{suffix}"
    sink = written(out, tune="zerolatency")
    part = sink._part
    out.mkdir()
    with pytest.raises(SinkError) as caught:
        sink.close()
    assert str(caught.value) == (
        f"{out}: cannot rename the finished file to it (is a directory); the video is in {part}")
    assert sink.written is None
    assert sorted(tmp_path.iterdir()) == sorted([out, part]) and list(out.iterdir()) == []
    assert decoded(part) == FRAMES


def test_a_folder_at_the_final_name_after_a_write_error_keeps_the_frames(
        tmp_path: Path, warnings: Callable[[], list[str]]) -> None:
    """A disk-full error mid-run, then the final name is taken: close raises nothing more (the
    error was raised), warns where the frames are, and they play."""
    out = tmp_path / "v.mp4"
    sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), preset="ultrafast", tune="zerolatency")
    part = sink._part
    with no_writes_past(40_000), pytest.raises(SinkError, match="file too large$"):
        for i in range(100):
            sink.write(noise(i), i)
    out.mkdir()
    sink.close()
    assert warnings() == [
        f"{out}: could not keep the frames written before the error (is a directory); they are in {part}"]
    assert sink.written is None
    assert 0 < decoded(part) <= sink.frames_written


@pytest.mark.parametrize("limit", [0, 600, 2000])
def test_a_matroska_file_without_a_whole_frame_is_not_kept(tmp_path: Path, limit: int) -> None:
    """The disk was full before a frame reached it (nothing, the header, a cut first cluster):
    no file at the final name and no part file (a file that plays nothing is no recording)."""
    out = tmp_path / "v.mkv"
    sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), preset="ultrafast", tune="zerolatency")
    with no_writes_past(limit), pytest.raises(SinkError, match="file too large$"):
        for i in range(5):
            sink.write(noise(i), i)
    sink.close()
    assert sink.written is None and list(tmp_path.iterdir()) == []


def audio_clip(path: Path, codec: str, rate: int) -> None:
    """One second of mono audio in ``path`` (its container as the suffix says)."""
    with av.open(str(path), "w") as dst:
        stream = dst.add_stream(codec, rate=rate, layout="mono")
        fmt = "s16" if codec.startswith("pcm") else "fltp"
        size = stream.codec_context.frame_size or 320
        for start in range(0, rate, size):
            t = np.arange(start, start + size) / rate
            samples = 0.2 * np.sin(2 * np.pi * 440 * t)
            data = (samples * 32767).astype(np.int16) if fmt == "s16" else samples.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=fmt, layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_audio_out_of_time_order_is_left_out(tmp_path: Path, suffix: str, warnings: Callable[[], list[str]]) -> None:
    """A source whose audio times jump back (a packet again at the same time, then two
    earlier ones) and a packet presented before it is decoded: muxers refuse such packets, and
    the file ended there before ("writing failed (invalid argument)"). Now those four are left
    out, counted and warned about once; the rest is copied byte for byte; a packet without
    times is kept."""
    src = tmp_path / "a.mkv"
    audio_clip(src, "aac", 48000)
    out = tmp_path / f"v{suffix}"
    with av.open(str(src)) as c:
        stream = c.streams.audio[0]
        packets = [p for p in c.demux(stream) if p.size]
        source = [bytes(p) for p in packets]
        early = av.Packet(source[6])
        early.pts, early.dts, early.time_base = packets[6].pts - 1, packets[6].dts, packets[6].time_base
        untimed = av.Packet(source[7])  # a demuxer packet without times (raw streams give them)
        untimed.time_base = packets[7].time_base
        order = [*packets[:6], packets[5], packets[2], packets[3], early, *packets[6:7], untimed, *packets[8:16]]
        sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), audio=stream, preset="ultrafast")
        for i in range(FRAMES):
            sink.write(noise(i), i, order[2 * i:2 * i + 2])
        sink.close()
    assert sink.audio_dropped == 4
    first = float(packets[5].dts * packets[5].time_base)
    assert warnings() == [f"{out}: left out audio out of time order (the first at {first:.3f} s)"]
    with av.open(str(out)) as c:
        assert [bytes(p) for p in c.demux(audio=0) if p.size] == source[:16]
    assert decoded(out) == FRAMES


def test_audio_an_mp4_cannot_hold_is_left_out_with_a_warning(tmp_path: Path, warnings: Callable[[], list[str]]) -> None:
    """G.711 (a camera's usual audio) cannot go into MP4: the video is written without it and
    the warning says why; it failed the whole output at set-up before."""
    src = tmp_path / "a.mov"
    audio_clip(src, "pcm_mulaw", 8000)
    out = tmp_path / "v.mp4"
    with av.open(str(src)) as c:
        stream = c.streams.audio[0]
        packets = [p for p in c.demux(stream) if p.size]
        sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), audio=stream, preset="ultrafast")
        for i in range(FRAMES):
            sink.write(noise(i), i, packets[i:i + 1])
        sink.close()
    assert warnings() == [
        f"{out}: writing the video without the source's audio ('mp4' format does not support 'pcm_mulaw' codec)"]
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video"]
    assert decoded(out) == FRAMES


def test_a_matroska_file_plays_up_to_its_last_frames_while_being_written(tmp_path: Path) -> None:
    """What a crash leaves: the file as it is on disk mid-run holds every frame but the one in
    the muxer's open cluster (a cluster per frame); before, a 5-second cluster was held in
    memory and the file had no frame at all."""
    sink = written(tmp_path / "v.mkv", tune="zerolatency")
    try:
        with av.open(str(sink._part)) as c:
            assert sum(1 for _ in c.decode(video=0)) == FRAMES - 1
    finally:
        sink.close()
