"""Translate PyAV/FFmpeg errors and bad paths into one-line :class:`SourceError` messages.

Also says, in words, why a connection to a camera failed (:func:`connect_failure`) and
what is wrong with a webcam path (:func:`device_problem`). FFmpeg's own explanation of a
failure only reaches Python through PyAV's log callback, which streamer keeps off (see
:mod:`streamer.sources.avlog`), so these look for themselves where the error code alone
is ambiguous.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct
from pathlib import Path
from urllib.parse import urlsplit

import av

from streamer.errors import SourceError
from streamer.sources.urls import STDIN, V4L2_MAJOR, mask_credentials

#: TCP ports FFmpeg connects to when a URL names none.
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935, "rtmps": 443}
#: The longest the check behind an ambiguous connection error may take (seconds).
PROBE_TIMEOUT = 3.0
#: An FFmpeg failure that took at least this share of its timeout ran into that timeout: FFmpeg
#: reports a silent RTSP server as "Invalid data found" exactly at the open timeout (measured
#: 2.00 s for a 2 s timeout, a listening socket that never answers).
TIMED_OUT_SHARE = 0.9

#: Containers FFmpeg reads front to back without seeking (what a pipe can carry).
PIPE_FORMATS = "MPEG-TS, Matroska/WebM, FLV, MJPEG, raw H.264/HEVC, y4m and NUT"
MOV_FROM_PIPE = ("an MP4/MOV read from a pipe needs its index (moov) before the data, and this one has it "
                 "after: remux it with the index first (ffmpeg -i IN -c copy -movflags +faststart OUT.mp4) "
                 "or pipe MPEG-TS (ffmpeg -i IN -c copy -f mpegts -)")


def _kind(st: os.stat_result) -> str:
    """What a stat result describes, in words."""
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return f"a character device ({os.major(st.st_rdev)}:{os.minor(st.st_rdev)})"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_stdin() -> None:
    """Standard input must be open and not a terminal to be read as a stream."""
    try:
        st = os.fstat(0)
    except OSError:
        raise SourceError("stdin: not open (nothing is piped in)") from None
    if os.isatty(0):
        raise SourceError("stdin: is a terminal; pipe a video stream into it "
                          "(e.g. ffmpeg -i IN -c copy -f mpegts - | streamer run -)")
    if stat.S_ISDIR(st.st_mode):
        raise SourceError("stdin: is a directory")


def check_path(path: Path) -> int | None:
    """Fail early, with the reason, on paths FFmpeg would only call "invalid data".

    Returns the size in bytes, or None for a named pipe or standard input (``-``), which are
    read as streams (no size, no seeking).
    """
    if str(path) == STDIN:
        check_stdin()
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: {_lower(exc.strerror or type(exc).__name__)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(f"{path}: is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: permission denied")
    if stat.S_ISFIFO(st.st_mode):
        return None
    if not stat.S_ISREG(st.st_mode):
        # /dev/urandom, /dev/null, a disk...: their size reads 0 and FFmpeg would say "invalid data".
        raise SourceError(f"{path}: is {_kind(st)}, not a video file"
                          + (" or a V4L2 video device" if stat.S_ISCHR(st.st_mode) else ""))
    if st.st_size == 0:
        raise SourceError(f"{path}: file is empty (0 bytes)")
    return st.st_size


def device_problem(path: str, exc: BaseException | None = None) -> str | None:
    """What is wrong with a webcam path, or with opening it (``exc``); None when nothing is seen.

    Linux numbers every V4L2 node with major :data:`~streamer.sources.urls.V4L2_MAJOR`, so a
    path that exists but is a regular file, ``/dev/null`` or a serial port is told apart from a
    webcam without opening it.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such device"
    except OSError as err:
        return _lower(err.strerror or type(err).__name__)
    if not stat.S_ISCHR(st.st_mode) or os.major(st.st_rdev) != V4L2_MAJOR:
        return f"not a video device (it is {_kind(st)}; V4L2 devices are character devices {V4L2_MAJOR}:N)"
    if not os.access(path, os.R_OK | os.W_OK):
        return "permission denied (is this user in the 'video' group?)"
    code = getattr(exc, "errno", None)
    if code in (errno.ENOTTY, errno.EINVAL, errno.ENODEV, errno.ENXIO):
        return "not a video capture device (a V4L2 node without a capture interface, e.g. metadata?)"
    return None


