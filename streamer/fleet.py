"""Many cameras (or files) in one process, sharing one detector service per model.

Each camera is one :class:`~streamer.runner.Runner` (its own source, kernels, tracker,
outputs and threads); the fleet owns what they share: a
:class:`~streamer.detection.service.DetectorService` per distinct detector configuration
(usually one), which gives the cameras fair turns, batches their frames when the model
allows and paces live cameras' detection intervals to what it can do. Files run side by side
with back-pressure: nothing is dropped, each waits its turn at the detector.

A camera that fails (or gives up reconnecting) is reported and the others carry on; its
share of the detector goes back to them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streamer.config import RunSettings
from streamer.detection.service import DetectorService
from streamer.errors import ConfigError, PipelineError, StreamerError
from streamer.outputs.base import Output
from streamer.outputs.paths import check_outputs, plan_outputs
from streamer.pipeline import PipelineStats
from streamer.runner import Runner, RunSummary

log = logging.getLogger("streamer")

#: The settings that make a detector: cameras that agree on all of them share one service
#: (settings this version does not have are ignored).
DETECTOR_SETTINGS = ("model", "device", "conf", "iou", "classes", "threads", "detect_workers", "detect_batch",
                     "precision", "detect_size")


@dataclass
class CameraResult:
    """How one camera's run ended: a summary, an error, or both (failed mid-run)."""

    name: str
    summary: RunSummary | None = None
    error: StreamerError | None = None


def detector_key(settings: RunSettings) -> str:
    """What cameras must agree on to share a detector service."""
    fields = [f for f in DETECTOR_SETTINGS if f in RunSettings.model_fields]
    return json.dumps(settings.model_dump(mode="json", include=set(fields)), sort_keys=True)


class Fleet:
    """Run several cameras at once around shared detector services.

    Parameters
    ----------
    settings : sequence of RunSettings
        One per camera (see :meth:`RunSettings.per_camera`); names must be unique.
    extra_outputs : callable, optional
        Called with each camera's name: more outputs for it (``--serve``'s live view and
        metrics tap, ``--show``'s window; see :mod:`streamer.server.attach`).

    Attributes
    ----------
    runners : list of Runner
        The cameras that started, in the order given.
    services : list of DetectorService
        The shared detectors (started: warmed up, ``ms_per_frame`` measured).
    results : dict of str to CameraResult
        Filled as cameras end (and at once for cameras whose set-up failed).

    Notes
    -----
    A camera whose set-up fails (missing file, bad model) is reported and left out when
    there are several; with a single camera the error is raised, as :class:`Runner` does.
    Outputs are checked for every camera together before any is opened: two cameras that
    would write the same file, or one whose output is another's source, end the whole run
    with a :class:`~streamer.errors.SinkError` naming the file and both cameras.
    """

    def __init__(self, settings: Sequence[RunSettings], *,
                 extra_outputs: Callable[[str], Sequence[Output]] | None = None) -> None:
        if not settings:
            raise ValueError("no cameras")
        self.runners: list[Runner] = []
        self.results: dict[str, CameraResult] = {}
        self.services: list[DetectorService] = []
        names = [s.name for s in settings if s.name]
        if len(set(names)) != len(names):
            raise StreamerError("camera names must be unique")
        plans = [plan_outputs(s) if s.source is not None else None for s in settings]
        check_outputs([p for p in plans if p is not None])
        try:
            services = self._services(settings)
            for s, plan in zip(settings, plans):
                try:
                    service = services.get(detector_key(s)) if s.detect else None
                    if isinstance(service, StreamerError):
                        raise service
                    extra = extra_outputs(plan.camera) if extra_outputs is not None and plan is not None else ()
                    self.runners.append(Runner(s, service=service, extra_outputs=extra,
                                               outputs=(plan.video, plan.jsonl) if plan is not None else None))
                except StreamerError as exc:
                    if len(settings) == 1:
                        raise
                    self._failed(s, exc)
            self._warmed_up(len(settings) == 1)
        except BaseException:
            for r in self.runners:
                r.source.close()
            self.close()
            raise
        self._threads: list[threading.Thread] = []

    def _failed(self, s: RunSettings, exc: StreamerError) -> None:
        name = s.name or str(s.source)
        log.warning("camera %s not started: %s", name, exc)
        self.results[name] = CameraResult(name, error=exc)

    def _warmed_up(self, single: bool) -> None:
        """Wait for the services' warm-up; the cameras of one whose model does not run fail."""
        for service in list(self.services):
            try:
                service.ready()
            except StreamerError as exc:
                if single:
                    raise
                self.services.remove(service)
                for r in [r for r in self.runners if r.client is not None and r.client.service is service]:
                    self.runners.remove(r)
                    r.source.close()
                    self._failed(r.settings, exc)

    def _services(self, settings: Sequence[RunSettings]) -> dict[str, DetectorService | StreamerError]:
        """One service per detector configuration (its error, when it failed), warming up
        in its own threads while the cameras open (see :meth:`_warmed_up`)."""
        groups: dict[str, list[RunSettings]] = {}
        for s in settings:
            if s.detect:
                groups.setdefault(detector_key(s), []).append(s)
        out: dict[str, DetectorService | StreamerError] = {}
        for key, cams in groups.items():
            try:
                try:
                    service = DetectorService.from_settings(cams[0], cameras=cams)
                except ConfigError as exc:
                    raise cams[0].located(exc) from None
                self.services.append(service)
                out[key] = service.start(wait=False)
            except StreamerError as exc:
                if len(settings) == 1:
                    raise
                out[key] = exc
        return out

    def describe(self) -> list[str]:
        """One line per shared detector (sessions, batching, measured speed)."""
        return [s.describe() for s in self.services]

    def _run_one(self, runner: Runner) -> None:
        result = CameraResult(runner.name)
        try:
            result.summary = runner.run()
        except PipelineError as exc:
            cause = exc.__cause__
            result.error = cause if isinstance(cause, StreamerError) else exc
        except StreamerError as exc:
            result.error = exc
        finally:
            if runner.client is not None:
                runner.client.close()  # its share of the detector goes to the others
        self.results[runner.name] = result

    def stop(self) -> None:
        for r in self.runners:
            r.stop()

    def abort(self) -> None:
        for r in self.runners:
            r.abort()

    def close(self) -> None:
        """End the shared services (idempotent; :meth:`run` does it at the end)."""
        for s in self.services:
            s.close()

    def figures(self) -> list[dict[str, Any]]:
        """Each service's figures (:meth:`DetectorService.figures`), per camera inside."""
        return [s.figures() for s in self.services]

    def run(self, on_tick: Callable[[Runner, PipelineStats], None] | None = None, *, tick: float = 0.2) -> list[CameraResult]:
        """Run every camera to its end (or until stopped); results in camera order."""
        try:
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
        finally:
            self.close()
        ordered = [self.results[r.name] for r in self.runners]
        failed_setup = [v for k, v in self.results.items() if k not in {r.name for r in self.runners}]
        return failed_setup + ordered
