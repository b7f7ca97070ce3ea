"""Events, snapshots and clips (issue 9): what happened, with a picture and a short video.

- :mod:`~streamer.events.publisher`: a frame's tracks and zone/line events -> records on
  the camera's :class:`~streamer.bus.EventBus` (appear, disappear, enter, exit, cross, loiter);
- :mod:`~streamer.events.file`: ``NAME.events.jsonl``, a bus subscriber;
- :mod:`~streamer.events.snapshots`: JPEGs of the frame and the object (an Output);
- :mod:`~streamer.events.clips`: MP4s cut from the encoded stream around each event;
- :mod:`~streamer.events.retention`: size and age limits per camera;
- :mod:`~streamer.events.camera`: all of it for one camera, built from its settings.

Importing this package is cheap; the parts load when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamer.events.camera import CameraEvents
    from streamer.events.config import EventsConfig, RetainConfig

__all__ = ["CameraEvents", "EventsConfig", "RetainConfig"]

_WHERE = {"CameraEvents": "camera", "EventsConfig": "config", "RetainConfig": "config"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"streamer.events.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
