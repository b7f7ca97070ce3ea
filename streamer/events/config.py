"""Settings of events, snapshots and clips: the per-camera ``events:`` block.

In the YAML (every key optional; ``events: true`` takes the defaults)::

    events:
      snapshots: true          # a JPEG of the frame (object highlighted) and a crop, per event
      clips: true              # an MP4 per event, merged while events overlap
      pre_roll: 5s             # the clip starts this long before the event (at a key frame)
      post_roll: 5s            # ...and ends this long after the object left
      max_clip: 60s            # no clip is longer
      retain: {max_bytes: 2GB, max_age: 7d}   # per camera; oldest files deleted first
      kinds: [enter, exit, cross, loiter, appear, disappear, source]
      dir: /var/lib/streamer   # snapshots and clips in DIR/CAMERA/ [beside the outputs: NAME.events/]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamer.errors import did_you_mean
from streamer.units import duration, parse_size

#: Every kind of record the events file can hold (``start`` is always written).
KINDS = ("enter", "exit", "cross", "loiter", "appear", "disappear", "source", "output")
#: Kinds that concern one tracked object: they get a snapshot (when the object is in the
#: frame) and a clip.
OBJECT_KINDS = frozenset({"enter", "exit", "cross", "loiter", "appear"})

class RetainConfig(BaseModel):
    """How much of its own snapshots and clips a camera keeps (oldest deleted first).

    Parameters
    ----------
    max_bytes : int
        Total size of the camera's snapshots and clips (default 2 GB); accepts ``"500MB"``.
    max_age : float
        Seconds (default 7 days); accepts ``"12h"``, ``"7d"``.
    """

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(2 * 10**9, ge=1)
    max_age: float = Field(7 * 86400.0, gt=0.0)

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return parse_size(v)

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, v: Any) -> Any:
        return duration(v)


class EventsConfig(BaseModel):
    """A camera's events file, snapshots and clips (see the module docstring).

    Parameters
    ----------
    snapshots : bool
        Per event of an object in the frame: a JPEG of the annotated frame with the
        object's box highlighted, and a crop of the object.
    clips : bool
        Per event: an MP4 from ``pre_roll`` before it to ``post_roll`` after the object
        left (``max_clip`` at most); events that overlap share one clip.
    pre_roll, post_roll, max_clip : float
        Seconds; accept ``"5s"``.
    retain : RetainConfig
    kinds : list of str, optional
        The kinds recorded (default all); a ``start`` record is always written.
    dir : Path, optional
        Snapshots and clips go into ``dir/CAMERA/`` (default ``NAME.events/`` beside the
        other outputs).
    """

    model_config = ConfigDict(extra="forbid")

    snapshots: bool = True
    clips: bool = True
    pre_roll: float = Field(5.0, ge=0.0, le=300.0)
    post_roll: float = Field(5.0, ge=0.0, le=600.0)
    max_clip: float = Field(60.0, gt=0.0, le=3600.0)
    retain: RetainConfig = Field(default_factory=RetainConfig)
    kinds: list[str] | None = None
    dir: Path | None = None

    @field_validator("pre_roll", "post_roll", "max_clip", mode="before")
    @classmethod
    def _seconds(cls, v: Any) -> Any:
        return duration(v)

    @field_validator("kinds", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return [k.strip() for k in v.split(",") if k.strip()] if isinstance(v, str) else v

    @field_validator("kinds")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        for kind in v or ():
            if kind not in KINDS:
                raise ValueError(f"unknown event kind {kind!r}{did_you_mean(kind, KINDS)} (one of {', '.join(KINDS)})")
        return v

    @model_validator(mode="after")
    def _lengths(self) -> EventsConfig:
        if self.max_clip <= self.pre_roll:
            raise ValueError(f"max_clip ({self.max_clip:g} s) must be longer than pre_roll ({self.pre_roll:g} s)")
        if not all(math.isfinite(v) for v in (self.pre_roll, self.post_roll, self.max_clip)):
            raise ValueError("pre_roll, post_roll and max_clip must be finite")
        return self

    def wants(self, kind: str) -> bool:
        """Whether records of ``kind`` are recorded (``start`` always is)."""
        return kind == "start" or self.kinds is None or kind in self.kinds


def events_setting(value: Any) -> Any:
    """The ``events`` key: ``true`` -> defaults, ``false``/``null`` -> off, a mapping -> on."""
    if value is True:
        return EventsConfig()
    if value is False:
        return None
    return value


def with_flags(events: EventsConfig | None, *, on: bool | None = None, snapshots: bool | None = None,
               clips: bool | None = None) -> EventsConfig | None:
    """A camera's events after the command line's ``--events/--no-events``,
    ``--snapshots/--no-snapshots`` and ``--clips/--no-clips`` (None: not given).

    ``--snapshots`` or ``--clips`` turn events on; ``--no-events`` wins over both.
    """
    if on is False:
        return None
    if events is None and not (on or snapshots or clips):
        return events
    update = {k: v for k, v in (("snapshots", snapshots), ("clips", clips)) if v is not None}
    return (events or EventsConfig()).model_copy(update=update)
