"""Source addresses: what kind a string names, and how to show it without its password."""

from __future__ import annotations

import os
import re
from pathlib import Path
import stat
from urllib.parse import urlsplit, urlunsplit

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
#: The source name that means standard input (``streamer run - < clip.ts``).
STDIN = "-"
#: Linux's character-device major number of every V4L2 node (``VIDEO_MAJOR`` in the kernel's
#: ``include/uapi/linux/major.h``): webcams, capture cards, v4l2loopback.
V4L2_MAJOR = 81


def mask_credentials(text: str) -> str:
    """Replace the password of every URL in ``text`` with ``***`` (user names stay).

    Works on whole messages too, so FFmpeg errors that echo the URL are safe to show.
    """
    return re.sub(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@",
                  lambda m: f"{m['scheme']}{m['user']}:***@", text)


def is_device(uri: str) -> bool:
    """A V4L2 webcam: ``/dev/videoN`` (present or not), a bare index such as ``0``, or any other
    path to a V4L2 node (``/dev/v4l/by-id/...-video-index0`` links to one)."""
    return uri.isdigit() or uri.startswith("/dev/video") or (uri.startswith("/dev/") and is_v4l2_node(uri))


def is_v4l2_node(path: str) -> bool:
    """True when ``path`` (links followed) is a V4L2 character device."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == V4L2_MAJOR


def is_pipe(uri: str) -> bool:
    """Standard input (``-``) or a named pipe (FIFO): a stream read once, front to back."""
    if uri == STDIN:
        return True
    try:
        return stat.S_ISFIFO(os.stat(uri).st_mode)
    except (OSError, ValueError):
        return False


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
    if uri == STDIN:
        return "stdin"
    if uri.isdigit() or uri.startswith("/dev/video"):
        return "video" + device_path(uri).removeprefix("/dev/video")
    parts = urlsplit(uri)
    if parts.scheme and parts.netloc:
        host = parts.hostname or "stream"
        tail = parts.path.strip("/").replace("/", "_")
        raw = f"{host}_{parts.port}_{tail}" if parts.port else f"{host}_{tail}"
    else:
        raw = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("_") or "stream"


def output_stem(uri: str) -> str:
    """The name a source's outputs and logs take: a file's stem, else :func:`source_name`."""
    if uri == STDIN or is_live(uri):
        return source_name(uri)
    return Path(uri).stem


def without_credentials(uri: str) -> str:
    """The URL with user and password removed (for JSONL and status lines)."""
    parts = urlsplit(uri)
    if not parts.username and not parts.password:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
