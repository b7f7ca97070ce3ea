#!/usr/bin/env python
"""Benchmark: cost per frame of zones and lines (issue 9) with 10, 50 and 200 objects.

A synthetic 1280x720 scene: N objects move in straight lines at 2-8 px a frame with
+-2 px of box jitter, and a new one replaces each that leaves the picture (so tracks
come and go, and cross lines and zone borders all the time). The analytics are 2 zones
(a 4-vertex and an 8-vertex polygon) and 2 lines (a horizontal and a diagonal one),
``loiter_seconds`` set, run through :class:`streamer.analytics.CameraAnalytics`
(masks none, per-frame figures built as for the overlay and the JSONL). Reported per
frame: the zones alone, the lines alone, the whole ``CameraAnalytics.update`` and, when
``streamer.tracking.ByteTracker`` can be imported, the tracker plus the analytics (the
issue's goal: under 1 ms with 50 objects on one core), and the tracker, the analytics and
the events together: the publisher (track appearances and disappearances, records with
score and box, snapshot names) on an :class:`~streamer.bus.EventBus` whose subscriber
writes ``NAME.events.jsonl`` (a temporary folder); JPEGs and clips are written by their own
threads, not here.

Each figure is the median over ``--repeats`` passes over the same ``--frames`` frames,
of the mean time per frame in a pass. Everything runs in one thread (the kernels are
serial). The machine is shared with other work and noisy: compare figures from one run,
and expect a few tens of percent between runs.

Usage::

    python scripts/bench_analytics.py [--frames 300] [--repeats 7] [--clock wall|cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from streamer.analytics import CameraAnalytics, LineConfig, ZoneConfig
from streamer.bus import EventBus
from streamer.detection import Detections
from streamer.events.camera import CameraEvents
from streamer.events.config import EventsConfig
from streamer.frames import Frame

WIDTH, HEIGHT = 1280, 720
LABELS = ("person", "bicycle", "car")
ZONES = [
    ZoneConfig(name="porch", polygon=[[100, 300], [500, 280], [560, 650], [80, 680]], min_seconds=0.3,
               loiter_seconds=5),
    ZoneConfig(name="drive", polygon=[[700, 200], [900, 150], [1150, 220], [1250, 420], [1200, 650],
                                      [950, 700], [760, 600], [680, 400]], min_seconds=0.3, loiter_seconds=5),
]
LINES = [
    LineConfig(name="gate", start=[0, 360], end=[1280, 360]),
    LineConfig(name="path", start=[200, 50], end=[1100, 700], classes=["person", "bicycle"]),
]


def scene(n: int, frames: int, seed: int = 0) -> list[Detections]:
    """``frames`` frames of ``n`` moving objects, with tracker ids (a new id for each newcomer)."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [WIDTH, HEIGHT], (n, 2))
    vel = rng.uniform(2, 8, (n, 1)) * _unit(rng.uniform(0, 2 * np.pi, n))
    ids = np.arange(n, dtype=np.int64)
    cls = rng.integers(0, 3, n).astype(np.int32)
    next_id = n
    out = []
    for _ in range(frames):
        pos += vel
        gone = (pos[:, 0] < 0) | (pos[:, 0] > WIDTH) | (pos[:, 1] < 0) | (pos[:, 1] > HEIGHT)
        k = int(gone.sum())
        if k:
            pos[gone] = rng.uniform([0, 0], [WIDTH, HEIGHT], (k, 2))
            vel[gone] = rng.uniform(2, 8, (k, 1)) * _unit(rng.uniform(0, 2 * np.pi, k))
            ids[gone] = np.arange(next_id, next_id + k)
            cls[gone] = rng.integers(0, 3, k)
            next_id += k
        anchor = pos + rng.uniform(-2, 2, (n, 2))
        xyxy = np.concatenate([anchor - [20, 80], anchor + [20, 0]], axis=1).astype(np.float32)
        out.append(Detections(xyxy, rng.uniform(0.5, 1, n).astype(np.float32), cls.copy(),
                              tracker_id=ids.copy(), labels=LABELS))
    return out


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


