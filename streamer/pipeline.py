"""Threads and queues that connect a source to stages and sinks.

Data flows one way: a source thread produces :class:`~streamer.frames.Frame` objects,
and each stage runs in its own named thread between two bounded queues. The queue
policy is declared once for the whole chain: ``Policy.BLOCK`` for files (back-pressure,
nothing dropped) or ``Policy.LATEST`` for live sources (newest frame wins, drops counted
per queue). Stages never see the policy, so the same stages serve both.

A failure in a stage aborts every queue, lets each stage finish (sinks close their
files, so what was written stays playable) and is raised in the caller by :meth:`Pipeline.run`.
A failure of the source (reading, decoding, or closing it after the last frame) ends the
stream instead: the frames it already handed on are still processed and written, then the
failure is raised (an abort there lost the frames in flight, up to a queue per stage).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streamer.errors import PipelineError
from streamer.frames import Frame
from streamer.queues import FrameQueue, Policy, QueueAborted, QueueClosed


# Seconds a stopping live source gets to end by itself before the pipeline goes on without it.
DETACH_GRACE = 1.0

# Source threads a pipeline went on without (blocked in a connect or a read): see stuck_sources.
_detached: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def stuck_sources() -> list[threading.Thread]:
    """Source threads that their pipelines left behind and that still run (in FFmpeg, which
    gives them back only at its own timeout). A process should not run Python's finalisation
    under them: see :func:`streamer.cli.entry`."""
    return [t for t in list(_detached) if t.is_alive()]


class Stage(Protocol):
    """One step between the source and the end of the chain.

    ``start`` and ``finish`` run in the stage's own thread (thread-local settings such as
    Numba's thread count belong there); ``finish`` always runs, also after an abort.
    ``process`` returns the frame to pass on, or None to consume it (sinks).

    A stage may declare ``workers > 1``: the pipeline then runs ``start``, ``process``
    and ``finish`` in that many threads on successive frames, and hands the frames on in
    their original order. Such a stage keeps per-thread state in ``threading.local`` and
    may define ``ordered(frame)``, called once per frame in frame order (under a lock),
    for state that must follow the sequence (e.g. reusing the last detections).
    """

    name: str

    def start(self) -> None: ...

    def process(self, frame: Frame) -> Frame | None: ...

    def finish(self) -> None: ...


@dataclass
class StageStats:
    """Counters a stage's threads update; the caller reads them for progress and the summary.

    ``wall`` and ``cpu`` add up over a stage's worker threads.
    """

    name: str
    frames: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    workers: int = 1
    stale: int = 0

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.wall / self.frames if self.frames else 0.0

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000.0 * self.cpu / self.frames if self.frames else 0.0


@dataclass
class PipelineStats:
    """A snapshot of the whole chain."""

    elapsed: float
    frames_out: int
    stages: list[StageStats]
    queues: list[tuple[str, int, int]] = field(default_factory=list)  # name, dropped, high water

    @property
    def fps(self) -> float:
        return self.frames_out / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def dropped(self) -> int:
        """Frames dropped anywhere: by full queues (newest wins) and as too old."""
        return sum(d for _, d, _ in self.queues) + sum(s.stale for s in self.stages)


class Pipeline:
    """Run ``frames`` through ``stages`` in threads connected by bounded queues.

    Parameters
    ----------
    frames : callable returning an iterator of Frame
        Called in the source thread; the iterator is closed when the pipeline stops,
        so a generator's ``finally`` releases the source.
    stages : sequence of Stage
        In data-flow order; the last one is usually the sink and returns None.
    policy : Policy
        Overflow policy of every queue (see module docstring).
    queue_size : int
        Capacity of each queue: a few frames absorb jitter without adding latency.
    name : str
        Prefix of the thread names, so several pipelines in one process are told apart.
    max_age : float, optional
        Latency budget in seconds (live sources): a frame older than this (since
        capture) when a stage is about to take it is dropped and counted, except by the
        last stage, so late frames are never processed late.
    on_stop : callable, optional
        Called by :meth:`stop` so the source can end promptly (e.g. ``LiveSource.stop``).
    detach_source : bool
        On :meth:`stop`, close the first queue from the consumer side and do not wait for
        the source thread: a live source blocked in a connect must not hold up shutdown.
    """

    def __init__(
        self,
        frames: Callable[[], Iterator[Frame]],
        stages: Sequence[Stage],
        *,
        policy: Policy = Policy.BLOCK,
        queue_size: int = 4,
        name: str = "streamer",
        max_age: float | None = None,
        on_stop: Callable[[], None] | None = None,
        detach_source: bool = False,
    ) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self._frames = frames
        self._stages = list(stages)
        self.name = name
        names = ["decode", *(s.name for s in self._stages)]
        self._queues: list[FrameQueue[Frame]] = [
            FrameQueue(queue_size, policy, name=f"{a}->{b}") for a, b in zip(names, names[1:])
        ]
        self._stats = [StageStats("decode"), *(StageStats(s.name) for s in self._stages)]
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._error_lock = threading.Lock()
        self._error: tuple[str, BaseException] | None = None
        self._started_at = 0.0
        self._ended_at: float | None = None
        self.max_age = max_age
        self._on_stop = on_stop
        self._detach_source = detach_source
        self._stop_time = 0.0

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        """Start every thread; returns at once."""
        if self._threads:
            raise RuntimeError("pipeline already started")
        self._started_at = time.perf_counter()
        self._threads.append(
            threading.Thread(target=self._run_source, name=f"{self.name}-decode", daemon=True)
        )
        for i, stage in enumerate(self._stages):
            out = self._queues[i + 1] if i + 1 < len(self._queues) else None
            workers = max(1, int(getattr(stage, "workers", 1)))
            self._stats[i + 1].workers = workers
            group = _WorkerGroup(stage, self._queues[i], out, self._stats[i + 1], workers)
            for w in range(workers):
                suffix = f"-{w}" if workers > 1 else ""
                self._threads.append(
                    threading.Thread(
                        target=self._run_stage,
                        args=(group,),
                        name=f"{self.name}-{stage.name}{suffix}",
                        daemon=True,
                    )
                )
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop reading the source; what is already queued is still processed and written."""
        if not self._stop.is_set():
            self._stop_time = time.monotonic()
        self._stop.set()
        if self._on_stop is not None:
            self._on_stop()

    def abort(self) -> None:
        """Stop at once: queued frames are discarded, every stage still finishes (closes)."""
        self._stop.set()
        for q in self._queues:
            q.abort()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _awaited(self) -> list[threading.Thread]:
        """The threads to wait for: all, unless a stopping live source is stuck.

        A source that does not end within ``DETACH_GRACE`` seconds of :meth:`stop` (blocked
        in a connect or a read) is left to end on its own: its queue is closed from this
        side so the stages drain and finish without it.
        """
        if (self._detach_source and self.stopping and self._threads and self._threads[0].is_alive()
                and time.monotonic() - self._stop_time > DETACH_GRACE):
            self._queues[0].close()
            _detached.add(self._threads[0])
            return self._threads[1:]
        return self._threads

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._awaited())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever) for the threads; True when all ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pending = [t for t in self._awaited() if t.is_alive()]
            if not pending:
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            # Short slices: which threads are awaited changes once a stuck source is detached.
            pending[0].join(0.1 if remaining is None else min(0.1, remaining))
        if self._ended_at is None:
            self._ended_at = time.perf_counter()
        return True

    def run(
        self,
        on_tick: Callable[[PipelineStats], None] | None = None,
        *,
        tick: float = 0.2,
    ) -> PipelineStats:
        """Start, wait for the end, and return the final statistics.

        Waiting happens in short slices so that signal handlers in the calling (main)
        thread run promptly; a KeyboardInterrupt first stops the source gracefully, a
        second one aborts.

        Raises
        ------
        PipelineError
            A worker failed; ``__cause__`` is its exception.
        """
        if not self._threads:
            self.start()
        while True:
            try:
                if self.wait(tick):
                    break
                if on_tick is not None:
                    on_tick(self.stats())
            except KeyboardInterrupt:
                if self.stopping:
                    self.abort()
                else:
                    self.stop()
        final = self.stats()
        if on_tick is not None:
            on_tick(final)
        self.raise_if_failed()
        return final

    def raise_if_failed(self) -> None:
        """Raise the first worker failure, if any, as :class:`PipelineError`."""
        if self._error is not None:
            stage, exc = self._error
            raise PipelineError(stage, exc) from exc

    def stats(self) -> PipelineStats:
        end = self._ended_at if self._ended_at is not None else time.perf_counter()
        return PipelineStats(
            elapsed=end - self._started_at if self._started_at else 0.0,
            frames_out=self._stats[-1].frames,
            stages=[StageStats(s.name, s.frames, s.wall, s.cpu, s.workers, s.stale) for s in self._stats],
            queues=[(q.name, q.dropped, q.high_water) for q in self._queues],
        )

    # -- threads -------------------------------------------------------------------------
    def _fail(self, stage: str, exc: BaseException, *, abort: bool = True) -> None:
        """Keep the first failure (raised by :meth:`raise_if_failed`) and, if ``abort``, abort."""
        with self._error_lock:
            if self._error is None:
                self._error = (stage, exc)
        if abort:
            self.abort()

    def _run_source(self) -> None:
        out = self._queues[0]
        stats = self._stats[0]
        iterator: Iterator[Frame] | None = None
        try:
            iterator = self._frames()
            while not self._stop.is_set():
                wall_start, cpu_start = time.perf_counter(), time.thread_time()
                try:
                    frame = next(iterator)
                except StopIteration:
                    break
                stats.wall += time.perf_counter() - wall_start
                stats.cpu += time.thread_time() - cpu_start
                stats.frames += 1
                out.put(frame)
        except (QueueAborted, QueueClosed):
            pass
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the caller
            # The frames already queued are good: they drain (out.close below), not abort.
            self._fail("decode", exc, abort=False)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:  # noqa: BLE001
                    self._fail("decode", exc, abort=False)
            out.close()

    def _run_stage(self, group: _WorkerGroup) -> None:
        stage = group.stage
        try:
            stage.start()
            while True:
                try:
                    seq, frame = group.take()
                except QueueClosed:
                    break
                if group.too_old(frame, self.max_age):
                    group.hand_on(seq, None)
                    continue
                wall_start, cpu_start = time.perf_counter(), time.thread_time()
                try:
                    result = stage.process(frame)
                except BaseException:
                    group.skip(seq)
                    raise
                dt = time.perf_counter() - wall_start
                group.add_stats(dt, time.thread_time() - cpu_start)
                if result is not None:
                    result.timings[stage.name] = dt
                group.hand_on(seq, result)
        except QueueAborted:
            pass
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the caller
            self._fail(stage.name, exc)
        finally:
            try:
                stage.finish()
            except BaseException as exc:  # noqa: BLE001
                self._fail(stage.name, exc)
            group.worker_done()


