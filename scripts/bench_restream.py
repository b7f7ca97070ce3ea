#!/usr/bin/env python
"""Benchmark: added latency of re-streaming, glass to glass, and the CPU cost of each output.

A camera-like 720p30 clip is served by the local RTSP server the tests use
(``tests/rtsp_server.py``, with a send log: the wall-clock time each frame left for the
network), processed by streamer (FastestDet from ../shared/models when present, else the
bundled detector with ``--detect-every``), encoded once and published with ``--publish`` to a
second RTSP server that accepts RECORD (``tests/rtsp_record.py``, with a receive log: when
each picture arrived, complete, at its depayloader). Frames are matched by position: the
n-th picture received is the n-th packet the live encoder made (RTSP over TCP loses nothing;
the publisher's drops are reported), whose timestamp names its JSONL frame, whose index is its
position in the send log. Reports p50/p95/p99 of receive minus send (after ``--warmup``) and
its drift, drops, and CPU ms per frame of each output (the live encoder's thread, the file
encoder's thread, the publisher's child process). Target on a 2-core machine: p95 <= 150 ms.

Usage::

    python scripts/bench_restream.py [--seconds 60] [--fps 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the RTSP servers live with the tests

from publish_servers import RecordServer
from rtsp import RtspServer, camera_clip, gst_rtsp_unavailable

from streamer.config import RunSettings
from streamer.outputs.encoder import EncodedVideo
from streamer.runner import Runner

SHARED = REPO.parent / "shared"
DEFAULT_CLIP = SHARED / "media" / "intel_car-detection.mp4"
FASTESTDET = SHARED / "models" / "fastestdet_352_coco.onnx"


def _percentiles(values: list[float]) -> dict[str, float]:
    a = np.array(values)
    third = max(1, len(a) // 3)
    return {"p50_ms": round(float(np.percentile(a, 50)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1),
            "p99_ms": round(float(np.percentile(a, 99)), 1),
            "drift_ms": round(float(np.median(a[-third:]) - np.median(a[:third])), 1), "frames": len(a)}


def run(args: argparse.Namespace, d: Path) -> dict[str, Any]:
    clip = camera_clip(args.clip, d / "cam.mp4", fps=args.fps, size=(1280, 720), seconds=20.0)
    send_log, recv_log = d / "send.log", d / "recv.log"
    model = args.model or (FASTESTDET if FASTESTDET.exists() else None)
    every = args.detect_every or (1 if model == FASTESTDET else 3)
    with RtspServer({"/cam": clip}, send_log=send_log) as source, \
            RecordServer(["/out"], d / "received", recv_log=recv_log) as sink:
        settings = RunSettings(source=source.url("/cam"), name="cam", out_dir=d / "out", progress=False, quiet=True,
                               duration=args.seconds, model=model, detect_every=every, publish=[sink.url("/out")],
                               no_video=args.no_video)
        runner = Runner(settings)
        encoder = next(o for o in runner._output.outputs if isinstance(o, EncodedVideo))
        packets: list[int] = []
        encoder.add_listener(lambda p: packets.append(p.pts))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        summary = runner.run()
        elapsed = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        time.sleep(0.5)
    sent = [int(line.split()[4]) / 1e9 for line in send_log.read_text().splitlines()]
    received = [int(line.split()[2]) / 1e9 for line in recv_log.read_text().splitlines()]
    records = {r["pts"]: r for r in map(json.loads, (d / "out" / "cam.detections.jsonl").read_text().splitlines())
               if "frame" in r}
    latency = []
    for pts90, arrived in zip(packets, received):
        rec = records.get(round(pts90 / 90))
        if rec is not None and rec["time"] >= args.warmup and rec["frame"] < len(sent):
            latency.append(1000.0 * (arrived - sent[rec["frame"]]))
    outputs = {o.name: o for o in summary.outputs}
    pub = outputs[sink.url("/out")]
    child_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    report: dict[str, Any] = {
        "model": model.name if model else "bundled", "detect_every": every, "seconds": round(elapsed, 1),
        "fps_in": summary.live["fps_in"] if summary.live else None,
        "fps_out": summary.live["fps_out"] if summary.live else None,
        "dropped_pipeline": summary.dropped, "dropped_encoder": outputs["encoder"].dropped,
        "dropped_publisher": pub.dropped, "received": len(received), "encoded": len(packets),
        "latency": _percentiles(latency) if latency else None,
        "cpu_ms_per_frame": {
            "live encoder (thread)": round(outputs["encoder"].cpu_ms_per_frame, 1),
            **({"file encoder (thread)": round(outputs["video"].cpu_ms_per_frame, 1)} if "video" in outputs else {}),
            "jsonl (thread)": round(outputs["jsonl"].cpu_ms_per_frame, 2),
            "publisher (child process)": round(1000.0 * child_cpu / max(1, pub.frames), 2),
        },
        "stages_cpu_ms_per_frame": {s.name: round(s.cpu_ms_per_frame, 1) for s in summary.stages if s.frames},
    }
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds left out at the start")
    ap.add_argument("--model", type=Path, default=None, help="detector (default: FastestDet from ../shared, else bundled)")
    ap.add_argument("--detect-every", type=int, default=None, help="[1 with FastestDet, 3 with the bundled model]")
    ap.add_argument("--no-video", action="store_true", help="no annotated MP4 beside the re-stream")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    reason = gst_rtsp_unavailable()
    if reason:
        print(f"bench_restream: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args, Path(tmp))
    report.update({"clip": str(args.clip), "fps": args.fps, "threads": threading.active_count()})
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    lt = report["latency"] or {}
    print(f"720p{args.fps:g} re-stream for {report['seconds']} s, {report['model']} every {report['detect_every']} frame(s): "
          f"fps in {report['fps_in']}, out {report['fps_out']}")
    print(f"  added latency sent -> received (RTSP RECORD): p50 {lt.get('p50_ms')} ms, p95 {lt.get('p95_ms')} ms, "
          f"p99 {lt.get('p99_ms')} ms, drift {lt.get('drift_ms')} ms over {lt.get('frames')} frames")
    print(f"  dropped: pipeline {report['dropped_pipeline']}, encoder {report['dropped_encoder']}, "
          f"publisher {report['dropped_publisher']}; encoded {report['encoded']}, received {report['received']}")
    print("  CPU ms/frame: " + ", ".join(f"{k} {v}" for k, v in report["cpu_ms_per_frame"].items()))
    print("  stages CPU ms/frame: " + ", ".join(f"{k} {v}" for k, v in report["stages_cpu_ms_per_frame"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
