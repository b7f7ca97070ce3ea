"""What zones and lines report: one small record per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EventKind = Literal["enter", "exit", "cross", "loiter"]


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    """An entry into or exit from a zone, a loiter, or a line crossing.

    Attributes
    ----------
    kind : {"enter", "exit", "loiter", "cross"}
        What happened; ``cross`` comes from lines, the others from zones.
    time : float
        Seconds, the frame time of the update that decided it (an entry is decided
        ``min_seconds`` after the object first stood inside).
    name : str
        The zone's or the line's name.
    track_id : int
        The tracker's id of the object.
    class_id : int
        Its class on the deciding frame (the last one seen, for an exit).
    label : str or None
        The class name, when the detections carried labels.
    direction : str or None
        For ``cross``: the name of the side the object went to (e.g. ``in``).
    dwell : float or None
        For ``exit`` and ``loiter``: seconds from the first frame seen inside to the last
        (an exit) or to now (a loiter).
    """

    kind: EventKind
    time: float
    name: str
    track_id: int
    class_id: int
    label: str | None = None
    direction: str | None = None
    dwell: float | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"event": kind, "time", "zone" or "line", "track_id",
        "class_id", "label"}`` plus ``"direction"`` or ``"dwell"`` (seconds, 3 decimals)
        when set."""
        record: dict[str, Any] = {
            "event": self.kind,
            "time": round(self.time, 6),
            "line" if self.kind == "cross" else "zone": self.name,
            "track_id": self.track_id,
            "class_id": self.class_id,
            "label": self.label,
        }
        if self.direction is not None:
            record["direction"] = self.direction
        if self.dwell is not None:
            record["dwell"] = round(self.dwell, 3)
        return record
