"""``--serve`` and ``--fleet-stats`` with ``--engine ray``: the actors' figures, read as runners.

The server (:mod:`streamer.server.attach`) and the progress display read in-process
:class:`~streamer.runner.Runner` objects: ``name``, ``settings``, ``live``, ``detector``,
``source.state``, ``live_figures(stats)``, ``summarise(stats)``, ``pipeline.stats()``, and a
fleet's ``results``. With Ray the runners live in the actors; each poll of an actor carries
:func:`actor_report` (its :class:`~streamer.pipeline.PipelineStats`, live figures, detections per
class, outputs' counters), and :class:`RayFigures` presents those through that same
interface, so one server serves both engines. Frames stay in the actors: a camera's live view
and snapshot answer 404 with :data:`streamer.server.board.NO_LIVE_VIEW`.

A live camera's actor that dies and is restarted starts its counters again; its frames in and
out go on from the dead incarnations' (as the progress bar's), its other counters (drops,
detections) restart from 0, which Prometheus' ``rate()`` and ``increase()`` read as a counter
reset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

#: A camera's figures before its actor's first answer (the keys of ``Runner.live_figures``).
_NO_FIGURES: dict[str, Any] = {
    "event": "stats", "elapsed": 0.0, "frames_in": 0, "frames_out": 0, "fps_in": 0.0, "fps_out": 0.0,
    "dropped": 0, "dropped_by_queue": {}, "dropped_stale_by_stage": {}, "dropped_by_output": {},
    "age_ms_p50": None, "age_ms_p95": None, "reconnects": 0, "state": None,
}


def actor_report(runner: Any, stats: Any) -> dict[str, Any]:
    """In the actor: what the driver's server needs of ``runner`` (a few hundred bytes).

    Parameters
    ----------
    runner : Runner
        The camera's runner, running.
    stats : PipelineStats
        Its pipeline's figures now.
    """
    summary = runner.summarise(stats)  # its live figures too, for a live camera or --realtime
    state = getattr(getattr(runner.source, "state", None), "value", None)
    figures = summary.live if summary.live is not None else runner.live_figures(stats)
    return {"stats": stats, "figures": figures, "per_class": dict(summary.per_class),
            "outputs": list(summary.outputs), "source_state": state}


class RemoteRunner:
    """One camera's actor (a :class:`~streamer.engines.ray.RayCamera`) as a runner is read.

    ``pipeline`` is the runner itself: ``pipeline.stats()`` is the newest figures polled.
    """

    def __init__(self, cam: Any) -> None:
        self.cam = cam
        self.name: str = cam.name
        self.settings = cam.settings
        self.live: bool = cam.live
        self.pipeline = self
        # Only whether there is one (the server labels live views with it: none here).
        self.detector = SimpleNamespace(labels=()) if cam.settings.detect else None
        self._report: dict[str, Any] | None = None
        self._incarnation: str | None = None
        self._last = (0, 0)  # frames in, out of the incarnation polled last
        self._base = (0, 0)  # of the dead incarnations (live cameras)

    @property
    def expected_frames(self) -> int | None:
        return self.cam.expected_frames

    def update(self) -> None:
        """Take the newest poll of the camera's actor (the driver's tick)."""
        report = self.cam.report
        if report is None or report.get("served") is None:
            return
        if report["incarnation"] != self._incarnation:
            if self._incarnation is not None and not self.cam.job:
                self._base = (self._base[0] + self._last[0], self._base[1] + self._last[1])
            self._incarnation = report["incarnation"]
        self._report = report["served"]
        stats = self._report["stats"]
        self._last = (stats.stages[0].frames if stats.stages else 0, stats.frames_out)

    def stats(self) -> Any:
        """The newest :class:`~streamer.pipeline.PipelineStats`, frames counted over restarts."""
        from streamer.pipeline import PipelineStats, StageStats

        if self._report is None:
            return PipelineStats(0.0, self._base[1], [StageStats("source", self._base[0])])
        stats = self._report["stats"]
        stages = list(stats.stages)
        if stages and self._base[0]:
            stages[0] = dataclasses.replace(stages[0], frames=stages[0].frames + self._base[0])
        return dataclasses.replace(stats, stages=stages, frames_out=stats.frames_out + self._base[1])

    @property
    def source(self) -> Any:
        """``state.value`` as a live source's: ``reconnecting`` while Ray restarts its actor."""
        value = self._report["source_state"] if self._report is not None else None
        if self.cam.state == "restarting":
            value = "reconnecting"
        elif self.cam.state == "starting":
            value = None
        return SimpleNamespace(state=SimpleNamespace(value=value) if value is not None else None)

    def live_figures(self, stats: Any) -> dict[str, Any]:
        figures = dict(self._report["figures"] if self._report is not None else _NO_FIGURES)
        figures["frames_in"] = stats.stages[0].frames if stats.stages else 0
        figures["frames_out"] = stats.frames_out
        figures["state"] = self.cam.stats().figures["state"]  # starting, restarting: as the progress bar says
        return figures

    def summarise(self, stats: Any) -> Any:
        report = self._report or {}
        return SimpleNamespace(per_class=report.get("per_class", {}), outputs=report.get("outputs", []))

    def engine_status(self) -> dict[str, Any]:
        """What ``/api/status`` and ``--fleet-stats`` add for a Ray camera: where it runs, how
        often it was restarted, and its detector's figures (``detector``: ``where`` it runs,
        ``camera`` or ``node``, and that service's frames, inferences, batch size; a node's
        also its address, actor and cameras; see
        :func:`streamer.engines.detector_link.detector_report`)."""
        detector = (self.cam.report or {}).get("detector")
        return {"engine": "ray", "node": self.cam.node, "restarts": self.cam.restarts, "detector": detector}

    def describe(self) -> str:
        return str(self.cam.describe())


class RayFigures:
    """A :class:`~streamer.engines.ray.RayFleet` read as a fleet of runners (``runners``,
    ``results``, ``run``, ``stop``, ``abort``): what ``--serve`` and the progress display read."""

    def __init__(self, fleet: Any) -> None:
        self.fleet = fleet
        self.runners = [RemoteRunner(cam) for cam in fleet.runners]

    @property
    def results(self) -> dict[str, Any]:
        return {cam.name: cam.result for cam in self.fleet.runners if cam.result is not None}

    def stop(self) -> None:
        self.fleet.stop()

    def abort(self) -> None:
        self.fleet.abort()

    def run(self, on_tick: Callable[[Any, Any], None] | None = None, **kwargs: Any) -> list[Any]:
        """Run the fleet; ``on_tick(runner, stats)`` as an in-process fleet calls it."""
        by_camera = {id(r.cam): r for r in self.runners}

        def tick(cam: Any, _remote: Any) -> None:
            runner = by_camera[id(cam)]
            runner.update()
            if on_tick is not None:
                on_tick(runner, runner.stats())

        return self.fleet.run(tick, **kwargs)
