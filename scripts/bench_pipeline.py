#!/usr/bin/env python
"""Benchmark: the streamer pipeline against a naive single-loop script, same clip, same model.

The naive loop is what users write today: cv2.VideoCapture -> resize/letterbox and
normalise with NumPy -> ONNX Runtime (default session options) -> decode + NMS -> cv2
drawing -> cv2.VideoWriter. The pipeline is ``streamer run`` through the Python API
(detector on every frame, HUD on, H.264 output). Both run in this process, alternately,
``--repeats`` times; the report gives medians, their ratio, milliseconds per stage and the
pipeline's efficiency against the limit its own CPU time sets:
``limit fps = cores / (process CPU seconds per frame)``.

``--memory-frames N`` also runs the pipeline on a long clip (the input remuxed end to end
without re-encoding) and compares resident memory after 500 frames and after N.

Usage::

    python scripts/bench_pipeline.py [--clip PATH] [--model PATH] [--repeats 3] [--json]
    python scripts/bench_pipeline.py --memory-frames 10000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import onnxruntime as ort
import psutil

from streamer.config import RunSettings
from streamer.detection import Detector, batched_nms
from streamer.detection.families import FAMILIES
from streamer.overlay import class_color
from streamer.runner import Runner

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO.parent / "shared" / "media" / "imageio_cockatoo_yuv420.mp4"


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def naive_loop(clip: Path, model: Path | None, out: Path, conf: float) -> dict[str, float]:
    """The single loop a user writes; returns fps and CPU ms per frame."""
    det = Detector(model, device="cpu")  # only for its card (input spec, labels) and decoder
    card = det.card
    spec = card.input
    family = FAMILIES[card.family]
    names = family.output_names(card.outputs)  # type: ignore[arg-type]
    session = ort.InferenceSession(str(det.path), providers=["CPUExecutionProvider"])
    mean = np.array(spec.mean, np.float32)
    std = np.array(spec.std, np.float32)
    cap = cv2.VideoCapture(str(clip))
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 25.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps_in, (w, h))
    frames = 0
    t0, c0 = time.perf_counter(), cpu_seconds()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if spec.resize == "letterbox":
            s = min(spec.width / w, spec.height / h)
            resized = cv2.resize(frame, (round(w * s), round(h * s)))
            canvas = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
            canvas[: resized.shape[0], : resized.shape[1]] = resized
            sx = sy = s
        else:
            canvas = cv2.resize(frame, (spec.width, spec.height))
            sx, sy = spec.width / w, spec.height / h
        if spec.color == "rgb":
            canvas = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
        blob = ((canvas.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
        outputs = session.run(names, {spec.name: np.ascontiguousarray(blob)})
        xyxy, score, cid = family.decode(dict(zip(names, outputs)), card, conf=conf)
        keep = batched_nms(xyxy, score, cid, 0.45)
        for (x1, y1, x2, y2), c, p in zip(xyxy[keep] / [sx, sy, sx, sy], cid[keep], score[keep]):
            cv2.rectangle(frame, (int(x1), int(y1)), (int(x2), int(y2)), class_color(c), 2)
            cv2.putText(frame, f"{card.labels[c]} {p:.2f}", (int(x1), int(y1) - 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6, class_color(c), 2)
        writer.write(frame)
        frames += 1
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    cap.release()
    writer.release()
    return {"frames": frames, "fps": frames / wall, "cpu_ms_per_frame": 1000 * cpu / frames}


def pipeline_run(clip: Path, model: Path | None, out: Path, conf: float,
                 rss_at: tuple[int, ...] = (), **options: Any) -> dict[str, Any]:
    settings = RunSettings(source=str(clip), model=model, out=out, conf=conf, progress=False, quiet=True, **options)
    runner = Runner(settings)
    proc = psutil.Process()
    rss: dict[int, float] = {}
    pending = sorted(rss_at)

    def on_tick(stats: Any) -> None:
        while pending and stats.frames_out >= pending[0]:
            rss[pending.pop(0)] = proc.memory_info().rss / 2**20

    c0 = cpu_seconds()
    summary = runner.run(on_tick if rss_at else None)
    cpu = cpu_seconds() - c0
    return {
        "frames": summary.frames,
        "fps": summary.fps,
        "cpu_ms_per_frame": 1000 * cpu / summary.frames,
        "stages": {s.name: {"wall_ms": round(s.ms_per_frame, 2), "cpu_ms": round(s.cpu_ms_per_frame, 2)}
                   for s in summary.stages},
        "provider": summary.provider.provider if summary.provider else None,
        "rss_mb": rss,
    }


def long_clip(clip: Path, frames: int, dest: Path) -> Path:
    """The clip's packets repeated end to end (no re-encode) until ``frames`` frames."""
    with av.open(str(clip)) as src:
        stream = src.streams.video[0]
        packets = [p for p in src.demux(stream) if p.dts is not None]
        per_loop = len(packets)
        span = max(p.pts for p in packets) + (packets[1].pts - packets[0].pts if per_loop > 1 else 1)
        with av.open(str(dest), "w") as out:
            ostream = out.add_stream_from_template(stream)
            written = 0
            loop = 0
            while written < frames:
                for p in packets:
                    if written >= frames:
                        break
                    q = av.Packet(bytes(p))
                    q.pts, q.dts = p.pts + loop * span, p.dts + loop * span
                    q.time_base, q.is_keyframe, q.stream = p.time_base, p.is_keyframe, ostream
                    out.mux(q)
                    written += 1
                loop += 1
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="720p clip (default: ../shared cockatoo)")
    ap.add_argument("--model", type=Path, default=None, help="ONNX detector file or bundled name (default: the bundled default, yolox-nano)")
    ap.add_argument("--conf", type=float, default=0.35)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--preset", default=None, help="x264 preset of the pipeline (default: streamer's)")
    ap.add_argument("--detect-workers", type=int, default=None, help="default: streamer's choice")
    ap.add_argument("--memory-frames", type=int, default=0, help="also check RSS after 500 and N frames")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if not args.clip.exists():
        print(f"bench_pipeline: {args.clip}: no such clip (pass --clip)", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    naive, pipe = [], []
    options = {k: v for k, v in {"preset": args.preset, "detect_workers": args.detect_workers}.items() if v is not None}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for _ in range(args.repeats):
            naive.append(naive_loop(args.clip, args.model, d / "naive.mp4", args.conf))
            pipe.append(pipeline_run(args.clip, args.model, d / "pipe.mp4", args.conf, **options))
        med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
        stages = {name: {k: statistics.median(r["stages"][name][k] for r in pipe) for k in ("wall_ms", "cpu_ms")}
                  for name in pipe[0]["stages"]}
        cpu_ms = med(pipe, "cpu_ms_per_frame")
        limit = cores * 1000 / cpu_ms
        report: dict[str, Any] = {
            "clip": str(args.clip), "frames": pipe[0]["frames"], "cores": cores, "repeats": args.repeats,
            "provider": pipe[0]["provider"], "options": options,
            "naive_fps": round(med(naive, "fps"), 2), "naive_cpu_ms_per_frame": round(med(naive, "cpu_ms_per_frame"), 2),
            "pipeline_fps": round(med(pipe, "fps"), 2), "pipeline_cpu_ms_per_frame": round(cpu_ms, 2),
            "speedup": round(med(pipe, "fps") / med(naive, "fps"), 3),
            "cpu_limit_fps": round(limit, 2), "efficiency": round(med(pipe, "fps") / limit, 3),
            "stages": stages,
        }
        if args.memory_frames:
            clip = long_clip(args.clip, args.memory_frames, d / "long.mp4")
            run = pipeline_run(clip, args.model, d / "long_out.mp4", args.conf, rss_at=(500, args.memory_frames))
            report["memory"] = {"frames": run["frames"], "rss_mb": run["rss_mb"],
                                "growth_mb": round(run["rss_mb"].get(args.memory_frames, float("nan")) - run["rss_mb"].get(500, float("nan")), 1)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"clip {report['clip']} ({report['frames']} frames), {cores} cores, median of {args.repeats}, detector on every frame ({report['provider']})")
    print(f"{'':24}{'fps':>8}{'CPU ms/frame':>14}")
    print(f"{'naive loop':24}{report['naive_fps']:>8.1f}{report['naive_cpu_ms_per_frame']:>14.1f}")
    print(f"{'streamer pipeline':24}{report['pipeline_fps']:>8.1f}{report['pipeline_cpu_ms_per_frame']:>14.1f}")
    print(f"speed-up {report['speedup']:.2f}x; CPU limit {report['cpu_limit_fps']:.1f} fps; efficiency {100 * report['efficiency']:.0f}%")
    print("stage            wall ms   thread CPU ms")
    for name, s in stages.items():
        print(f"  {name:14}{s['wall_ms']:>8.2f}{s['cpu_ms']:>14.2f}")
    if "memory" in report:
        m = report["memory"]
        print(f"memory: RSS {m['rss_mb']} MB over {m['frames']} frames, growth {m['growth_mb']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
