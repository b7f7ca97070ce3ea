"""Translate PyAV/FFmpeg errors and bad paths into one-line :class:`SourceError` messages."""

from __future__ import annotations

import os
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


def translate(uri: str, exc: BaseException, *, when: str = "opening") -> SourceError:
    """A :class:`SourceError` naming ``uri`` and what FFmpeg said went wrong."""
    if isinstance(exc, av.error.InvalidDataError):
        reason = "not a media file FFmpeg can read, or it is truncated or corrupt"
    elif isinstance(exc, av.error.FFmpegError):
        reason = exc.strerror or type(exc).__name__
    else:
        reason = str(exc) or type(exc).__name__
    detail = getattr(exc, "log", None)
    # FFmpeg's own log line (e.g. "moov atom not found") tells a truncated mp4 apart.
    if detail and isinstance(detail, tuple) and len(detail) >= 3 and detail[2]:
        reason += f" ({str(detail[2]).strip()})"
    return SourceError(f"{uri}: {reason} while {when}")
