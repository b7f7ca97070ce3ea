"""Where frames come from. Sources know nothing of detection or outputs."""

from __future__ import annotations

from pathlib import Path

from streamer.sources.file import FileSource, read_image
from streamer.sources.info import SourceInfo, StreamInfo

__all__ = ["FileSource", "SourceInfo", "StreamInfo", "probe", "read_image"]


def probe(uri: str | Path) -> SourceInfo:
    """Open ``uri``, describe what it holds, close it."""
    with FileSource(uri) as src:
        assert src.info is not None
        return src.info
