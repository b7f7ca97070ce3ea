"""The pipeline's last stage: fans each finished frame out to every output.

Each output (:class:`~streamer.outputs.base.Output`) gets its own bounded
:class:`~streamer.queues.FrameQueue` with the output's policy and its own named thread
(``streamer-<camera>-out-<name>``). The stage's ``process`` only queues the frame for each
output, so one output's speed is the others' business only when it must be:

- a ``BLOCK`` output (files) never drops: a slow one holds the stage (and so the pipeline) back;
  its failure is the run's failure, raised from the stage as before;
- a ``LATEST`` output (network, live views) drops its oldest queued frame and counts it; its
  failure ends that output only: one line in the log and an ``output`` event record
  (``{"event": "output", "output": NAME, "state": "failed", "message": ...}``); the others go on.

The same :class:`~streamer.frames.Frame` object goes to every output: outputs only read it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from streamer.frames import Frame
from streamer.outputs.base import Output
from streamer.queues import FrameQueue, Policy, QueueAborted, QueueClosed

log = logging.getLogger("streamer")

#: Seconds ``finish`` waits for a LATEST output to close; one stuck in a network call is left
#: behind (its thread is a daemon) rather than hold up the end of the run.
LATEST_CLOSE_TIMEOUT = 5.0
#: Frames a LATEST output may have queued: the newest wins, so a deeper queue only adds latency.
LATEST_QUEUE_SIZE = 2

Publish = Callable[[dict[str, Any]], None]


@dataclass
class OutputStats:
    """Counters of one output (updated by its thread; read for the summary and metrics).

    ``frames`` were written, ``dropped`` were pushed out of its queue by newer ones (LATEST);
    ``wall``/``cpu`` are seconds spent in its ``write``; ``state`` is ``running``, ``done``
    or ``failed`` (then ``error`` says why, in one line).
    """

    name: str
    policy: str
    frames: int = 0
    dropped: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    state: str = "running"
    error: str | None = None
    bytes: int = 0

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000.0 * self.cpu / self.frames if self.frames else 0.0


class _Lane:
    """One output behind its own queue and thread."""

    def __init__(self, output: Output, queue_size: int, thread_name: str, age_window: int) -> None:
        self.output = output
        size = queue_size if output.policy is Policy.BLOCK else min(queue_size, LATEST_QUEUE_SIZE)
        self.queue: FrameQueue[Frame] = FrameQueue(size, output.policy, name=f"output->{output.name}")
        self.stats = OutputStats(output.name, output.policy.value)
        self.ages: deque[float] = deque(maxlen=age_window)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, name=thread_name, daemon=True)
        self.on_failure: Callable[[_Lane, BaseException], None] = lambda lane, exc: None

    @property
    def blocking(self) -> bool:
        return self.output.policy is Policy.BLOCK

    def run(self) -> None:
        try:
            while True:
                try:
                    frame = self.queue.get()
                except (QueueClosed, QueueAborted):
                    break
                wall, cpu = time.perf_counter(), time.thread_time()
                self.output.write(frame)
                self.stats.wall += time.perf_counter() - wall
                self.stats.cpu += time.thread_time() - cpu
                self.stats.frames += 1
                self.ages.append(1000.0 * (time.monotonic() - frame.capture_time))
        except BaseException as exc:  # noqa: BLE001 - reported by the stage (BLOCK) or logged (LATEST)
            self.error = exc
            self.queue.abort()  # the stage's next put skips (or raises for) this output
            self.on_failure(self, exc)
        finally:
            try:
                self.output.close()
            except BaseException as exc:  # noqa: BLE001 - same as a write failure
                if self.error is None:
                    self.error = exc
                    self.on_failure(self, exc)
            self.stats.dropped = self.queue.dropped
            if self.error is None:
                self.stats.state = "done"


class OutputStage:
    """The fan-out: queue each frame for every output; close them all whatever happens.

    Parameters
    ----------
    outputs : sequence of Output
        In the order given (files first, by convention); names must be unique.
    camera : str
        Camera name, for thread names (``streamer-<camera>-out-<name>``) and event records.
    queue_size : int
        Capacity of a BLOCK output's queue (LATEST outputs hold at most ``LATEST_QUEUE_SIZE``).
    publish : callable, optional
        Receives the ``output`` event record of a LATEST output that failed (the run's
        :class:`~streamer.bus.EventBus` ``publish``).
    age_window : int
        Frames whose capture-to-written age each output keeps (:meth:`ages_ms`).
    """

    name = "output"

    def __init__(
        self,
        outputs: Sequence[Output],
        *,
        camera: str = "streamer",
        queue_size: int = 4,
        publish: Publish | None = None,
        age_window: int = 600,
    ) -> None:
        names = [o.name for o in outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"output names must be unique, got {names}")
        self.camera = camera
        self._publish = publish
        self._lanes = [_Lane(o, queue_size, f"streamer-{camera}-out-{o.name}", age_window) for o in outputs]
        for lane in self._lanes:
            lane.on_failure = self._failed
        self.last_index = -1
        self._ages: deque[float] = deque(maxlen=age_window)  # no output at all: age at this stage
        self._started = False

    @property
    def outputs(self) -> list[Output]:
        return [lane.output for lane in self._lanes]

    def output(self, name: str) -> Output | None:
        """The output called ``name``, or None."""
        return next((lane.output for lane in self._lanes if lane.output.name == name), None)

    def start(self) -> None:
        if not self._started:
            self._started = True
            for lane in self._lanes:
                lane.thread.start()

    def _failed(self, lane: _Lane, exc: BaseException) -> None:
        """From an output's thread: a failed output (BLOCK: raised by the stage later)."""
        message = _one_line(exc)
        lane.stats.state, lane.stats.error = "failed", message
        if lane.blocking:
            return
        log.error("output %s failed: %s (the other outputs go on)", lane.output.name, message)
        if self._publish is not None:
            self._publish({"event": "output", "camera": self.camera, "output": lane.output.name,
                           "state": "failed", "message": message})

    def _raise_blocking_failure(self) -> None:
        for lane in self._lanes:
            if lane.blocking and lane.error is not None:
                raise lane.error

    def process(self, frame: Frame) -> None:
        self._raise_blocking_failure()
        for lane in self._lanes:
            if lane.error is not None:
                continue
            try:
                dropped = lane.queue.put(frame)
                if dropped is not None and hasattr(lane.output, "dropped"):
                    lane.output.dropped(dropped)  # e.g. the live encoder keeps the frame's audio
            except (QueueAborted, QueueClosed):  # that output failed meanwhile (or was aborted)
                if lane.blocking and lane.error is not None:
                    raise lane.error from None
        self.last_index = frame.index
        if not self._lanes:
            self._ages.append(1000.0 * (time.monotonic() - frame.capture_time))

    def abort(self) -> None:
        """Drop the frames queued for the LATEST outputs (they still close in ``finish``).

        BLOCK outputs (files) write what was already handed to them, so the video and the
        JSONL of an aborted run hold the same frames.
        """
        for lane in self._lanes:
            if not lane.blocking:
                lane.queue.abort()

    def ages_ms(self) -> list[float]:
        """Capture-to-written age of the most recent frames, in milliseconds: those of the
        first output (the video file when there is one), or at this stage without outputs."""
        if not self._lanes:
            return list(self._ages)
        return list(self._lanes[0].ages)

    def stats(self) -> list[OutputStats]:
        """A snapshot of every output's counters, in output order."""
        out = []
        for lane in self._lanes:
            out.append(replace(lane.stats, dropped=lane.queue.dropped))
            # What publishes an output's products (the live encoder's publishers) follows it.
            out.extend(replace(sink.stats) for sink in getattr(lane.output, "sinks", ()))
        return out

    def finish(self) -> None:
        """End of stream for every output; wait for each to close; raise a BLOCK output's error."""
        for lane in self._lanes:
            lane.queue.close()
        if not self._started:  # never started: close here
            for lane in self._lanes:
                lane.run()
        for lane in self._lanes:
            if lane.thread.is_alive() or lane.thread.ident is not None:
                lane.thread.join(None if lane.blocking else LATEST_CLOSE_TIMEOUT)
            if lane.thread.is_alive():
                log.warning("output %s did not close within %.0f s; left behind", lane.output.name,
                            LATEST_CLOSE_TIMEOUT)
        self._raise_blocking_failure()


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
