"""Where frames come from. Sources know nothing of detection or outputs."""

from __future__ import annotations

from pathlib import Path

from streamer.sources.file import FileSource, read_image
from streamer.sources.info import SourceInfo, StreamInfo
from streamer.sources.live import LiveSource
from streamer.sources.urls import is_live

__all__ = ["FileSource", "SourceInfo", "StreamInfo", "probe", "read_image"]


def probe(uri: str | Path, *, timeout: float = 10.0) -> SourceInfo:
    """Open ``uri`` (a file, a stream URL or a webcam), describe what it holds, close it.

    Raises
    ------
    SourceError
        Naming the source (password masked) and what went wrong.
    """
    text = str(uri)
    if is_live(text):
        return LiveSource(text, open_timeout=timeout, stall_timeout=timeout).probe()
    with FileSource(uri) as src:
        assert src.info is not None
        return src.info
