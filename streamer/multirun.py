"""Several sources in one process: one :class:`~streamer.runner.Runner` per camera.

Each camera has its own pipeline threads, outputs and settings; a camera that fails
(or gives up reconnecting) is reported and the others carry on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streamer.config import RunSettings
from streamer.errors import PipelineError, StreamerError
from streamer.pipeline import PipelineStats
from streamer.runner import Runner, RunSummary
from streamer.outputs.paths import PlannedOutputs, check_outputs
from streamer.sources.urls import output_stem

log = logging.getLogger("streamer")


@dataclass
class CameraResult:
    """How one camera's run ended: a summary, an error, or both (failed mid-run)."""

    name: str
    summary: RunSummary | None = None
    error: StreamerError | None = None


def _plan(settings: RunSettings) -> PlannedOutputs:
    source = str(settings.source)
    name = settings.name or output_stem(source)
    video, jsonl = settings.outputs_for(source)
    return PlannedOutputs(name, source, video, jsonl)


class MultiRunner:
    """Run several cameras at once.

    Parameters
    ----------
    settings : sequence of RunSettings
        One per camera (see :meth:`RunSettings.per_camera`).

    Notes
    -----
    A camera whose set-up fails (missing file, bad model) is reported and left out when
    there are several; with a single camera the error is raised, as :class:`Runner` does.
    Outputs are checked for every camera together before any is opened: two cameras that
    would write the same file, or one whose output is another's source, end the whole run
    with a :class:`~streamer.errors.SinkError` naming the file and both cameras.
    """

    def __init__(self, settings: Sequence[RunSettings]) -> None:
        if not settings:
            raise ValueError("no cameras")
        self.runners: list[Runner] = []
        self.results: dict[str, CameraResult] = {}
        names = [s.name for s in settings if s.name]
        if len(set(names)) != len(names):
            raise StreamerError("camera names must be unique")
        plans = [_plan(s) if s.source is not None else None for s in settings]
        check_outputs([p for p in plans if p is not None])
        for s, plan in zip(settings, plans):
            try:
                self.runners.append(Runner(s, outputs=(plan.video, plan.jsonl) if plan is not None else None))
            except StreamerError as exc:
                if len(settings) == 1:
                    raise
                name = s.name or str(s.source)
                log.warning("camera %s not started: %s", name, exc)
                self.results[name] = CameraResult(name, error=exc)
        self._threads: list[threading.Thread] = []

    def _run_one(self, runner: Runner) -> None:
        result = CameraResult(runner.name)
        try:
            result.summary = runner.run()
        except PipelineError as exc:
            cause = exc.__cause__
            result.error = cause if isinstance(cause, StreamerError) else exc
        except StreamerError as exc:
            result.error = exc
        self.results[runner.name] = result

    def stop(self) -> None:
        for r in self.runners:
            r.stop()

    def abort(self) -> None:
        for r in self.runners:
            r.abort()

    def run(self, on_tick: Callable[[Runner, PipelineStats], None] | None = None, *, tick: float = 0.2) -> list[CameraResult]:
        """Run every camera to its end (or until stopped); results in camera order."""
        for r in self.runners:
            t = threading.Thread(target=self._run_one, args=(r,), name=f"camera-{r.name}", daemon=True)
            self._threads.append(t)
            t.start()
        while any(t.is_alive() for t in self._threads):
            for t in self._threads:
                t.join(tick / max(1, len(self._threads)))
            if on_tick is not None:
                for r in self.runners:
                    on_tick(r, r.pipeline.stats())
        ordered = [self.results[r.name] for r in self.runners]
        failed_setup = [v for k, v in self.results.items() if k not in {r.name for r in self.runners}]
        return failed_setup + ordered
