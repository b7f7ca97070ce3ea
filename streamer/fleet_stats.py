"""``--fleet-stats FILE``: every camera's ``stats`` records, written by the driver into one JSONL.

In-process each camera's JSONL carries its own ``stats`` records (live cameras); with
``--engine ray`` those files are written by the actors on their nodes. This file is the one
stream of figures of the whole run, written where the ``streamer run`` process runs, from the
same figures the progress display and ``/metrics`` show: one record per camera every
``stats_interval`` seconds (each camera's own), and a last one per camera when the run ends
(``"final": true``, with the camera's ``error``, if any).

Each record is one line written by one ``write`` (:class:`~streamer.outputs.jsonl.JsonlSink`
with no batching; a full disk cuts the file back to its last whole line), so ``tail -f`` never
sees half a record. The file follows the outputs' rules (:mod:`streamer.outputs.paths`): an
existing file is replaced only when streamer wrote it; never an input or a camera's output.
A failing write is said once and never stops a camera.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamer.config import RunSettings
from streamer.errors import SinkError
from streamer.outputs.jsonl import JsonlSink
from streamer.outputs.paths import PlannedOutputs, check_outputs, plan_outputs
from streamer.sources.urls import mask_credentials

log = logging.getLogger("streamer")

WHAT = "--fleet-stats"


class FleetStats:
    """The run's figures stream (see the module docstring).

    Parameters
    ----------
    path : Path
        The JSONL file.
    cameras : sequence of RunSettings
        Every camera of the run (their outputs and sources are checked against ``path``).

    Raises
    ------
    SinkError
        ``path`` is a folder, an input or a camera's output, a user's file, or cannot be created.
    """

    def __init__(self, path: Path, cameras: Sequence[RunSettings]) -> None:
        if path.is_dir():
            raise SinkError(f"{path}: is a directory (give a file name for {WHAT})")
        plans = [plan_outputs(c) for c in cameras]
        check_outputs([*plans, PlannedOutputs(WHAT, plans[0].source, None, path)])
        self.path = path
        self._sink = JsonlSink(path, [], flush_every=0.0)
        self._started = time.monotonic()
        self._last: dict[str, float] = {}
        self._failed = False

    @classmethod
    def start(cls, cameras: Sequence[RunSettings]) -> FleetStats | None:
        """The stream ``fleet_stats`` asks for (a top-level setting: the first camera's), or None."""
        path = cameras[0].fleet_stats if cameras else None
        return cls(Path(path), cameras) if path is not None else None

    def on_tick(self, runner: Any, stats: Any) -> None:
        """The caller's tick: ``runner``'s record when its ``stats_interval`` has passed."""
        now = time.monotonic()
        if now - self._last.get(runner.name, self._started) >= runner.settings.stats_interval:
            self._last[runner.name] = now
            self._write(runner, stats, {})

    def finish(self, multi: Any) -> None:
        """Every camera's last record, once the run ended (``multi``: the fleet that ran)."""
        for runner in multi.runners:
            result = multi.results.get(runner.name)
            error = mask_credentials(str(result.error)) if result is not None and result.error is not None else None
            self._write(runner, runner.pipeline.stats(), {"final": True, "error": error})

    def _write(self, runner: Any, stats: Any, extra: dict[str, Any]) -> None:
        if self._failed:
            return
        try:
            record = {"event": "stats", "camera": runner.name, "wall_time": round(time.time(), 3),
                      **runner.live_figures(stats),
                      **(runner.engine_status() if hasattr(runner, "engine_status") else {}), **extra}
            self._sink.write_record(record)
        except SinkError as exc:
            self._failed = True
            log.warning("%s: %s (the cameras go on)", WHAT, exc)

    def close(self) -> None:
        try:
            self._sink.close()
        except SinkError as exc:
            log.warning("%s: %s", WHAT, exc)
