"""Zones, lines and masks (issue 9) on synthetic tracks, their config, and the polygon kernels.

Tracks are written as anchors: ``box(x, y)`` is a 20 x 40 box whose bottom centre (the
default anchor) is (x, y). Frame times step by 0.1 s (10 fps) unless a test says otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streamer.analytics import (
    AnalyticsResult,
    CameraAnalytics,
    LineConfig,
    LineCounter,
    Mask,
    MaskConfig,
    PolygonZone,
    ZoneConfig,
    anchor_points,
)
from streamer.analytics.draw import LineAnnotator, ZoneAnnotator
from streamer.detection import Detections
from streamer.errors import ConfigError
from streamer.frames import Frame
from streamer.kernels._polygon import line_sides, points_in_polygon

LABELS = ("person", "bicycle", "car")
DT = 0.1
SQUARE = np.array([[100, 100], [300, 100], [300, 300], [100, 300]], np.float64)


def box(x: float, y: float) -> list[float]:
    return [x - 10, y - 40, x + 10, y]


def dets(*rows: tuple[int, float, float] | tuple[int, float, float, int], tracked: bool = True) -> Detections:
    """Rows ``(track id, anchor x, anchor y[, class id])`` -> Detections (class 0 by default)."""
    n = len(rows)
    return Detections(
        xyxy=np.array([box(r[1], r[2]) for r in rows], np.float32).reshape(n, 4),
        confidence=np.full(n, 0.9, np.float32),
        class_id=np.array([r[3] if len(r) > 3 else 0 for r in rows], np.int32),
        tracker_id=np.array([r[0] for r in rows], np.int64) if tracked else None,
        labels=LABELS,
    )


def run(shape: PolygonZone | LineCounter, frames: list[Detections], t0: float = 0.0) -> list:
    events = []
    for i, d in enumerate(frames):
        events += shape.update(d, t0 + i * DT)
    return events


def gate(**kw: object) -> LineCounter:
    """A horizontal line y = 200 from x = 0 to 400; below it (larger y) is ``in``."""
    return LineCounter("gate", (0.0, 200.0), (400.0, 200.0), **{"margin": 8.0, **kw})


# -- kernels -------------------------------------------------------------------------------


def ray_cast(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Slow, obviously correct even-odd test: count the edges a ray to +x crosses."""
    inside = False
    for k in range(len(polygon)):
        (xi, yi), (xj, yj) = polygon[k], polygon[k - 1]
        if (yi > y) != (yj > y):
            x_cross = (xj - xi) * (y - yi) / (yj - yi) + xi
            if x < x_cross:
                inside = not inside
    return inside


coords = st.floats(-50, 250, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(polygon=st.lists(st.tuples(coords, coords), min_size=3, max_size=12),
       points=st.lists(st.tuples(coords, coords), max_size=40))
def test_points_in_polygon_equals_pure_python_ray_casting(polygon, points):
    """Points within 1e-6 px of an edge are left out: on the boundary either answer is right,
    and float rounding decides it differently in the two (Hypothesis found (0, 0) against the
    edge from (1.4e-45, 0) to (1, 1): the reference's crossing rounds to x = 0.0)."""
    poly = np.array(polygon, np.float64)
    pts = np.array(points, np.float32).reshape(-1, 2)
    pts = pts[[edge_distance(float(x), float(y), poly) > 1e-6 for x, y in pts]].reshape(-1, 2)
    expected = [ray_cast(float(x), float(y), [tuple(map(float, p)) for p in poly]) for x, y in pts]
    assert points_in_polygon(pts, poly).tolist() == expected


def edge_distance(x: float, y: float, polygon: np.ndarray) -> float:
    """Distance from (x, y) to the nearest edge of ``polygon`` (segments, closed)."""
    best = float("inf")
    for k in range(len(polygon)):
        (x0, y0), (x1, y1) = polygon[k - 1], polygon[k]
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else min(1.0, max(0.0, ((x - x0) * dx + (y - y0) * dy) / length2))
        best = min(best, float(np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))))
    return best


