"""Translate PyAV/FFmpeg errors and bad paths into one-line :class:`SourceError` messages."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import av

from streamer.errors import SourceError


def check_path(path: Path) -> int:
    """Fail early, with the reason, on paths FFmpeg would only call "invalid data"; return the size."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: permission denied")
    size = path.stat().st_size
    if size == 0:
        raise SourceError(f"{path}: file is empty (0 bytes)")
    return size


def diagnose(path: Path) -> str | None:
    """What is wrong with a file FFmpeg rejected as invalid data, when the file shows it.

    FFmpeg's own explanation only reaches Python through PyAV's log callback, which
    streamer keeps off (see :mod:`streamer.sources.avlog`), so the common case is
    recognised here: an MP4/MOV (ISO BMFF) whose top-level boxes end without the
    ``moov`` index, as an interrupted recording or a cut download leaves it.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 8 or head[4:8] != b"ftyp":
                return None
            end = os.fstat(f.fileno()).st_size
            at = 0
            while at + 8 <= end:
                f.seek(at)
                header = f.read(16)
                size, kind = struct.unpack(">I4s", header[:8])
                if kind == b"moov":
                    return None
                if size == 1 and len(header) == 16:
                    size = struct.unpack(">Q", header[8:16])[0]
                elif size == 0:  # the box runs to the end of the file
                    break
                if size < 8:
                    return "corrupt MP4 box structure"
                at += size
    except OSError:
        return None
    return "truncated or unfinished MP4: moov atom not found (an interrupted recording or copy?)"


def translate(uri: str, exc: BaseException, *, when: str = "opening") -> SourceError:
    """A :class:`SourceError` naming ``uri`` and what FFmpeg said went wrong."""
    if isinstance(exc, av.error.InvalidDataError):
        reason = (diagnose(Path(uri)) if when == "opening" else None) or \
            "not a media file FFmpeg can read, or it is truncated or corrupt"
    elif isinstance(exc, av.error.FFmpegError):
        reason = exc.strerror or type(exc).__name__
    else:
        reason = str(exc) or type(exc).__name__
    return SourceError(f"{uri}: {reason} while {when}")
