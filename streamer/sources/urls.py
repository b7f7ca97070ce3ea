"""Source addresses: what kind a string names, and how to show it without its password."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")


def mask_credentials(text: str) -> str:
    """Replace the password of every URL in ``text`` with ``***`` (user names stay).

    Works on whole messages too, so FFmpeg errors that echo the URL are safe to show.
    """
    return re.sub(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@",
                  lambda m: f"{m['scheme']}{m['user']}:***@", text)


def is_device(uri: str) -> bool:
    """A V4L2 webcam: ``/dev/videoN`` or a bare index such as ``0``."""
    return uri.isdigit() or uri.startswith("/dev/video")


def is_live(uri: str) -> bool:
    """True for network streams and cameras; False for files (``file://`` included)."""
    if is_device(uri):
        return True
    scheme = urlsplit(uri).scheme.lower()
    return scheme in LIVE_SCHEMES


def device_path(uri: str) -> str:
    return f"/dev/video{uri}" if uri.isdigit() else uri


def source_name(uri: str) -> str:
    """A short, file-name-safe name for outputs and logs (no credentials)."""
    if is_device(uri):
        return "video" + device_path(uri).removeprefix("/dev/video")
    parts = urlsplit(uri)
    if parts.scheme and parts.netloc:
        host = parts.hostname or "stream"
        tail = parts.path.strip("/").replace("/", "_")
        raw = f"{host}_{parts.port}_{tail}" if parts.port else f"{host}_{tail}"
    else:
        raw = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("_") or "stream"


def without_credentials(uri: str) -> str:
    """The URL with user and password removed (for JSONL and status lines)."""
    parts = urlsplit(uri)
    if not parts.username and not parts.password:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