def test_points_in_polygon_agrees_with_cv2_off_the_border():
    rng = np.random.default_rng(9)
    concave = np.array([[10, 10], [200, 10], [200, 200], [120, 200], [120, 60], [60, 60], [60, 200], [10, 200]],
                       np.float64)
    star = np.array([[100 + r * np.cos(a), 100 + r * np.sin(a)] for a, r in
                     zip(np.linspace(0, 2 * np.pi, 10, endpoint=False), [90, 35] * 5)])
    for polygon in (SQUARE, concave, star, rng.uniform(0, 220, (7, 2))):
        points = rng.uniform(-10, 230, (2000, 2)).astype(np.float32)
        contour = polygon.astype(np.float32).reshape(-1, 1, 2)
        distance = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in points])
        clear = np.abs(distance) > 1e-3  # on the border the two rules may differ
        assert clear.sum() > 1900
        assert np.array_equal(points_in_polygon(points, polygon)[clear], distance[clear] > 0)


def test_line_sides_margin_and_span():
    pts = np.array([[50, 190], [50, 210], [50, 195], [50, 205], [-5, 250], [405, 150], [400, 180]], np.float32)
    assert line_sides(pts, (0, 200), (400, 200), margin=8).tolist() == [-1, 1, 0, 0, 2, 2, -1]
    # Reversing the segment swaps the sides.
    assert line_sides(pts[:2], (400, 200), (0, 200)).tolist() == [1, -1]


def test_kernel_arguments_are_checked():
    with pytest.raises(TypeError, match="float32 or float64"):
        points_in_polygon(np.zeros((3, 2), np.int32), SQUARE)
    with pytest.raises(ValueError, match="M >= 3"):
        points_in_polygon(np.zeros((3, 2), np.float32), SQUARE[:2])
    with pytest.raises(ValueError, match="same point"):
        line_sides(np.zeros((1, 2), np.float32), (1, 1), (1, 1))


def test_anchor_points():
    xyxy = np.array([[10, 20, 30, 60]], np.float32)
    assert anchor_points(xyxy).tolist() == [[20, 60]]
    assert anchor_points(xyxy, "center").tolist() == [[20, 40]]
    assert anchor_points(xyxy, "top_left").tolist() == [[10, 20]]
    with pytest.raises(ValueError, match="unknown anchor 'middle'"):
        anchor_points(xyxy, "middle")


# -- lines ---------------------------------------------------------------------------------


def test_box_jittering_on_the_line_crosses_exactly_once():
    rng = np.random.default_rng(1)
    ys = [150, 170, 185] + list(200 + rng.uniform(-7.9, 7.9, 40)) + [215, 230, 260]  # margin 8
    line = gate()
    events = run(line, [dets((1, 100, y)) for y in ys])
    assert [(e.kind, e.direction, e.track_id) for e in events] == [("cross", "in", 1)]
    assert line.counts["in"][0] == 1 and line.total("out") == 0


def test_track_dropped_for_a_few_frames_mid_crossing_crosses_once():
    ys = [150, 170, 190, 197, None, None, None, None, 205, 220, 240, None, None, 260]
    frames = [dets((1, 100, y)) if y is not None else Detections.empty(LABELS) for y in ys]
    line = gate()
    assert len(run(line, frames)) == 1 and line.total("in") == 1


def test_track_lost_and_found_on_the_same_side_counts_nothing():
    ys = [150, 160, 175] + [None] * 20 + [180, 170, 160]
    frames = [dets((1, 100, y)) if y is not None else Detections.empty(LABELS) for y in ys]
    line = gate()
    assert run(line, frames) == [] and line.total("in") == line.total("out") == 0


def test_crossing_back_counts_the_other_direction():
    line = gate()
    events = run(line, [dets((1, 100, y)) for y in (150, 250, 150, 250)])
    assert [e.direction for e in events] == ["in", "out", "in"]
    assert (line.total("in"), line.total("out")) == (2, 1)


def test_counts_per_class_and_class_filter():
    frames = [dets((1, 100, y, 0), (2, 200, y, 2), (3, 300, 400 - y, 2)) for y in (150, 190, 250)]
    line = gate()
    events = run(line, frames)
    assert line.counts == {"in": {0: 1, 2: 1}, "out": {2: 1}}
    assert {(e.label, e.direction) for e in events} == {("person", "in"), ("car", "in"), ("car", "out")}
    cars = gate(classes={2})
    run(cars, frames)
    assert cars.counts == {"in": {2: 1}, "out": {2: 1}}


