"""The old name of :mod:`streamer.fleet`: ``MultiRunner`` is :class:`streamer.fleet.Fleet`."""

from __future__ import annotations

from streamer.fleet import CameraResult, Fleet

MultiRunner = Fleet

__all__ = ["CameraResult", "MultiRunner"]