def connect_failure(uri: str, exc: BaseException, *, elapsed: float, timeout: float) -> str:
    """Why connecting to the network source ``uri`` failed, in words (password masked).

    ``elapsed`` is how long the attempt took and ``timeout`` its limit: FFmpeg reports a
    server that accepts the connection and never answers as "Invalid data found" (RTSP) or
    "Immediate exit requested" (HTTP), at the timeout. Other ambiguous errors (invalid data
    before the timeout, FFmpeg's bare "Input/output error" for an unknown host) are checked
    by resolving the host and connecting to its port, which tells an unknown host, a refused
    or unreachable port and a server that answers in a protocol FFmpeg cannot read apart.
    """
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listening at that address and port)"
    ambiguous = isinstance(exc, (av.error.InvalidDataError, av.error.ExitError, TimeoutError, av.error.EOFError)) \
        or getattr(exc, "errno", None) == errno.EIO
    if ambiguous and elapsed >= TIMED_OUT_SHARE * timeout:
        return f"timed out after {timeout:g} s (no answer from the server)"
    if ambiguous and urlsplit(uri).hostname:
        found = _probe_network(uri, min(timeout, PROBE_TIMEOUT))
        if found is not None:
            return found
        # Measured on 127.0.0.1: a server that closes the connection at once gives "Invalid data"
        # (RTSP) or "End of file" (HTTP); an HTTP server sending a web page "Input/output error".
        return ("connected, but got no stream FFmpeg can read (the server closed the connection, "
                "or it speaks another protocol: wrong port or path?)")
    return error_text(exc)


def error_text(exc: BaseException) -> str:
    """FFmpeg's (or Python's) words for ``exc``, as the middle of a sentence, password masked."""
    text = exc.strerror if isinstance(exc, av.error.FFmpegError) and exc.strerror else str(exc)
    return mask_credentials(_lower(text or type(exc).__name__))


def _probe_network(uri: str, timeout: float) -> str | None:
    """Resolve ``uri``'s host and connect to its TCP port; what went wrong, or None if it worked."""
    parts = urlsplit(uri)
    host = parts.hostname
    if not host:
        return None
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return "invalid port in the URL"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        return f"unknown host {host!r} ({_lower(err.strerror or 'cannot resolve')})"
    if port is None:  # UDP-based (udp://, srt://): nothing to connect to
        return None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except ConnectionRefusedError:
        return "connection refused (nothing listening at that address and port)"
    except TimeoutError:
        return f"timed out after {timeout:g} s (no answer from {host} port {port})"
    except OSError as err:
        return _lower(err.strerror or type(err).__name__)
    return None


def _lower(text: str) -> str:
    """An error text as the middle of a sentence: "Connection refused" -> "connection refused"."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def diagnose(path: Path) -> str | None:
    """What is wrong with a file FFmpeg rejected as invalid data, when the file shows it.

    FFmpeg's own explanation only reaches Python through PyAV's log callback, which
    streamer keeps off (see :mod:`streamer.sources.avlog`), so the common case is
    recognised here: an MP4/MOV (ISO BMFF) whose top-level boxes end without the
    ``moov`` index, as an interrupted recording or a cut download leaves it. Only regular
    files are looked at (opening a named pipe again would wait for a writer).
    """
    if not path.is_file():
        return None
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


def translate(uri: str, exc: BaseException, *, when: str = "opening", pipe: str | None = None) -> SourceError:
    """A :class:`SourceError` naming ``uri`` and what FFmpeg said went wrong.

    ``pipe`` is set for a pipe or standard input: the demuxer's name once it is known (the
    empty string before), since what a pipe can carry differs from what a file can.
    """
    if isinstance(exc, av.error.InvalidDataError) and pipe is not None:
        return SourceError(f"{uri}: " + (MOV_FROM_PIPE if "mp4" in pipe.split(",") else
                                         f"not a video stream FFmpeg can read from a pipe ({PIPE_FORMATS} can be)"))
    if isinstance(exc, av.error.InvalidDataError):
        reason = (diagnose(Path(uri)) if when == "opening" else None) or \
            "not a media file FFmpeg can read, or it is truncated or corrupt"
    elif isinstance(exc, av.error.FFmpegError):
        reason = exc.strerror or type(exc).__name__
    else:
        reason = str(exc) or type(exc).__name__
    return SourceError(f"{uri}: {reason} while {when}")