def test_first_position_in_the_band_or_beyond_the_ends_sets_no_side():
    line = gate()
    # Starts on the line, leaves downwards: no side was confirmed before, so no crossing.
    assert run(line, [dets((1, 100, y)) for y in (200, 203, 230)]) == []
    # Walks round the end of the segment (x > 400) from above to below: not a crossing.
    assert run(line, [dets((2, x, y)) for x, y in ((380, 150), (450, 150), (450, 250), (380, 250))], 1.0) == []


def test_unconfirmed_and_untracked_rows_are_ignored():
    line = gate()
    assert run(line, [dets((-1, 100, y)) for y in (150, 250)]) == []
    assert run(line, [dets((1, 100, y), tracked=False) for y in (150, 250)], 1.0) == []
    assert line.tracked == 0


def test_named_directions():
    line = LineCounter("door", (0, 200), (400, 200), margin=5, left="leaving", right="arriving")
    assert [e.direction for e in run(line, [dets((1, 50, y)) for y in (100, 300, 100)])] == ["arriving", "leaving"]


# -- zones ---------------------------------------------------------------------------------


def test_zone_entry_needs_min_seconds_inside():
    zone = PolygonZone("porch", SQUARE, min_seconds=0.5)
    # Inside for 0.4 s (5 frames): no entry.
    assert run(zone, [dets((1, 200, 200))] * 5 + [dets((1, 500, 500))] * 10) == []
    assert zone.occupancy == {}
    events = run(zone, [dets((1, 200, 200))] * 10, t0=2.0)
    assert [(e.kind, e.time) for e in events] == [("enter", pytest.approx(2.5))]
    assert zone.occupancy == {0: 1} and zone.entries == {0: 1}


def test_zone_border_jitter_enters_once():
    rng = np.random.default_rng(3)
    xs = [50, 80] + list(100 + rng.uniform(-10, 10, 60)) + [150, 200, 200, 200, 200, 200, 200]
    zone = PolygonZone("porch", SQUARE, min_seconds=0.5)
    events = run(zone, [dets((1, x, 200)) for x in xs])
    assert [e.kind for e in events] == ["enter"]


def test_exit_reports_dwell_and_loiter_comes_once_per_stay():
    zone = PolygonZone("porch", SQUARE, min_seconds=0.2, loiter_seconds=1.0)
    inside, outside = dets((7, 200, 200, 2)), dets((7, 500, 500, 2))
    events = run(zone, [inside] * 20 + [outside] * 5 + [inside] * 15 + [outside] * 5)
    kinds = [(e.kind, round(e.time, 3), None if e.dwell is None else round(e.dwell, 3)) for e in events]
    assert kinds == [
        ("enter", 0.2, None), ("loiter", 1.0, 1.0), ("exit", 2.2, 1.9),   # seen inside 0.0-1.9 s
        ("enter", 2.7, None), ("loiter", 3.5, 1.0), ("exit", 4.2, 1.4),   # 2.5-3.9 s
    ]
    assert all(e.label == "car" and e.track_id == 7 for e in events)
    assert zone.entries == zone.exits == {2: 2}


def test_unseen_track_stays_inside_then_exits_when_forgotten():
    zone = PolygonZone("porch", SQUARE, min_seconds=0.0, forget_seconds=2.0)
    events = run(zone, [dets((1, 200, 200), (2, 220, 220, 2))] * 3 + [dets((2, 220, 220, 2))] * 10)
    assert [(e.kind, e.track_id) for e in events] == [("enter", 1), ("enter", 2)]
    assert zone.occupancy == {0: 1, 2: 1} and zone.dwell(1) == pytest.approx(0.2)
    events = run(zone, [dets((2, 220, 220, 2))] * 20, t0=1.3)
    assert [(e.kind, e.track_id, round(e.dwell, 3)) for e in events] == [("exit", 1, 0.2)]
    assert zone.occupancy == {2: 1} and zone.tracked == 1


def test_untracked_detections_give_this_frames_occupancy():
    zone = PolygonZone("porch", SQUARE, classes={0, 2})
    assert zone.update(dets((0, 200, 200, 0), (0, 150, 150, 2), (0, 250, 250, 1), (0, 500, 500),
                            tracked=False), 0.0) == []
    assert zone.occupancy == {0: 1, 2: 1}


