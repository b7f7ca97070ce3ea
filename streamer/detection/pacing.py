"""How often each camera's frames go to a shared detector: intervals that fit its capacity.

A live camera's frames keep coming whether the detector keeps up or not. When all cameras
together ask for more detections per second than the detector does, each camera's
*detection interval* grows (detect every 2nd, 3rd, ... frame; the frames between keep the
tracker's predicted or the last boxes), so decoding and the outputs keep the full frame rate
and no frame waits long enough to be dropped. When the load falls the intervals come back.

:func:`allocate` is the rule: the smallest intervals whose detections per second fit a
share of the capacity, each camera allowed the same detections per second per unit of
priority (weighted max-min fairness): cameras alike always get the same interval.
:class:`IntervalController` adds hysteresis: intervals grow at once when demand passes
``grow_at`` of the capacity, and shrink one step at a time, no sooner than ``hold`` seconds
after the last change, only while demand at the smaller interval stays under ``shrink_at``.
Between the two the intervals hold, so a capacity estimate that wobbles by a few percent
never makes them oscillate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Demand above this share of the measured capacity makes intervals grow. Under it a queue of
#: requests stays short: on 2 cores at 0.85 the 4-camera bench kept frame age p95 within budget.
GROW_AT = 0.85
#: An interval shrinks only while the demand it would add stays under this share.
SHRINK_AT = 0.65
#: Seconds an interval holds after a change before it may shrink.
HOLD_S = 2.0


@dataclass(frozen=True)
class Demand:
    """One camera's request on the detector.

    Attributes
    ----------
    name : str
    fps : float
        Frames per second the camera delivers.
    priority : float
        Weight against the other cameras (> 0): twice the priority, twice the detections
        per frame before it gives way.
    base : int
        Its own ``detect_every``: the interval when there is room.
    largest : int
        The largest interval it may be given (``detect_every_max``, at least ``base``).
    """

    name: str
    fps: float
    priority: float = 1.0
    base: int = 1
    largest: int = 8


def rate(demands: Iterable[Demand], intervals: dict[str, int]) -> float:
    """Detections per second the cameras ask for at ``intervals``."""
    return sum(d.fps / intervals[d.name] for d in demands)


def _at_level(demands: Sequence[Demand], level: float) -> dict[str, int]:
    """Each camera's interval when it may have ``level * priority`` detections per second."""
    return {d.name: min(max(math.ceil(d.fps / (level * d.priority) - 1e-9), d.base), max(d.base, d.largest))
            for d in demands}


