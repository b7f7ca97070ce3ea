"""The child process of a publisher: mux the packets it is given to one target (stdin -> FFmpeg).

Run by :mod:`streamer.outputs.publish` with the same Python, never imported by the package:
it imports only PyAV and the standard library, so it starts in ~0.3 s. Why a process: PyAV
opens an output (``avformat_write_header``: the TCP connect, the RTMP handshake, RTSP's
ANNOUNCE) while holding the GIL, so a target that accepts a connection and never answers
froze every thread of the run (measured: a listening socket that never reads stopped the
whole pipeline until the test's 90 s guard). In a child, such a call blocks only the child,
which the publisher kills when it makes no progress.

Protocol. Stdin: a JSON line ``{"url", "format", "options"}``; a 4-byte length and a NUT file
holding the streams to create (their codec parameters) and one packet; then records of
``struct REC`` (kind 0 video / 1 audio / 255 end, key flag, pts, dts, time base, size) each
followed by ``size`` bytes. Stdout, one line each: ``OPEN`` once the output is open (header
written), ``N <video packets muxed>`` (at most every 0.2 s), ``ERR <1 permanent|0> <reason>``
before exiting 1, ``END`` after a clean close. The end of stdin (the run died) ends it too.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import time
from fractions import Fraction

import av

REC = struct.Struct("<BBqqIII")
END = 255


def _reason(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, av.error.FFmpegError) and exc.strerror else str(exc)
    text = " ".join((text or type(exc).__name__).split())
    return text[:1].lower() + text[1:]


def _permanent(exc: BaseException) -> str | None:
    """Why ``exc`` cannot be fixed by retrying, or None."""
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return "unauthorized (401): wrong or missing credentials"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return "forbidden (403): not allowed to publish there"
    if isinstance(exc, av.error.HTTPClientError):
        return f"rejected by the server ({_reason(exc)})"
    if isinstance(exc, (av.error.ProtocolNotFoundError, av.error.MuxerNotFoundError)):
        return f"unsupported: {_reason(exc)}"
    return None


def _read(stream: io.BufferedReader, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    stdin = sys.stdin.buffer
    target = json.loads(stdin.readline())
    (size,) = struct.unpack("<I", _read(stdin, 4))
    description = av.open(io.BytesIO(_read(stdin, size)), "r", format="nut")
    container = None
    try:
        container = av.open(target["url"], "w", format=target["format"], options=target["options"])
        try:
            streams = [container.add_stream_from_template(s) for s in description.streams]
        except ValueError as exc:  # the container cannot hold these codecs
            _say(f"ERR 1 unsupported: {_reason(exc)}")
            return 1
        video = next(i for i, s in enumerate(description.streams) if s.type == "video")
        audio = next((i for i, s in enumerate(description.streams) if s.type == "audio"), None)
        opened = False
        sent, said = 0, 0.0
        while True:
            try:
                kind, key, pts, dts, num, den, size = REC.unpack(_read(stdin, REC.size))
            except EOFError:
                break
            if kind == END:
                break
            data = _read(stdin, size)
            index = video if kind == 0 else audio
            if index is None:
                continue
            packet = av.Packet(data)
            packet.pts, packet.dts, packet.time_base = pts, dts, Fraction(num, den)
            packet.is_keyframe = bool(key)
            packet.stream = streams[index]
            container.mux(packet)
            if not opened:
                opened = True
                _say("OPEN")
            if kind == 0:
                sent += 1
                now = time.monotonic()
                if now - said >= 0.2:
                    said = now
                    _say(f"N {sent}")
        container.close()
        container = None
        _say(f"N {sent}")
        _say("END")
        return 0
    except Exception as exc:  # noqa: BLE001 - told to the publisher, which decides
        permanent = _permanent(exc)
        _say(f"ERR {int(permanent is not None)} {permanent or _reason(exc)}")
        return 1
    finally:
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001, S110 - the error was already told
                pass


if __name__ == "__main__":
    sys.exit(main())