def test_time_going_back_starts_per_track_state_afresh():
    line = gate()
    run(line, [dets((1, 100, y)) for y in (150, 250)], t0=100.0)
    assert line.total("in") == 1
    # A new file: the same id on the other side is a new object, not a crossing back.
    assert run(line, [dets((1, 100, y)) for y in (150, 160)]) == []
    assert line.total("in") == 1 and line.total("out") == 0


def test_state_stays_bounded_over_100k_frames():
    """Objects come and go for 100k frames (~55 min at 30 fps): the kept state stays flat."""
    zone = PolygonZone("z", SQUARE, min_seconds=0.1, loiter_seconds=0.5, forget_seconds=1.0)
    line = gate(forget_seconds=1.0)
    # Every 100 frames two new tracks walk down through the zone and across the line in
    # 30 frames each (the second starts 10 frames later), then 60 frames are empty.
    ys = np.linspace(60, 340, 30)
    phases = []
    for p in range(100):
        rows = [(k, 150.0 + 100 * k, ys[p - 10 * k]) for k in (0, 1) if 0 <= p - 10 * k < 30]
        phases.append((dets(*rows) if rows else Detections.empty(LABELS), [k for k, *_ in rows]))
    most = {}
    for i in range(100_000):
        d, ks = phases[i % 100]
        if ks:
            # New ids in place: building Detections would cost ~30 us a frame, more than the
            # updates, and zones and lines copy the ids into their own state.
            d.tracker_id[:] = np.array(ks) + 2 * (i // 100)
        zone.update(d, i / 30)
        line.update(d, i / 30)
        if i % 97 == 0:
            for name, structure in (("zone._class", zone._class), ("zone._entered", zone._entered),
                                    ("zone._last_inside", zone._last_inside), ("zone._pending", zone._pending),
                                    ("zone._loiter_due", zone._loiter_due), ("line._side", line._side),
                                    ("line._last_seen", line._last_seen)):
                most[name] = max(most.get(name, 0), len(structure))
    tracks = 2 * 100_000 // 100
    assert line.total("in") == tracks and line.total("out") == 0
    assert zone.entries[0] == tracks and zone.exits[0] >= tracks - 2
    # A track is dropped 1 to 1.25 s (30 to 38 frames) after it was last seen, so at most
    # the two tracks of one period are kept; stale loiter entries are rebuilt away past 64.
    assert max(most.values()) <= 2 + 64 and max(v for k, v in most.items() if k != "zone._loiter_due") <= 2, most


# -- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "message"), [
    ({"polygon": [[0, 0], [10, 0]]}, "at least 3 points"),
    ({"polygon": [[0, 0], [10, 10], [20, 20]]}, "encloses no area"),
    ({"polygon": [[0, 0], [1.2, 0], [1, 1]], "units": "fraction"}, "must be in \\[0, 1\\], got \\[1.2, 0\\]"),
    ({"polygon": [[0, 0], [1, 0], [1, 1]]}, "add units: fraction"),
    ({"polygon": [[0, 0], [10, 0], [10, 10, 3]]}, "at most 2 items"),
    ({"polygon": [[0, 0], [10, 0], [10, 10]], "min_seconds": -1}, "greater than or equal to 0"),
    ({"polygon": [[0, 0], [10, 0], [10, 10]], "anchor": "middle"}, "bottom_center"),
    ({"polygon": [[0, 0], [10, 0], [10, 10]], "colour": "red"}, "Extra inputs are not permitted"),
])
def test_zone_config_errors(values, message):
    with pytest.raises(ValidationError, match=message):
        ZoneConfig(name="z", **values)


@pytest.mark.parametrize(("values", "message"), [
    ({"start": [5, 5], "end": [5, 5]}, "two distinct points"),
    ({"start": [0, 0.5], "end": [1.5, 0.5], "units": "fraction"}, "must be in \\[0, 1\\]"),
    ({"start": [0, 0.5], "end": [1, 0.5], "units": "fraction", "margin": 0.8}, "at most 0.5"),
    ({"start": [0, 50], "end": [100, 50], "left": "in", "right": "in"}, "differently"),
])
def test_line_config_errors(values, message):
    with pytest.raises(ValidationError, match=message):
        LineConfig(name="l", **values)


