"""Settings of zones, lines and masks: the per-camera ``zones:``, ``lines:`` and ``masks:`` lists.

Coordinates are pixels of the source picture (``units: px``, the default) or fractions
of its width and height (``units: fraction``, 0-1, which survive a change of resolution).
The unit is said explicitly rather than guessed from the values: a polygon such as
``[[0, 0], [1, 0], [1, 1]]`` is a valid (tiny) pixel polygon and a valid whole-frame
fraction polygon, and a guess would silently pick one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamer.errors import ConfigError, did_you_mean

Anchor = Literal[
    "bottom_center", "center", "top_center", "center_left", "center_right",
    "top_left", "top_right", "bottom_left", "bottom_right",
]
"""The point of a box that must be inside a zone or cross a line. ``bottom_center`` (the
default) is where a person or a vehicle touches the ground, so a zone drawn on the floor
holds the objects standing on it whatever their height."""

Units = Literal["px", "fraction"]

FrameSize = tuple[int, int]
"""(width, height) of the source picture in pixels."""

# Hysteresis band of a line whose config gives no margin: 2% of the shorter side (14 px at
# 720p), wider than the few pixels a detector's box edge jitters between frames.
DEFAULT_MARGIN_FRACTION = 0.02


def _finite_point(point: Sequence[float], what: str) -> tuple[float, float]:
    x, y = point
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{what}: coordinates must be finite numbers, got [{x}, {y}]")
    return float(x), float(y)


def _check_units(points: Sequence[tuple[float, float]], units: str, what: str) -> None:
    """Fractions must lie in [0, 1]; pixel shapes all within [0, 1] are a likely mix-up."""
    if units == "fraction":
        bad = [p for p in points if not (0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0)]
        if bad:
            raise ValueError(f"{what}: with units: fraction every coordinate must be in [0, 1], "
                             f"got [{bad[0][0]:g}, {bad[0][1]:g}] (use units: px for pixels)")
    elif all(0.0 <= v <= 1.0 for p in points for v in p):
        raise ValueError(f"{what}: every coordinate is within [0, 1], a shape of at most one pixel "
                         "(add units: fraction for fractions of the frame)")


def _scale(points: np.ndarray, units: str, frame_size: FrameSize) -> np.ndarray:
    """Points (M, 2) in their units -> pixels (M, 2) float64."""
    if units == "px":
        return points.copy()
    width, height = frame_size
    return points * np.array([width, height], np.float64)


def resolve_classes(classes: Sequence[str] | None, labels: Sequence[str] | None, *, where: str) -> frozenset[int] | None:
    """Class names (or ids written as digits) -> class ids.

    Parameters
    ----------
    classes : sequence of str, or None
        As written in the config; None means every class.
    labels : sequence of str, or None
        The detector's labels; without them only ids are accepted.
    where : str
        Prefix of error messages (e.g. ``"zones.porch.classes"``).

    Returns
    -------
    frozenset of int, or None
        The class ids; None for every class.

    Raises
    ------
    ConfigError
        If a name is not one of ``labels`` (with the closest one) or an id is out of range.
    """
    if classes is None:
        return None
    ids = set()
    names = {name: i for i, name in enumerate(labels or ())}
    for c in classes:
        if c in names:
            ids.add(names[c])
        elif c.isdigit() and (labels is None or int(c) < len(labels)):
            ids.add(int(c))
        else:
            raise ConfigError(f"{where}: unknown class {c!r}" + did_you_mean(c, names))
    return frozenset(ids)


class _Shape(BaseModel):
    """Fields shared by zones, lines and masks."""

    model_config = ConfigDict(extra="forbid")

    units: Units = Field("px", description="px: pixels of the source picture; fraction: 0-1 of its width and height")
    anchor: Anchor = Field("bottom_center", description="the point of a box that counts")


class _Region(_Shape):
    """A polygon (zones and masks)."""

    polygon: list[tuple[float, float]] = Field(description="vertices [x, y] in order, at least 3")

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 3:
            raise ValueError(f"a polygon needs at least 3 points [x, y], got {len(v)}")
        points = [_finite_point(p, f"polygon point {i}") for i, p in enumerate(v)]
        xy = np.array(points)
        # Shoelace area: all points on one line (or all the same) enclose nothing.
        area = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], -1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], -1)))
        if area == 0.0:
            raise ValueError("the polygon encloses no area (its points lie on one line)")
        return points

    @model_validator(mode="after")
    def _units(self) -> _Region:
        _check_units(self.polygon, self.units, "polygon")
        return self

    def pixels(self, frame_size: FrameSize) -> np.ndarray:
        """The polygon in pixels of a ``(width, height)`` picture: (M, 2) float64."""
        return _scale(np.array(self.polygon, np.float64), self.units, frame_size)


class ZoneConfig(_Region):
    """A polygon in which objects are counted, with entries, exits, dwell and loitering.

    Parameters
    ----------
    name : str
        Shown on the overlay and in the JSONL; unique among a camera's zones.
    polygon : list of [x, y]
        At least 3 vertices, in order; in ``units``.
    units : {"px", "fraction"}
        Pixels of the source picture, or fractions 0-1 of its width (x) and height (y).
    classes : list of str, optional
        Count only these class names (or ids); default every class.
    min_seconds : float
        An object counts as entered once its anchor has been inside this long, and as
        exited once it has been outside this long, so a box jittering on the border makes
        no extra entries. Default 0.5 (0: at once).
    loiter_seconds : float, optional
        A ``loiter`` event when an object has stayed this long (once per stay); default off.
    anchor : str
        The point of a box that must be inside (``bottom_center`` by default).
    """

    name: str = Field(min_length=1)
    classes: list[str] | None = None
    min_seconds: float = Field(0.5, ge=0.0, le=3600.0)
    loiter_seconds: float | None = Field(None, gt=0.0)

    @field_validator("classes", mode="before")
    @classmethod
    def _split_classes(cls, v: Any) -> Any:
        return _class_list(v)


class LineConfig(_Shape):
    """A segment whose crossings are counted per direction and class.

    The two sides of the segment are named: standing at ``start`` and facing ``end`` *as
    the picture shows it* (x to the right, y down), ``left`` names the side on your left
    and ``right`` the side on your right. A crossing is counted under the name of the side
    it goes to. For a line across a road from ``[0, 400]`` (left edge) to ``[1280, 400]``
    (right edge), ``right`` is the lower part of the picture (towards the camera) and
    ``left`` the upper part.

    Parameters
    ----------
    name : str
        Shown on the overlay and in the JSONL; unique among a camera's lines.
    start, end : [x, y]
        The segment's end points, in ``units``; they must differ.
    left, right : str
        Names of the crossings into the left and the right side (defaults ``out``, ``in``).
    margin : float, optional
        How far beyond the line (in ``units``; a fraction is of the picture's shorter
        side) the anchor must get to be on a side: the hysteresis band. Default 2% of
        the shorter side.
    classes : list of str, optional
        Count only these class names (or ids); default every class.
    anchor : str
        The point of a box that must cross (``bottom_center`` by default).
    """

    name: str = Field(min_length=1)
    start: tuple[float, float]
    end: tuple[float, float]
    left: str = Field("out", min_length=1)
    right: str = Field("in", min_length=1)
    margin: float | None = Field(None, ge=0.0)
    classes: list[str] | None = None

    @field_validator("classes", mode="before")
    @classmethod
    def _split_classes(cls, v: Any) -> Any:
        return _class_list(v)

    @model_validator(mode="after")
    def _check(self) -> LineConfig:
        start, end = _finite_point(self.start, "start"), _finite_point(self.end, "end")
        if start == end:
            raise ValueError(f"a line needs two distinct points, got start = end = [{start[0]:g}, {start[1]:g}]")
        _check_units([start, end], self.units, "line")
        if self.units == "fraction" and self.margin is not None and self.margin > 0.5:
            raise ValueError(f"margin: with units: fraction it is a fraction of the shorter side, at most 0.5, got {self.margin:g}")
        if self.left == self.right:
            raise ValueError(f"left and right must name the two directions differently, both are {self.left!r}")
        return self

    def pixels(self, frame_size: FrameSize) -> tuple[tuple[float, float], tuple[float, float], float]:
        """``(start, end, margin)`` in pixels of a ``(width, height)`` picture."""
        (x0, y0), (x1, y1) = _scale(np.array([self.start, self.end], np.float64), self.units, frame_size)
        short = min(frame_size)
        if self.margin is None:
            margin = DEFAULT_MARGIN_FRACTION * short
        else:
            margin = self.margin * short if self.units == "fraction" else self.margin
        return (float(x0), float(y0)), (float(x1), float(y1)), float(margin)


class MaskConfig(_Region):
    """A polygon where motion and detections are ignored (trees, a road outside the property).

    Parameters
    ----------
    polygon : list of [x, y]
        At least 3 vertices, in order; in ``units``.
    units : {"px", "fraction"}
        Pixels of the source picture, or fractions 0-1 of its width and height.
    name : str, optional
        For messages and the overlay.
    detections : bool
        Drop detections whose anchor is inside (default true).
    motion : bool
        Clear the motion mask inside (default true).
    anchor : str
        The point of a box that decides whether a detection is inside.
    """

    name: str | None = None
    detections: bool = True
    motion: bool = True


def _class_list(v: Any) -> Any:
    """``"person, car"`` or ``[person, 2]`` -> ``["person", "car"]`` / ``["person", "2"]``."""
    if isinstance(v, str):
        return [c.strip() for c in v.split(",") if c.strip()]
    if isinstance(v, list):
        return [str(c) for c in v]
    return v
