"""The command line end to end, as a user runs it: real clips, the bundled model, real signals.

The clips and models come from packages (tests/media.py); ../shared adds extra cases where present."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from streamer.detection import Detector

from media import Clip, decode_frames

STREAMER = [sys.executable, "-m", "streamer.cli"]


def streamer(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STREAMER, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def video_frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def test_run_writes_annotated_video_and_jsonl(audio_clip: Clip, tmp_path: Path) -> None:
    clip = audio_clip.path
    out = tmp_path / "clip.annotated.mp4"
    r = streamer("run", clip, "--out", out, "--max-frames", "40", "--no-progress", "--classes", "car,truck,bus",
                 "--device", "cpu")
    assert r.returncode == 0, r.stderr
    jsonl = tmp_path / "clip.detections.jsonl"  # named after --out
    records = read_jsonl(jsonl)
    assert [r["frame"] for r in records] == list(range(40))
    with av.open(str(clip)) as c:
        src = [(f.pts, f.time) for _, f in zip(range(40), c.decode(video=0))]
    assert [(r["pts"], r["time"]) for r in records] == [(p, pytest.approx(t)) for p, t in src]
    # The boxes are the bundled detector's on the same frames, in source pixels (boxes left in
    # the model's 416x416 input space, or scaled without the padding, would differ here).
    detector = Detector(device="cpu", classes=["car", "truck", "bus"])
    expected = [detector.detect(image).to_records(detector.labels) for image in decode_frames(clip, 40)]
    if clip.name == "bikes_aac.mp4":  # cars on its road from frame 0 (intel_car's come later)
        assert sum(map(len, expected)) >= 5
    for rec, want in zip(records, expected):
        assert [(d["label"], d["class_id"]) for d in rec["detections"]] == [(d["label"], d["class_id"]) for d in want]
        for d, w in zip(rec["detections"], want):
            assert set(d) == {"label", "class_id", "score", "box"}
            assert d["score"] == pytest.approx(w["score"], abs=2e-3)
            assert d["box"] == pytest.approx(w["box"], abs=0.05)
            assert d["label"] in {"car", "truck", "bus"}
    frames = video_frames(out)
    assert len(frames) == 40 and [f.pts for f in frames] == [p for p, _ in src]
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.format.name == "yuv420p"
        assert len(c.streams.audio) == 1  # the source's AAC, copied
    assert "40 frames" in r.stderr and "per stage" in r.stderr


def test_street_clip_finds_people_and_cars(bikes_clip: Path, tmp_path: Path) -> None:
    r = streamer("run", bikes_clip, "--no-video", "--jsonl", tmp_path / "bikes.jsonl", "--max-frames", "60", "--no-progress")
    assert r.returncode == 0, r.stderr
    records = read_jsonl(tmp_path / "bikes.jsonl")
    frames_with = lambda label: sum(any(d["label"] == label for d in rec["detections"]) for rec in records)  # noqa: E731
    assert frames_with("person") >= 10 and frames_with("car") >= 5
    summary = r.stderr.split("detections:")[-1]
    assert "person" in summary and "car" in summary


def test_whole_clip_keeps_every_frame(short_clip: Clip, tmp_path: Path) -> None:
    out = tmp_path / "whole.mp4"
    r = streamer("run", short_clip.path, "--out", out, "--quiet", "--kernels", "denoise=gaussian:ksize=3,white_balance=grayworld,gamma=0.9,edges=sobel")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    with av.open(str(short_clip.path)) as c:
        src = [f.pts for f in c.decode(video=0)]
    assert len(src) == short_clip.frames
    assert [f.pts for f in video_frames(out)] == src
    assert len(read_jsonl(tmp_path / "whole.detections.jsonl")) == len(src)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_playable_output(hd_clip: Path, tmp_path: Path, sig: signal.Signals) -> None:
    clip = hd_clip  # 1280x720, 132 frames, with audio: long enough to interrupt mid-file
    out = tmp_path / "hd.mp4"
    jsonl = tmp_path / "hd.jsonl"
    proc = subprocess.Popen([*STREAMER, "run", str(clip), "--out", str(out), "--jsonl", str(jsonl), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # Wait until frames are being written, then interrupt mid-file.
        while time.monotonic() < deadline and (not jsonl.exists() or len(jsonl.read_bytes().splitlines()) < 5):
            time.sleep(0.1)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    records = read_jsonl(jsonl)
    frames = video_frames(out)
    assert 0 < len(frames) < 132
    assert len(frames) == len(records)
    assert [f.pts for f in frames] == [r["pts"] for r in records]


def test_motion_gate_skips_detector_on_still_frames(still_then_moving_clip: tuple, tmp_path: Path) -> None:
    # A camera that sees nothing move for a while, then real motion (see the fixture).
    clip, count, still, moving = still_then_moving_clip
    jsonl = tmp_path / "gate.jsonl"
    r = streamer("run", clip, "--no-video", "--jsonl", jsonl, "--max-frames", count, "--no-progress",
                 "--kernels", "motion=background:threshold=25:min_area=200", "--detect-min-motion", "0.002")
    assert r.returncode == 0, r.stderr
    recs = read_jsonl(jsonl)
    assert len(recs) == count
    # The still frames (measured motion score < 0.0003): only the first frame is detected;
    # then the detector runs on most moving frames.
    assert sum(recs[i]["detected"] for i in still) == 0
    assert sum(recs[i]["detected"] for i in moving) >= 0.2 * len(moving)
    r = streamer("run", clip, "--detect-min-motion", "0.01")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("streamer: error: ") and "needs a motion step" in r.stderr
