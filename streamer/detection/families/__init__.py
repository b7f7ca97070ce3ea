"""Output decoders, one module per detector family (see :mod:`.layout` for the interface)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from streamer.detection.families import centerface, fastestdet, nanodet, ultralytics, yolox
from streamer.detection.families.layout import Family

#: Family modules by card ``family`` value (read-only).  Order does not matter:
#: recognising a graph demands exactly one matching family.
FAMILIES: Mapping[str, Family] = MappingProxyType(
    {m.FAMILY: m for m in (ultralytics, yolox, nanodet, fastestdet, centerface)}  # type: ignore[misc]
)

__all__ = ["FAMILIES", "Family"]