#: ``--clock cpu`` measures the thread's CPU time: on a machine shared with other work the
#: wall clock counts the time this thread waited for a core too.
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = CLOCKS["wall"]


def per_frame(make: Callable[[], Callable[[Detections, float], Any]], frames: list[Detections],
              repeats: int) -> float:
    """Median over passes of the mean seconds per frame; each pass starts from a fresh state."""
    passes = []
    for _ in range(repeats):
        step = make()
        start = clock()
        for i, d in enumerate(frames):
            step(d, i / 30)
        passes.append((clock() - start) / len(frames))
    return statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: this thread's CPU time (a busy shared machine)")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    try:
        from streamer.tracking import ByteTracker
    except ImportError:
        ByteTracker = None  # noqa: N806 (the tracker is optional here)

    def camera(zones: list[ZoneConfig], lines: list[LineConfig]) -> Callable[[Detections, float], Any]:
        cam = CameraAnalytics(zones, lines, labels=LABELS)
        return lambda d, t: cam.update(d, t, (WIDTH, HEIGHT))

    def tracked() -> Callable[[Detections, float], Any]:
        tracker, cam = ByteTracker(), CameraAnalytics(ZONES, LINES, labels=LABELS)
        return lambda d, t: cam.update(tracker.update(d, time=t), t, (WIDTH, HEIGHT))

    folder = tempfile.TemporaryDirectory(prefix="bench-events-")
    published = [0]

    def with_events() -> Callable[[Detections, float], Any]:
        tracker, cam = ByteTracker(), CameraAnalytics(ZONES, LINES, labels=LABELS)
        bus = EventBus()
        events = CameraEvents(EventsConfig(clips=False), camera="bench", bus=bus, labels=LABELS,
                              path=Path(folder.name) / "bench.events.jsonl", folder=Path(folder.name) / "bench.events",
                              live=False)
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        index = [0]

        def step(d: Detections, t: float) -> Any:
            d = tracker.update(d, time=t)
            result = cam.update(d, t, (WIDTH, HEIGHT))
            frame = Frame(index[0], round(t * 1000), Fraction(1, 1000), 0.0, image)
            index[0] += 1
            published[0] += len(events.publisher.frame(frame, result.detections, result.events, tracker.track_ids()))
            return result

        return step

    camera(ZONES, LINES)(scene(5, 1)[0], 0.0)  # compile or load the kernels first
    rows = []
    for n in (10, 50, 200):
        frames = scene(n, args.frames)
        row = {
            "objects": n,
            "zones_us": 1e6 * per_frame(lambda: camera(ZONES, []), frames, args.repeats),
            "lines_us": 1e6 * per_frame(lambda: camera([], LINES), frames, args.repeats),
            "analytics_us": 1e6 * per_frame(lambda: camera(ZONES, LINES), frames, args.repeats),
        }
        if ByteTracker is not None:
            untracked = [Detections(d.xyxy, d.confidence, d.class_id, labels=LABELS) for d in frames]
            row["tracker_and_analytics_us"] = 1e6 * per_frame(tracked, untracked, args.repeats)
            published[0] = 0
            row["tracker_analytics_events_us"] = 1e6 * per_frame(with_events, untracked, args.repeats)
            row["events_per_frame"] = published[0] / (args.repeats * args.frames)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    columns = [k for k in rows[0] if k != "objects"]
    load = os.getloadavg()[0]
    print(f"per frame ({args.clock} clock), median of {args.repeats} passes over {args.frames} frames; shared "
          f"machine, noisy: load average {load:.1f} on {os.cpu_count()} CPUs")
    print("| objects | " + " | ".join(c.removesuffix("_us").replace("_", " ") + (" (us)" if c.endswith("_us") else "")
                                      for c in columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    for row in rows:
        print(f"| {row['objects']} | " + " | ".join(f"{row[c]:.0f}" if c.endswith("_us") else f"{row[c]:.2f}"
                                                  for c in columns) + " |")


if __name__ == "__main__":
    main()
