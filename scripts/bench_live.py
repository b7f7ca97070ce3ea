#!/usr/bin/env python
"""Benchmark: live RTSP latency, drift and how many cameras the machine holds.

Serves a camera-like 720p clip from the local RTSP server the tests use
(``tests/rtsp_server.py``, Debian's GStreamer RTSP server, 127.0.0.1 only) with a send log
(wall-clock time each frame was handed to the network), runs the streamer pipeline on it
with the detector on every frame, and matches each annotated frame to its send time by its
position in the stream (RTSP over TCP loses nothing before decoding). Reports:

* added latency, sent -> annotated frame written: p50/p95/p99, and its drift (p50 over the
  last third of the run minus p50 over the first third);
* dropped frames (newest-frame-wins) and fps in/out;
* capacity: the most simultaneous 720p15 cameras (detector on every frame) held with no
  dropped frame.

The first ``--warmup`` seconds are left out (frames buffered while the client probes the
stream). Usage::

    python scripts/bench_live.py [--seconds 60] [--fps 30] [--max-streams 6] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the RTSP server helper lives with the tests

from rtsp import RtspServer, camera_clip, gst_rtsp_unavailable  # noqa: E402

from streamer.config import RunSettings  # noqa: E402
from streamer.multirun import MultiRunner  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "media" / "imageio_cockatoo_yuv420.mp4"


def send_times(log: Path) -> dict[str, list[float]]:
    """Wall-clock send time of each frame, per mount, in send order."""
    out: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        mount, _feeder, _idx, _pts, wall_ns, _key = line.split()
        out.setdefault(mount, []).append(int(wall_ns) / 1e9)
    return out


def run_cameras(urls: dict[str, str], out: Path, seconds: float, model: Path | None = None,
                no_video: bool = False) -> list[Any]:
    cams = [RunSettings(source=url, name=name.strip("/"), out_dir=out, progress=False, quiet=True,
                        duration=seconds, stats_interval=2.0, model=model, no_video=no_video)
            for name, url in urls.items()]
    multi = MultiRunner(cams)
    results: list[Any] = []
    t = threading.Thread(target=lambda: results.extend(multi.run()), daemon=True)
    t.start()
    t.join(seconds + 60)
    if t.is_alive():
        multi.stop()
        t.join(30)
    return results


def drops_after(jsonl: Path, warmup: float) -> int:
    """Frames dropped after the first ``warmup`` seconds (start-up bursts left out)."""
    stats = [r for r in map(json.loads, jsonl.read_text().splitlines()) if r.get("event") == "stats"]
    if not stats:
        return 0
    base = next((r["dropped"] for r in stats if r["elapsed"] >= warmup), stats[-1]["dropped"])
    return stats[-1]["dropped"] - base


def latency(jsonl: Path, sent: list[float], warmup: float) -> dict[str, Any]:
    frames = [r for r in map(json.loads, jsonl.read_text().splitlines()) if "frame" in r]
    lat, times = [], []
    for r in frames:
        i = r["frame"]
        if i < len(sent) and r["time"] >= warmup:
            ready = r["wall_time"] + r["age_ms"] / 1000.0
            lat.append(1000.0 * (ready - sent[i]))
            times.append(r["time"])
    if not lat:
        return {"frames": len(frames)}
    a = np.array(lat)
    third = max(1, len(a) // 3)
    return {
        "frames_out": len(frames),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "drift_ms": round(float(np.median(a[-third:]) - np.median(a[:third])), 1),
    }


def latency_run(args: argparse.Namespace, d: Path) -> dict[str, Any]:
    clip30 = camera_clip(args.clip, d / "cam30.mp4", fps=args.fps, seconds=10.0)
    log = d / "send.log"
    with RtspServer({"/cam": clip30}, send_log=log) as server:
        results = run_cameras({"/cam": server.url("/cam")}, d / "out", args.seconds, args.model, args.no_video)
    summary = results[0].summary
    out = latency(d / "out" / "cam.detections.jsonl", send_times(log)["/cam"], args.warmup)
    out.update({"dropped": summary.dropped if summary else None,
                "fps_in": summary.live["fps_in"] if summary and summary.live else None,
                "fps_out": summary.live["fps_out"] if summary and summary.live else None})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the latency run")
    ap.add_argument("--fps", type=float, default=30.0, help="frame rate of the latency stream")
    ap.add_argument("--capacity-fps", type=float, default=15.0)
    ap.add_argument("--capacity-seconds", type=float, default=30.0)
    ap.add_argument("--max-streams", type=int, default=6)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--model", type=Path, default=None, help="ONNX detector (default: the bundled one)")
    ap.add_argument("--no-video", action="store_true", help="JSONL only: no annotated video per camera")
    ap.add_argument("--skip-latency", action="store_true", help="only the capacity runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    reason = gst_rtsp_unavailable()
    if reason:
        print(f"bench_live: {reason}", file=sys.stderr)
        return 1
    report: dict[str, Any] = {"clip": str(args.clip), "fps": args.fps, "seconds": args.seconds,
                              "model": str(args.model) if args.model else "bundled", "no_video": args.no_video}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if not args.skip_latency:
            report["latency"] = latency_run(args, d)
        clip15 = camera_clip(args.clip, d / "cam15.mp4", fps=args.capacity_fps, seconds=10.0)
        capacity: list[dict[str, Any]] = []
        for n in range(1, args.max_streams + 1):
            mounts = {f"/cam{i}": clip15 for i in range(n)}
            with RtspServer(mounts) as server:
                res = run_cameras({m: server.url(m) for m in mounts}, d / f"cap{n}", args.capacity_seconds,
                                  args.model, args.no_video)
            drops = sum(r.summary.dropped for r in res if r.summary)
            steady = sum(drops_after(d / f"cap{n}" / f"{m.strip('/')}.detections.jsonl", args.warmup + 2.0)
                         for m in mounts)
            fps = [r.summary.live["fps_out"] for r in res if r.summary and r.summary.live]
            capacity.append({"streams": n, "dropped": drops, "dropped_after_warmup": steady, "fps_out_each": fps})
            if steady:
                break
        report["capacity"] = capacity
        held = [c["streams"] for c in capacity if c["dropped_after_warmup"] == 0]
        report["max_streams_without_drops"] = max(held) if held else 0
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        if "latency" in report:
            lt = report["latency"]
            print(f"{args.fps:g} fps 720p stream for {args.seconds:g} s, detector on every frame:")
            print(f"  added latency sent->annotated p50 {lt.get('p50_ms')} ms, p95 {lt.get('p95_ms')} ms, "
                  f"p99 {lt.get('p99_ms')} ms, drift {lt.get('drift_ms')} ms; dropped {lt['dropped']}; "
                  f"fps in {lt['fps_in']}, out {lt['fps_out']}")
        for c in report["capacity"]:
            print(f"  {c['streams']} x {args.capacity_fps:g} fps: dropped {c['dropped']} "
                  f"({c['dropped_after_warmup']} after warm-up), fps out {c['fps_out_each']}")
        print(f"  cameras held without drops: {report['max_streams_without_drops']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