def test_class_names_are_checked_against_the_labels():
    zone = ZoneConfig(name="porch", polygon=[[0, 0], [10, 0], [10, 10]], classes="person, car")
    assert zone.classes == ["person", "car"]
    bad = LineConfig(name="gate", start=[0, 5], end=[9, 5], classes=["persn"])
    with pytest.raises(ConfigError, match="lines.gate.classes: unknown class 'persn' \\(did you mean 'person'\\?\\)"):
        CameraAnalytics([zone], [bad], labels=LABELS)
    with pytest.raises(ConfigError, match="zones: the name 'porch' is used more than once"):
        CameraAnalytics([zone, zone])


def test_fraction_and_pixel_polygons_on_two_frame_sizes():
    fraction = ZoneConfig(name="f", polygon=[[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]], units="fraction", min_seconds=0)
    pixels = ZoneConfig(name="p", polygon=[[320, 240], [640, 240], [640, 480], [320, 480]], min_seconds=0)
    assert fraction.pixels((640, 480)).tolist() == pixels.pixels((640, 480)).tolist()
    assert fraction.pixels((1280, 720)).tolist() == [[640, 360], [1280, 360], [1280, 720], [640, 720]]
    cam = CameraAnalytics([fraction, pixels])
    # Bottom-right quarter at 640x480: both zones hold the object.
    result = cam.update(dets((1, 500, 400)), 0.0, (640, 480))
    assert [z.occupancy for z in result.zones] == [{"person": 1}, {"person": 1}]
    # At 1280x720 the fraction zone follows the picture, the pixel zone stays where it was.
    result = cam.update(dets((1, 1000, 700)), 0.1, (1280, 720))
    assert [z.occupancy for z in result.zones] == [{"person": 1}, {}]
    assert [e.kind for e in result.events] == ["exit"]
    line = LineConfig(name="l", start=[0, 0.5], end=[1, 0.5], units="fraction", margin=0.05)
    assert line.pixels((1280, 720)) == ((0, 360), (1280, 360), 36.0)
    assert LineConfig(name="l", start=[0, 100], end=[50, 100]).pixels((1280, 720))[2] == pytest.approx(14.4)


# -- masks ---------------------------------------------------------------------------------


def test_mask_drops_detections_and_clears_motion():
    mask = Mask(SQUARE)
    d = dets((1, 200, 200), (2, 50, 50), (3, 290, 320))  # row 3's box overlaps, its anchor is out
    kept = mask.apply(d)
    assert kept.tracker_id.tolist() == [2, 3]
    assert Mask(SQUARE, detections=False).apply(d) is d
    motion = np.full((400, 400), 255, np.uint8)
    mask.clear_motion(motion)
    assert motion[110:290, 110:290].max() == 0 and motion[:90].min() == 255 and motion[310:].min() == 255
    assert abs(int(np.count_nonzero(motion == 0)) - 200 * 200) <= 2 * 200 + 1


def test_masked_objects_never_reach_zones_or_lines():
    zone = ZoneConfig(name="yard", polygon=[[0, 0], [400, 0], [400, 400], [0, 400]], min_seconds=0)
    line = LineConfig(name="gate", start=[0, 200], end=[400, 200])
    road = MaskConfig(polygon=[[0, 0], [0.25, 0], [0.25, 1], [0, 1]], units="fraction")
    cam = CameraAnalytics([zone], [line], [road], labels=LABELS)
    events = []
    for i, y in enumerate((150, 250)):
        result = cam.update(dets((1, 50, y), (2, 300, y)), i * DT, (400, 400))
        events += result.events
    assert {e.track_id for e in events} == {2} and len(result.detections) == 1
    motion = np.full((400, 400), 255, np.uint8)
    assert cam.clear_motion(motion)[:, :99].max() == 0


# -- results, records and drawing ------------------------------------------------------------


@dataclass(eq=False)
class AnalyticsFrame(Frame):
    """A Frame with the ``analytics`` field the pipeline will carry (issue 9's wiring)."""

    analytics: AnalyticsResult | None = None


def camera_after_one_crossing() -> AnalyticsResult:
    cam = CameraAnalytics([ZoneConfig(name="porch", polygon=SQUARE.tolist(), min_seconds=0)],
                          [LineConfig(name="gate", start=[0, 200], end=[400, 200], right="in", left="out")])
    cam.update(dets((1, 200, 150, 2)), 0.0, (640, 480))
    return cam.update(dets((1, 200, 250, 2)), 0.1, (640, 480))


