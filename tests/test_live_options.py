"""Live promises of the README that had no test: ``--transport udp``, the JSONL ``stats``
record of a short live run, and named cameras from a config file run through the CLI.

Against the local RTSP server (Debian's GStreamer RTSP server, see tests/rtsp.py); each test
streams a few seconds at most.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

from rtsp import car_camera_clip, rtsp_server  # noqa: F401 - fixtures
from streamer.runner import Runner
from test_live import frames_of, live_settings, playable, records, running, wait_for


def udp_sockets() -> int:
    """UDP sockets this process holds (RTP/RTCP over UDP opens them; RTSP over TCP does not)."""
    return len(psutil.Process().net_connections(kind="udp"))


def test_transport_udp_receives_over_udp_and_tcp_does_not(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip})
    before = udp_sockets()
    held: dict[str, int] = {}
    for transport in ("tcp", "udp"):
        folder = tmp_path / transport
        runner = Runner(live_settings(server.url("/cam"), folder, name=transport, transport=transport))
        with running(runner) as outcome:
            wait_for(lambda: runner.pipeline.stats().frames_out >= 8, 20, f"frames over {transport}")
            held[transport] = udp_sockets() - before
        assert "error" not in outcome, outcome.get("error")
        assert len(frames_of(folder / f"{transport}.detections.jsonl")) >= 8
    assert held["tcp"] == 0 and held["udp"] >= 2, held  # RTP and RTCP at least


#: The ``stats`` record's fields and their types (README, Outputs: "Live sources also write").
STATS_FIELDS = {
    "event": str, "source": str, "elapsed": float, "frames_in": int, "frames_out": int,
    "fps_in": float, "fps_out": float, "dropped": int, "dropped_by_queue": dict,
    "dropped_stale_by_stage": dict, "dropped_by_output": dict, "age_ms_p50": float, "age_ms_p95": float, "reconnects": int,
    "state": str,
}


def test_stats_records_of_a_short_live_run(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip})
    runner = Runner(live_settings(server.url("/cam", "viewer", "secret"), tmp_path, stats_interval=0.5))
    with running(runner) as outcome:
        wait_for(lambda: runner.pipeline.stats().frames_out >= 25, 20, "2 s of frames")
    assert "error" not in outcome, outcome.get("error")
    every = [r for r in records(tmp_path / "cam.detections.jsonl") if r.get("event") == "stats"]
    # A tick that falls after the stop (the machine was busy) says "stopped": only at the end.
    stats = [r for r in every if r["state"] != "stopped"]
    assert every[:len(stats)] == stats
    assert len(stats) >= 2
    for record in stats:
        assert {k: type(v) for k, v in record.items()} == STATS_FIELDS | (
            {"age_ms_p50": type(None), "age_ms_p95": type(None)} if record["frames_out"] == 0 else {}), record
        assert record["source"] == server.url("/cam") and record["state"] in {"connecting", "streaming"}
        assert record["frames_in"] >= record["frames_out"] >= 0 and record["reconnects"] == 0
        assert record["dropped"] == sum(record["dropped_by_queue"].values())
    assert [s["elapsed"] for s in stats] == sorted(s["elapsed"] for s in stats)
    assert stats[-1]["state"] == "streaming" and stats[-1]["frames_out"] > 0 and 0 < stats[-1]["age_ms_p50"] <= stats[-1]["age_ms_p95"]


def test_cameras_from_a_config_file_through_the_cli(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """``streamer run --config cams.yaml``: each named camera runs with its own settings over the
    top-level ones and writes NAME.annotated.mp4 / NAME.detections.jsonl into out_dir."""
    server = rtsp_server({"/a": car_camera_clip, "/b": car_camera_clip})
    cfg = tmp_path / "cams.yaml"
    cfg.write_text(
        f"detect: false\nmax_frames: 6\nstall_timeout: 3\nout_dir: {tmp_path / 'out'}\ncameras:\n"
        f"  front:\n    source: {server.url('/a')}\n"
        f"  yard:\n    source: {server.url('/b')}\n    max_frames: 10\n    hud: false\n"
    )
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "run", "--config", str(cfg), "--no-progress"],
                       capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    for name, count in (("front", 6), ("yard", 10)):
        # max_frames counts frames taken from the camera; live, the newest wins, so some of
        # them may be dropped on the way (each one counted), but the last one is written.
        frames = frames_of(out / f"{name}.detections.jsonl")
        assert frames[-1]["frame"] == count - 1
        assert len(playable(out / f"{name}.annotated.mp4")) == len(frames)
    assert "front" in r.stderr and "yard" in r.stderr
