"""Queues and the threaded pipeline: ordering, back-pressure, drop policy, failures, stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

from streamer.errors import PipelineError
from streamer.frames import Frame
from streamer.pipeline import Pipeline
from streamer.queues import FrameQueue, Policy, QueueAborted, QueueClosed


def make_frames(n: int, *, delay: float = 0.0) -> Iterator[Frame]:
    for i in range(n):
        if delay:
            time.sleep(delay)
        yield Frame(i, i * 10, Fraction(1, 100), time.monotonic(), np.zeros((2, 2, 3), np.uint8))


class Collect:
    name = "collect"

    def __init__(self, *, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.seen: list[int] = []
        self.delay = delay
        self.fail_at = fail_at
        self.finished = False
        self.thread_name = ""

    def start(self) -> None:
        self.thread_name = threading.current_thread().name

    def process(self, frame: Frame) -> None:
        if self.fail_at is not None and frame.index == self.fail_at:
            raise ValueError("boom at frame %d" % frame.index)
        if self.delay:
            time.sleep(self.delay)
        self.seen.append(frame.index)

    def finish(self) -> None:
        self.finished = True


class AddOne:
    name = "add"

    def start(self) -> None:
        pass

    def process(self, frame: Frame) -> Frame:
        frame.image += 1
        return frame

    def finish(self) -> None:
        pass


def test_queue_block_policy_never_drops() -> None:
    q: FrameQueue[int] = FrameQueue(2, Policy.BLOCK, name="q")
    got: list[int] = []

    def consume() -> None:
        while True:
            try:
                got.append(q.get())
            except QueueClosed:
                return
            time.sleep(0.001)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(50):
        q.put(i)
    q.close()
    t.join(5)
    assert got == list(range(50))
    assert q.dropped == 0
    assert q.high_water <= 2


def test_queue_latest_policy_drops_oldest_and_counts() -> None:
    q: FrameQueue[int] = FrameQueue(3, Policy.LATEST)
    dropped = [q.put(i) for i in range(10)]
    assert q.dropped == 7
    assert [d for d in dropped if d is not None] == list(range(7))
    assert [q.get(), q.get(), q.get()] == [7, 8, 9]


def test_queue_abort_wakes_blocked_producer_and_consumer() -> None:
    q: FrameQueue[int] = FrameQueue(1, Policy.BLOCK)
    q.put(0)
    errors: list[type] = []

    def blocked_put() -> None:
        try:
            q.put(1)
        except QueueAborted:
            errors.append(QueueAborted)

    t = threading.Thread(target=blocked_put)
    t.start()
    time.sleep(0.05)
    q.abort()
    t.join(2)
    assert not t.is_alive() and errors == [QueueAborted]
    with pytest.raises(QueueAborted):
        q.get()


def test_get_timeout() -> None:
    q: FrameQueue[int] = FrameQueue(1, Policy.BLOCK)
    with pytest.raises(TimeoutError):
        q.get(timeout=0.01)


def test_pipeline_keeps_order_and_names_threads() -> None:
    sink = Collect(delay=0.001)
    p = Pipeline(lambda: make_frames(40), [AddOne(), sink], queue_size=2, name="cam0")
    stats = p.run()
    assert sink.seen == list(range(40))
    assert sink.finished and sink.thread_name == "cam0-collect"
    assert stats.frames_out == 40 and stats.dropped == 0
    assert [s.name for s in stats.stages] == ["decode", "add", "collect"]


def test_worker_failure_surfaces_in_caller_and_every_stage_finishes() -> None:
    sink = Collect(fail_at=5)
    p = Pipeline(lambda: make_frames(1000), [AddOne(), sink], queue_size=2)
    with pytest.raises(PipelineError) as info:
        p.run()
    assert info.value.stage == "collect"
    assert isinstance(info.value.__cause__, ValueError)
    assert "boom at frame 5" in str(info.value)
    assert sink.finished
    assert not p.alive()


def test_source_failure_surfaces() -> None:
    def broken() -> Iterator[Frame]:
        yield from make_frames(3)
        raise OSError("disk gone")

    sink = Collect()
    with pytest.raises(PipelineError) as info:
        Pipeline(broken, [sink]).run()
    assert info.value.stage == "decode" and sink.finished


def test_stop_drains_in_flight_frames_and_closes() -> None:
    sink = Collect(delay=0.002)
    p = Pipeline(lambda: make_frames(10_000, delay=0.001), [sink], queue_size=3)
    p.start()
    time.sleep(0.2)
    p.stop()
    assert p.wait(5)
    p.raise_if_failed()
    # Everything decoded was written, in order, with no gap.
    assert sink.seen == list(range(len(sink.seen))) and 0 < len(sink.seen) < 10_000
    assert p.stats().stages[0].frames == len(sink.seen)
    assert sink.finished


def test_latest_policy_keeps_newest_with_slow_consumer() -> None:
    sink = Collect(delay=0.01)
    p = Pipeline(lambda: make_frames(200), [sink], policy=Policy.LATEST, queue_size=2)
    stats = p.run()
    assert sink.seen[-1] == 199  # the newest frame always gets through
    assert stats.dropped == 200 - len(sink.seen)
    assert sink.seen == sorted(sink.seen)