class _WorkerGroup:
    """The threads of one stage: numbered takes, in-order hand-on, one close at the end.

    With one worker this is a plain get/process/put loop. With several, frames are
    numbered as they are taken and each worker waits for its number's turn before
    calling the stage's ``ordered`` hook and putting the frame on, so the next stage
    sees the original order.
    """

    def __init__(
        self,
        stage: Stage,
        inq: FrameQueue[Frame],
        outq: FrameQueue[Frame] | None,
        stats: StageStats,
        workers: int,
    ) -> None:
        self.stage = stage
        self._inq, self._outq = inq, outq
        self._stats = stats
        self._ordered: Callable[[Frame], None] | None = getattr(stage, "ordered", None)
        self._take_lock = threading.Lock()
        self._turn = threading.Condition()
        self._taken = 0
        self._next = 0
        self._alive = workers
        self._stats_lock = threading.Lock()

    def take(self) -> tuple[int, Frame]:
        # Numbering under the same lock as the get keeps numbers in queue order.
        with self._take_lock:
            frame = self._inq.get()
            seq = self._taken
            self._taken += 1
            return seq, frame

    def too_old(self, frame: Frame, max_age: float | None) -> bool:
        """Count and report a frame past the latency budget (never in the last stage)."""
        if max_age is None or self._outq is None or time.monotonic() - frame.capture_time <= max_age:
            return False
        with self._stats_lock:
            self._stats.stale += 1
        return True

    def add_stats(self, wall: float, cpu: float) -> None:
        with self._stats_lock:
            self._stats.wall += wall
            self._stats.cpu += cpu
            self._stats.frames += 1

    def _wait_turn(self, seq: int) -> None:
        while self._next != seq:
            if self._inq.aborted:
                raise QueueAborted(self._inq.name)
            self._turn.wait(0.1)

    def hand_on(self, seq: int, frame: Frame | None) -> None:
        with self._turn:
            self._wait_turn(seq)
            try:
                if frame is not None:
                    if self._ordered is not None:
                        self._ordered(frame)
                    if self._outq is not None:
                        self._outq.put(frame)
            finally:
                self._next += 1
                self._turn.notify_all()

    def skip(self, seq: int) -> None:
        """Give up ``seq``'s turn (its worker failed) so the others are not left waiting."""
        with self._turn:
            if self._next == seq:
                self._next += 1
                self._turn.notify_all()

    def worker_done(self) -> None:
        with self._turn:
            self._alive -= 1
            last = self._alive == 0
        if last and self._outq is not None:
            self._outq.close()