def allocate(demands: Sequence[Demand], capacity: float, share: float = 1.0) -> dict[str, int]:
    """The smallest intervals whose detections per second fit ``share * capacity``, fairly.

    Every camera may have up to ``level * priority`` detections per second, and ``level`` is
    the highest that fits (max-min fairness, weighted): cameras alike get the same interval,
    one with twice the priority about twice the detections, and a camera that asks for
    less than its share (a low frame rate) leaves the rest to the others.

    Parameters
    ----------
    demands : sequence of Demand
    capacity : float
        Detections per second the detector does.
    share : float
        Part of ``capacity`` to fill.

    Returns
    -------
    dict of str to int
        Interval per camera, within ``[base, largest]``; at ``largest`` everywhere when
        even that does not fit (see :func:`admission`).

    Examples
    --------
    >>> cams = [Demand("a", 15.0), Demand("b", 15.0), Demand("c", 15.0, priority=2.0)]
    >>> allocate(cams, capacity=30.0)
    {'a': 2, 'b': 2, 'c': 1}
    >>> allocate([Demand("a", 15.0), Demand("b", 15.0), Demand("slow", 2.0)], capacity=20.0)
    {'a': 2, 'b': 2, 'slow': 1}
    """
    budget = share * capacity
    base = {d.name: d.base for d in demands}
    if rate(demands, base) <= budget:
        return base
    # The interval of each camera changes only at these levels; a higher level never asks
    # for fewer detections, so the highest level that fits is found by bisection.
    levels = sorted({d.fps / (k * d.priority) for d in demands for k in range(d.base, max(d.base, d.largest) + 1)})
    lo, hi = 0, len(levels) - 1
    if rate(demands, _at_level(demands, levels[0])) > budget:
        return _at_level(demands, levels[0])
    while lo < hi:  # invariant: levels[lo] fits
        mid = (lo + hi + 1) // 2
        if rate(demands, _at_level(demands, levels[mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return _at_level(demands, levels[lo])


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ... ``11th``, ``12th``, ``13th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def admission(demands: Sequence[Demand], capacity: float, ms_per_frame: float, workers: int) -> str | None:
    """A warning when even the largest intervals ask more than ``capacity``; None when they fit.

    Parameters
    ----------
    demands : sequence of Demand
    capacity : float
        Detections per second the detector does (``workers * 1000 / ms_per_frame``).
    ms_per_frame, workers : float, int
        What the capacity was measured from, for the message.
    """
    if not demands:
        return None
    largest = {d.name: max(d.base, d.largest) for d in demands}
    least = rate(demands, largest)
    if least <= capacity:
        return None
    fps = sum(d.fps for d in demands)
    spread = sorted(set(largest.values()))
    every = f"every {ordinal(spread[0])} frame" + ("" if len(spread) == 1 else f" to every {ordinal(spread[-1])}")
    return (f"{len(demands)} camera{'s' if len(demands) > 1 else ''} at {fps:.1f} frames/s in all need "
            f"{least:.1f} detections/s even at the largest interval ({every}), but the detector does about "
            f"{capacity:.1f}/s here ({ms_per_frame:.1f} ms per frame, {workers} worker{'s' if workers > 1 else ''}): "
            f"frames will be dropped; use fewer cameras, a larger detect_every_max, a smaller model or a GPU")


class IntervalController:
    """Intervals per camera that follow the load with hysteresis (see the module docstring).

    Parameters
    ----------
    grow_at, shrink_at : float
        Shares of capacity (``shrink_at < grow_at``).
    hold : float
        Seconds an interval stays after a change before it may shrink.
    """

    def __init__(self, *, grow_at: float = GROW_AT, shrink_at: float = SHRINK_AT, hold: float = HOLD_S) -> None:
        if not 0.0 < shrink_at < grow_at:
            raise ValueError(f"need 0 < shrink_at < grow_at, got {shrink_at}, {grow_at}")
        self.grow_at, self.shrink_at, self.hold = grow_at, shrink_at, hold
        self.intervals: dict[str, int] = {}
        self._changed: dict[str, float] = {}

    def update(self, demands: Sequence[Demand], capacity: float, now: float) -> dict[str, int]:
        """New intervals for ``demands`` (cameras not listed keep theirs until :meth:`forget`).

        Parameters
        ----------
        demands : sequence of Demand
            The cameras whose interval follows the load (whose frame rate is known now).
        capacity : float
            Detections per second the detector does for them.
        now : float
            A monotonic clock, seconds.
        """
        up = allocate(demands, capacity, self.grow_at)
        down = allocate(demands, capacity, self.shrink_at)
        new: dict[str, int] = {}
        for d in demands:
            current = min(max(self.intervals.get(d.name, d.base), d.base), max(d.base, d.largest))
            if up[d.name] > current:
                current = up[d.name]  # overload: grow at once
                self._changed[d.name] = now
            elif down[d.name] < current and now - self._changed.get(d.name, -float("inf")) >= self.hold:
                current -= 1  # room: come back one step at a time
                self._changed[d.name] = now
            new[d.name] = current
        self.intervals.update(new)
        return dict(new)

    def forget(self, name: str) -> None:
        """A camera left: its interval is not kept."""
        self.intervals.pop(name, None)
        self._changed.pop(name, None)