def test_figures_carry_over_frames_without_events():
    cam = CameraAnalytics([ZoneConfig(name="porch", polygon=SQUARE.tolist(), min_seconds=0)],
                          [LineConfig(name="gate", start=[0, 200], end=[400, 200])])
    frames = [dets((1, 200, 150)), dets((1, 200, 250)), dets((1, 200, 260)), dets((1, 500, 500)),
              Detections.empty(LABELS)]
    results = [cam.update(d, i * DT, (640, 480)) for i, d in enumerate(frames)]
    assert [r.zones[0].occupancy for r in results] == [{"person": 1}] * 3 + [{}] * 2
    assert [r.lines[0].counts["in"] for r in results] == [{}] + [{"person": 1}] * 4
    assert [[e.kind for e in r.events] for r in results] == [["enter"], ["cross"], [], ["exit"], []]


def test_records_are_json_ready():
    result = camera_after_one_crossing()
    assert result.counts_record() == {
        "zones": {"porch": {"occupancy": {"car": 1}, "entries": {"car": 1}, "exits": {}}},
        "lines": {"gate": {"out": {}, "in": {"car": 1}}},
    }
    records = [e.to_record() for e in result.events]
    assert records == [{"event": "cross", "time": 0.1, "line": "gate", "track_id": 1, "class_id": 2,
                        "label": "car", "direction": "in"}]
    json.dumps([result.counts_record(), *records])


def test_annotators_draw_zones_and_lines_only_when_the_frame_has_analytics():
    result = camera_after_one_crossing()
    image = np.zeros((480, 640, 3), np.uint8)
    frame = AnalyticsFrame(0, 0, Fraction(1, 10), 0.0, image, analytics=result)
    scene = ZoneAnnotator(alpha=0.5).annotate(image.copy(), frame)
    assert scene[200, 200].tolist() == [0, 100, 128]        # half the amber fill
    assert scene[400:, 400:].max() == 0                      # nothing outside the zone's box
    scene = LineAnnotator().annotate(image.copy(), frame)
    assert scene[200, 50].tolist() == [255, 255, 255] and scene[400:, 400:].max() == 0
    bare = AnalyticsFrame(0, 0, Fraction(1, 10), 0.0, image)
    assert ZoneAnnotator().annotate(image.copy(), bare).max() == 0
    assert LineAnnotator().annotate(image.copy(), bare).max() == 0


def test_track_stage_loads_the_shapes_kernels_before_the_first_frame() -> None:
    """Zones, lines and masks are laid out at the first frame (they need its size), so the
    stage's ``start`` loads their kernels: with Numba's cache cold the first frame of a live
    camera with zones compiled them (~1 s). A camera without shapes does not load Numba.
    Fresh interpreters: this worker's earlier tests have loaded the kernels."""
    import subprocess
    import sys

    code = """
import sys
from streamer.analytics.camera import CameraAnalytics
from streamer.analytics.config import LineConfig, MaskConfig, ZoneConfig
from streamer.analytics.stage import AnalyticsStage

AnalyticsStage(("person",), analytics=CameraAnalytics(labels=("person",))).start()
assert "numba" not in sys.modules
shapes = {"zones": [ZoneConfig(name="z", polygon=[[0, 0], [10, 0], [10, 10]])],
          "lines": [LineConfig(name="l", start=[0, 5], end=[10, 5])],
          "masks": [MaskConfig(polygon=[[0, 0], [10, 0], [10, 10]])]}
for kind in sys.argv[1:]:  # zones and masks run the same kernel: not in one interpreter
    AnalyticsStage(("person",), analytics=CameraAnalytics(**{kind: shapes[kind]}, labels=("person",))).start()
    from streamer.kernels import _polygon
    print(kind, len(_polygon._in_polygon.overloads), len(_polygon._sides.overloads))
"""
    loaded = []
    for kinds in (["zones", "lines"], ["masks"]):
        run = subprocess.run([sys.executable, "-c", code, *kinds], capture_output=True, text=True, timeout=50)
        assert run.returncode == 0, run.stderr
        loaded += run.stdout.strip().split("\n")
    assert loaded == ["zones 1 0", "lines 1 1", "masks 1 0"]
